"""The demo firm's operations data: fee schedules assigned to its households, and completed job
runs, so the operations pages (/ops/) have something real to show after `make run`.

Called by `seed_demo` after the other apps' seeders, in the same transaction. The runs are the
real stages run here in-process, as a worker would run them (the framework's own rows, one run
per job and business date); no Celery task is queued and no outside system is called: only the
stages that need none (valuations, settlement) are run.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.services import system_user
from operations import jobs, services
from operations.engine.calendar import previous_trading_day
from operations.models import FeeSchedule, JobRun
from portfolios.models import CashBalance, InvestmentAccount

#: Households whose accounts together hold more than this are billed on the tiered schedule.
TIERED_FROM = Decimal("250000")
#: The stages run for the demo's last business day: both need nothing outside the database.
DEMO_STAGES = ("valuations", "settlement")


def seed(demo: Any) -> None:
    user = demo.operations
    flat = services.fee_schedule_create(
        firm=demo.firm,
        name="Standard 1.00%",
        flat_bps=Decimal("100"),
        minimum_annual_fee=Decimal("250"),
        acting_user=user,
    )
    # The household's accounts reach the breakpoints together; the fee is split back by value.
    tiered = services.fee_schedule_create(
        firm=demo.firm,
        name="Tiered 1.00% / 0.75% / 0.50%",
        method=FeeSchedule.Method.TIERED,
        tiers=[(Decimal("1000000"), Decimal("100")), (Decimal("5000000"), Decimal("75")), (None, Decimal("50"))],
        aggregate_household=True,
        minimum_annual_fee=Decimal("1000"),
        acting_user=user,
    )
    for household in demo.households:
        schedule = tiered if _household_value(household) > TIERED_FROM else flat
        services.fee_schedule_assign(household=household, schedule=schedule, acting_user=user)
    if _other_firms_have_accounts(demo.firm):
        # A run is once per job and business date for the whole database: a demo run here
        # would stand in for a real firm's night. Only a database of the demo alone gets them.
        return
    day = previous_trading_day(timezone.localdate())
    for name in DEMO_STAGES:
        run_stage_here(name, day)


def _other_firms_have_accounts(firm: Any) -> bool:
    return InvestmentAccount.objects.exclude(household__firm=firm).exists()


def _household_value(household: Any) -> Decimal:
    # Cash is enough to tell the demo's large household from the others (holdings are bought from it).
    total = CashBalance.objects.filter(account__household=household).values_list("amount", flat=True)
    return sum(total, Decimal(0))


def run_stage_here(name: str, business_date: date) -> JobRun | None:
    """Run one stage for the day in this process, through the job framework's rows (one run per
    job and date, chunks done once), and close it; None when the day's run exists already."""
    stage = jobs.STAGES[name]
    run = jobs.start_job(name, business_date)
    if run is None:
        return None
    if stage.single is not None:
        outcome = stage.single(business_date=business_date, acting_user=system_user())
        jobs.finish_run(run.pk, outcome=outcome)
        return jobs.close_run(run.pk)
    assert stage.accounts is not None
    for index in jobs.chunks_create(run, stage.accounts(business_date), size=jobs.chunk_size_for(stage)):
        jobs.chunk_execute(run_id=run.pk, index=index)
    return jobs.close_run(run.pk)
