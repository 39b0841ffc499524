"""Writes of the portfolios app, one module per subject (securities and prices, model portfolios,
accounts, transfers in, tax lots, valuations, corporate actions).

Each service validates its input first, runs in one `transaction.atomic()`, records the
acting user on the history rows and raises `PortfoliosError` (with the field) on bad input.
Cash and securities move only through `portfolios.ledger.post_entry`.

Rounding, named here: closes are stored to 6 places (ROUND_HALF_EVEN at import), cost per
share to 6 places, realised proceeds/cost/gain and valuations to cents (ROUND_HALF_EVEN).

Other apps import from here (`from portfolios import services`); inside the app, from the
submodule.
"""

from portfolios.models import CASH_PLACES
from portfolios.services.accounts import (
    ACCOUNT_EDITABLE_FIELDS,
    ACCOUNT_SETTINGS,
    account_create,
    account_custodian_opened,
    account_opened_emit,
    account_update,
    model_assign,
)
from portfolios.services.benchmarks import benchmark_assign, benchmark_create
from portfolios.services.common import to_cents
from portfolios.services.corporate_action_processing import ProcessResult, corporate_actions_process, reinvest_pending
from portfolios.services.corporate_action_splits import SplitOutcome, cash_in_lieu_price, split_outcome
from portfolios.services.corporate_actions import (
    ImportResult,
    action_terms_for_custodian,
    corporate_action_cancel,
    corporate_action_create,
    corporate_action_update,
    corporate_actions_import,
    holdings_before,
    register_reinvestment_handler,
    register_split_handler,
)
from portfolios.services.household_groups import rebalancing_group_create
from portfolios.services.lots import ORDERED_METHODS, lot_open, lots_relieve, relief_plan
from portfolios.services.model_portfolios import MODEL_EDITABLE_FIELDS, model_portfolio_create, model_portfolio_update
from portfolios.services.ownership import BeneficiarySpec
from portfolios.services.securities import (
    SECURITY_EDITABLE_FIELDS,
    PriceRow,
    PriceStoreResult,
    price_validate,
    prices_ingest,
    prices_store,
    prices_upsert,
    security_create,
    security_ids_for,
    security_update,
)
from portfolios.services.transfers import transfer_in
from portfolios.services.valuation import valuation_snapshot_write, valuation_snapshots_write
from portfolios.services.wash_sales import wash_sales_apply

__all__ = [
    "ACCOUNT_EDITABLE_FIELDS",
    "ACCOUNT_SETTINGS",
    "CASH_PLACES",
    "MODEL_EDITABLE_FIELDS",
    "ORDERED_METHODS",
    "SECURITY_EDITABLE_FIELDS",
    "BeneficiarySpec",
    "ImportResult",
    "PriceRow",
    "PriceStoreResult",
    "ProcessResult",
    "SplitOutcome",
    "account_create",
    "account_custodian_opened",
    "account_opened_emit",
    "account_update",
    "action_terms_for_custodian",
    "benchmark_assign",
    "benchmark_create",
    "cash_in_lieu_price",
    "corporate_action_cancel",
    "corporate_action_create",
    "corporate_action_update",
    "corporate_actions_import",
    "corporate_actions_process",
    "holdings_before",
    "lot_open",
    "lots_relieve",
    "model_assign",
    "model_portfolio_create",
    "model_portfolio_update",
    "price_validate",
    "prices_ingest",
    "prices_store",
    "prices_upsert",
    "rebalancing_group_create",
    "register_reinvestment_handler",
    "register_split_handler",
    "reinvest_pending",
    "relief_plan",
    "security_create",
    "security_ids_for",
    "security_update",
    "split_outcome",
    "to_cents",
    "transfer_in",
    "valuation_snapshot_write",
    "valuation_snapshots_write",
    "wash_sales_apply",
]
