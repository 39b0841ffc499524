"""The portfolios API under /api/v1/, one module per resource: securities and prices, model
portfolios, accounts (with positions), transfers in, drift and performance, tax lots and
realised gains.

Contract (names fixed; fields may be added): weights, drift, thresholds and returns are
fractions of 1 as decimal strings ("0.6" is 60%); money is {"amount", "currency"};
quantities are decimal strings. Reads are scoped to the user (another's object is a 404);
writes need the token's `trade` scope (kronos.api.permissions) AND a role that may do them
(`portfolios.permissions`): operations for securities and prices, the household's advisor
(or the firm's operations) for its accounts, advisors for their firm's models (a 403 otherwise).
"""

from portfolios.api.accounts import account_detail, accounts, positions
from portfolios.api.drift import drift
from portfolios.api.lots import lots, realized_gains
from portfolios.api.model_portfolios import model_detail, models
from portfolios.api.performance import account_performance, household_performance
from portfolios.api.securities import prices, securities
from portfolios.api.transfers import transfers_in

__all__ = [
    "account_detail",
    "account_performance",
    "accounts",
    "drift",
    "household_performance",
    "lots",
    "model_detail",
    "models",
    "positions",
    "prices",
    "realized_gains",
    "securities",
    "transfers_in",
]
