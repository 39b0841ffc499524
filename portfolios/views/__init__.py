"""The portfolios pages, one module per screen family: the advisor's book, accounts (the account
page, a household's accounts, the investor's start page, settings), model portfolios,
transfers in, and gains (realised and unrealised, with CSV and PDF exports).

Each view: a user-scoped getter (404 for another user's object) -> selectors -> a full
page, or on an HTMX request the named partial of the same template. Numbers are turned
into display strings here by the portal's one display rule (`kronos.formatting`: money,
percent and quantity, ROUND_HALF_EVEN), the rule the templates' filters apply too.
"""

from portfolios.views.accounts import account_detail, account_settings, household_accounts, my_accounts
from portfolios.views.book import book
from portfolios.views.gains import account_gains, household_gains
from portfolios.views.model_portfolios import model_create, model_edit, model_list
from portfolios.views.transfers import transfer_in

__all__ = [
    "account_detail",
    "account_gains",
    "account_settings",
    "book",
    "household_accounts",
    "household_gains",
    "model_create",
    "model_edit",
    "model_list",
    "my_accounts",
    "transfer_in",
]
