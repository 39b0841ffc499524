"""Valuation snapshots: each account's value at a day's close, written by the nightly job."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import User
from accounts.services import system_user
from portfolios.errors import PortfoliosError
from portfolios.figures import refresh_figures
from portfolios.models import (
    InvestmentAccount,
    ValuationSnapshot,
)
from portfolios.selectors.valuation import values_at

# --- Valuations ---------------------------------------------------------------------------------


def valuation_snapshot_write(
    *, account: InvestmentAccount, date: date, acting_user: User | None = None
) -> ValuationSnapshot:
    """Write (or refresh) the account's valuation at `date`'s close; idempotent per account and date."""
    valuation_snapshots_write(as_of=date, account_ids=[account.pk], acting_user=acting_user)
    return ValuationSnapshot.objects.get(account=account, date=date)


def valuation_snapshots_write(
    *, as_of: date, account_ids: Iterable[int] | None = None, acting_user: User | None = None
) -> int:
    """Write every open account's (or `account_ids`') valuation at `as_of` in a fixed handful of
    queries: holdings and cash from the postings effective on or before the day, prices on or
    before the day, the day's external flows. Re-running replaces changed rows only.
    Returns the number of snapshots written or changed."""

    if as_of > timezone.localdate():
        raise PortfoliosError(f"The date {as_of} is in the future.", field="as_of")
    acting_user = acting_user or system_user()
    if account_ids is None:
        account_ids = InvestmentAccount.objects.exclude(status=InvestmentAccount.Status.CLOSED).values_list(
            "pk", flat=True
        )
    ids = list(account_ids)
    values = values_at(account_ids=ids, as_of=as_of)
    with transaction.atomic():
        existing = {
            v.account_id: v
            for v in ValuationSnapshot.objects.select_for_update().filter(account_id__in=ids, date=as_of)
        }
        new, changed = [], []
        for account_id, value in values.items():
            row = existing.get(account_id)
            if row is None:
                new.append(
                    ValuationSnapshot(
                        account_id=account_id,
                        date=as_of,
                        market_value=value.market_value,
                        cash=value.cash,
                        net_external_flow=value.external_flow,
                    )
                )
            elif (row.market_value, row.cash, row.net_external_flow) != (
                value.market_value,
                value.cash,
                value.external_flow,
            ):
                row.market_value, row.cash, row.net_external_flow = value.market_value, value.cash, value.external_flow
                changed.append(row)
        reason = "nightly valuation"
        if new:
            try:
                with transaction.atomic():
                    bulk_create_with_history(
                        new, ValuationSnapshot, default_user=acting_user, default_change_reason=reason
                    )
            except IntegrityError as exc:
                raise PortfoliosError("Valuations for this day are being written by another job.") from exc
        if changed:
            bulk_update_with_history(
                changed,
                ValuationSnapshot,
                ["market_value", "cash", "net_external_flow"],
                default_user=acting_user,
                default_change_reason=reason,
            )
        refresh_figures(ids)  # the day's closes (and a new day) move the kept figures too
    return len(new) + len(changed)
