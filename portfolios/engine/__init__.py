"""Pure code of the portfolios app: no ORM, no Django. Dataclasses of Decimals in, the same out.

- `rebalancing`: snapshots, drift, the rebalance decision, the calendar
- `trades`: trade plans (`generate_trades`, `invest_cash_flow`)
- `performance`: returns from value points
- `workflow`: the four steps composed as a Kailash workflow over snapshots the caller fetched
- `memory`: the cyclic-GC pause the hot paths share
- `lots`: holding periods (`holding_term`) and lot relief orders (`relief_order`)
- `wash_sales`: wash sales across a household (`wash_sale_matches` and the checks of a proposed trade)
"""

from portfolios.engine.lots import ReliefMethod, Term, holding_term, one_year_anniversary, relief_order
from portfolios.engine.memory import cyclic_gc_paused
from portfolios.engine.rebalancing import (
    CASH,
    WASH_SALE_DAYS,
    AccountSnapshot,
    BandMode,
    Decision,
    DriftReport,
    DriftRow,
    Holding,
    Lot,
    LotSale,
    Trade,
    TradePlan,
    calculate_drift,
    calendar_due,
    decide,
    drift_after_trades,
)
from portfolios.engine.trades import generate_trades, invest_cash_flow
from portfolios.engine.wash_sales import (
    Acquisition,
    LossSale,
    WashSaleMatch,
    in_wash_window,
    proposed_purchase_wash,
    proposed_sale_wash,
    wash_sale_matches,
)

__all__ = [
    "CASH",
    "WASH_SALE_DAYS",
    "AccountSnapshot",
    "Acquisition",
    "BandMode",
    "Decision",
    "DriftReport",
    "DriftRow",
    "Holding",
    "LossSale",
    "Lot",
    "LotSale",
    "ReliefMethod",
    "Term",
    "Trade",
    "TradePlan",
    "WashSaleMatch",
    "calculate_drift",
    "calendar_due",
    "cyclic_gc_paused",
    "decide",
    "drift_after_trades",
    "generate_trades",
    "holding_term",
    "in_wash_window",
    "invest_cash_flow",
    "one_year_anniversary",
    "proposed_purchase_wash",
    "proposed_sale_wash",
    "relief_order",
    "wash_sale_matches",
]
