"""Securities, prices, model portfolios, investment accounts and their double-entry ledger.

Every model that holds client financial data carries `history = HistoricalRecords()`.
Writes go through `portfolios.services` and, for anything that moves cash or securities,
through `portfolios.ledger.post_entry` alone: `Position` and `CashBalance` are materialised
sums of `Posting`s, changed only by the ledger in the same transaction as the postings.

Decimal places, chosen once here:
- prices: 6 places (the adjusted closes in the shared data go down to 0.117203);
- share quantities: 9 places (what custodian APIs accept);
- cash amounts: 2 places;
- weights, thresholds and bands: fractions of 1 with 6 places (0.050000 is 5 points);
- cost per share: 6 places.

One module per subject (`fields`, `securities`, `accounts`, `ledger`, `corporate_actions`); every
model is imported here so the app label and the table names stay `portfolios`.
"""

from portfolios.models.accounts import ACCOUNT_SETTINGS, AccountOwner, Beneficiary, InvestmentAccount
from portfolios.models.corporate_actions import CorporateAction, CorporateActionEntitlement
from portfolios.models.fields import (
    CASH_PLACES,
    ONE,
    PRICE_PLACES,
    QUANTITY_PLACES,
    WEIGHT_PLACES,
    ZERO,
    cash_field,
    quantity_field,
    validate_not_future,
    validate_positive,
    weight_field,
)
from portfolios.models.figures import DRIFT_PLACES, AccountFigures
from portfolios.models.households import RebalancingGroup, RebalancingGroupMember
from portfolios.models.ledger import (
    CashBalance,
    JournalEntry,
    LedgerBook,
    LotClosure,
    Position,
    Posting,
    TaxLot,
    ValuationSnapshot,
    WashSaleAdjustment,
)
from portfolios.models.securities import (
    AssetClass,
    Benchmark,
    BenchmarkComponent,
    HouseholdBenchmark,
    ModelPortfolio,
    ModelTarget,
    Price,
    Security,
)
from portfolios.models.tax import HarvestSettings, SubstitutionPair

__all__ = [
    "ACCOUNT_SETTINGS",
    "CASH_PLACES",
    "DRIFT_PLACES",
    "ONE",
    "PRICE_PLACES",
    "QUANTITY_PLACES",
    "WEIGHT_PLACES",
    "ZERO",
    "AccountFigures",
    "AccountOwner",
    "AssetClass",
    "Benchmark",
    "BenchmarkComponent",
    "Beneficiary",
    "CashBalance",
    "CorporateAction",
    "CorporateActionEntitlement",
    "HarvestSettings",
    "HouseholdBenchmark",
    "InvestmentAccount",
    "JournalEntry",
    "LedgerBook",
    "LotClosure",
    "ModelPortfolio",
    "ModelTarget",
    "Position",
    "Posting",
    "Price",
    "RebalancingGroup",
    "RebalancingGroupMember",
    "Security",
    "SubstitutionPair",
    "TaxLot",
    "ValuationSnapshot",
    "WashSaleAdjustment",
    "cash_field",
    "quantity_field",
    "validate_not_future",
    "validate_positive",
    "weight_field",
]
