"""Pure code of the portfolios app: no ORM, no Django. Dataclasses of Decimals in, the same out.

- `rebalancing`: snapshots, drift, the rebalance decision, the calendar
- `trades`: trade plans (`generate_trades`, `invest_cash_flow`)
- `performance`: returns from value points
- `workflow`: the four steps composed as a Kailash workflow over snapshots the caller fetched
- `memory`: the cyclic-GC pause the hot paths share
"""

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
)
from portfolios.engine.trades import generate_trades, invest_cash_flow

__all__ = [
    "CASH",
    "WASH_SALE_DAYS",
    "AccountSnapshot",
    "BandMode",
    "Decision",
    "DriftReport",
    "DriftRow",
    "Holding",
    "Lot",
    "LotSale",
    "Trade",
    "TradePlan",
    "calculate_drift",
    "calendar_due",
    "cyclic_gc_paused",
    "decide",
    "generate_trades",
    "invest_cash_flow",
]
