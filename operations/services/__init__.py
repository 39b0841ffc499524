"""Every write of operations (see each module's docstring for its guarantees)."""

from operations.services.billing import (
    billing_previews_create,
    billing_run_approve,
    billing_run_preview,
    fee_for_account,
)
from operations.services.fee_collection import fee_charges_release
from operations.services.fee_schedules import (
    account_billing_set,
    billing_settings_set,
    fee_schedule_assign,
    fee_schedule_create,
    schedule_tiers,
)
from operations.services.nightly import NIGHTLY, RunNowResult, nightly_run_now
from operations.services.reconciliation import book_holdings_as_of, break_resolve, reconcile_accounts

__all__ = [
    "NIGHTLY",
    "RunNowResult",
    "account_billing_set",
    "billing_previews_create",
    "billing_run_approve",
    "billing_run_preview",
    "billing_settings_set",
    "book_holdings_as_of",
    "break_resolve",
    "fee_charges_release",
    "fee_for_account",
    "fee_schedule_assign",
    "fee_schedule_create",
    "nightly_run_now",
    "reconcile_accounts",
    "schedule_tiers",
]
