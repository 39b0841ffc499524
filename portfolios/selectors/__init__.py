"""Reads of the portfolios app, one module per subject: prices, accounts (scoped to the user),
holdings, performance, valuation, the engine's snapshots, and the pages' composite reads.

Other apps import from here (`from portfolios import selectors`); inside the app, from the
submodule.
"""

from portfolios.selectors.accounts import (
    account_get_for_user,
    account_list_for_user,
    account_queryset,
    model_portfolio_list,
    model_portfolio_list_for_user,
)
from portfolios.selectors.holdings import AccountHoldings, PositionRow, account_drift, account_lots, account_positions
from portfolios.selectors.pages import (
    BOOK_SORTS,
    AccountDrift,
    AccountFigures,
    AccountOverview,
    BookRow,
    FigureInput,
    account_figures,
    account_overview,
    account_total,
    book_accounts,
    book_for_user,
    drift_reports,
)
from portfolios.selectors.performance import (
    BenchmarkSpec,
    Performance,
    account_performance,
    account_valuation_series,
    benchmark_for_account,
    benchmark_for_household,
    benchmark_performance,
    benchmark_series,
    benchmark_symbol,
    fees_by_day,
    household_performance_between,
    household_performance_periods,
    months_before,
    performance_between,
    performance_periods,
)
from portfolios.selectors.prices import LatestPrice, latest_prices, price_history, security_list
from portfolios.selectors.snapshots import engine_snapshots
from portfolios.selectors.valuation import EXTERNAL_FLOW_KINDS, AccountValue, account_value, market_value, values_at

__all__ = [
    "BOOK_SORTS",
    "EXTERNAL_FLOW_KINDS",
    "AccountDrift",
    "AccountFigures",
    "AccountHoldings",
    "AccountOverview",
    "AccountValue",
    "BenchmarkSpec",
    "BookRow",
    "FigureInput",
    "LatestPrice",
    "Performance",
    "PositionRow",
    "account_drift",
    "account_figures",
    "account_get_for_user",
    "account_list_for_user",
    "account_lots",
    "account_overview",
    "account_performance",
    "account_positions",
    "account_queryset",
    "account_total",
    "account_valuation_series",
    "account_value",
    "benchmark_for_account",
    "benchmark_for_household",
    "benchmark_performance",
    "benchmark_series",
    "benchmark_symbol",
    "book_accounts",
    "book_for_user",
    "drift_reports",
    "engine_snapshots",
    "fees_by_day",
    "household_performance_between",
    "household_performance_periods",
    "latest_prices",
    "market_value",
    "model_portfolio_list",
    "model_portfolio_list_for_user",
    "months_before",
    "performance_between",
    "performance_periods",
    "price_history",
    "security_list",
    "values_at",
]
