"""The demo firm's statements: its branding, and the demo investor's household's statements and
performance report for the quarter to date, generated here in-process (as a worker would), so the
investor finds them under *Statements* and the advisor on the batches page after `make run`.

Called by `seed_demo` after the other apps' seeders, in the same transaction.
"""

from __future__ import annotations

from typing import Any

from accounts.models import Household
from accounts.services import firm_today
from reports import services
from reports.models import FirmBranding

DISCLOSURES = (
    "Kronos Demo Advisors is a fictitious registered investment adviser; this statement is demo data.\n\n"
    "Past performance does not guarantee future results. Values are at the closing prices of the "
    "statement date; time-weighted returns exclude the effect of deposits and withdrawals."
)


def seed(demo: Any) -> None:
    FirmBranding.objects.create(
        firm=demo.firm, display_name=demo.firm.name, accent_color="#1f4e79", disclosures=DISCLOSURES
    )
    household = Household.objects.filter(members__investor__user=demo.investor_user).first()
    if household is None or demo.advisor is None:
        return
    batch = services.batch_start(
        firm=demo.firm, period_end=firm_today(demo.firm), acting_user=demo.advisor.user, advisor=demo.advisor
    )
    for statement in batch.statements.filter(household=household):
        services.statement_generate(statement_id=statement.pk)
