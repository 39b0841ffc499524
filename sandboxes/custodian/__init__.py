"""The sandbox custodian: a local HTTP service that behaves like a custodian's REST API.

It accepts orders (idempotent on the client order id), fills them at the price given in
the order or the latest price it can look up, keeps its own books per account, and POSTs
HMAC-signed webhooks for every fill. To let tests hurt Kronos it can be told (by the
constructor or `POST /control`) to fail a fraction of calls — half of them *after* the
order was taken, like a timeout that lost the answer — to delay answers, to hold orders
unfilled, to fill in parts, and to duplicate and reorder webhooks. For a whole simulated
firm (`sandboxes/simulation`) it can also reject a fraction of orders (422), fill a
fraction only in part until the next trading round (`fill-held`) or the day's close (the
rest expires, with an `order.cancelled` event), hold back a fraction of webhooks for a later
delivery round, and take shares in from another custodian. Its random choices are keyed by
what they are about (the order's account, symbol, side and quantity; the webhook), so a
seeded run decides the same way whatever order threads call it in.

Endpoints:
    POST /v1/orders                      place (Idempotency-Key / client_order_id dedupe)
    GET  /v1/orders/<client_order_id>    the order's state
    POST /v1/orders/<id>/cancel          cancel what is not filled yet
    GET  /v1/accounts/<ref>/statement?as_of=YYYY-MM-DD   positions and cash from its books
    GET  /v1/statements?as_of=YYYY-MM-DD&accounts=A,B,...  the same for many accounts in one answer
                                         (its daily positions and balances file; at most
                                         STATEMENTS_PAGE accounts a call, in the order asked)
    POST /v1/accounts/<ref>/cash         {"amount": "..."}: a cash movement (transfers)
    POST /v1/accounts/<ref>/positions    {"symbol": "...", "quantity": "..."}: shares moved in
                                         (or out, negative) from another custodian; or
                                         {"positions": [{"symbol", "quantity"}, ...]}: a whole transfer
    POST /v1/accounts/<ref>/settings     {"fractional_shares": true}: the account keeps fractions
    POST /v1/corporate-actions           a dividend or split to process (its feed; see below)
    GET  /v1/corporate-actions           what it was told
    POST /v1/accounts                    open an account (Idempotency-Key / request_id dedupe); answers
                                         202 pending, then the `account.opened` webhook carries the number
                                         (an owner whose last name contains "Decline" gets `account.rejected`)
    POST /control                        {"fail_rate": 0.3, "duplicate_rate": 0.2, "reject_rate": 0.02,
                                          "partial_rate": 0.1, "defer_rate": 0.2, ...}
    POST /control/fill-held              fill every held order now (and the rest of partial ones, and
                                         with "market_hours" those taken while the market was closed)
    POST /control/close-day              the day's close: cancel every order still open
    GET  /control/stats                  counters

Corporate actions are processed as a custodian does, from its own books: a split's ex-date
multiplies what each account held at the close of the day before (whole shares kept, ROUND_DOWN,
the fraction paid as cash in lieu at the action's price, to cents ROUND_HALF_EVEN; an account
set to fractional shares -- or already holding a fraction -- keeps 9 places) and adjusts open
orders (the quantity left x ratio, limit prices / ratio to cents: buys down, sells up; an order
left with nothing is cancelled); a cash dividend pays on its pay date what the holders at the
close before the ex-date are owed (per account, to cents ROUND_HALF_EVEN). The statement applies
them in date order, so a statement as of any day is what the custodian held that day.

Webhook delivery is "push" (a background thread POSTs to `webhook_url`, retrying until a
2xx, like real custodians) or "manual" (queued; a test drains them with
`deliver_pending(send)` in its own thread, so it can use Django's test client).
"""

from sandboxes.custodian.records import (
    CENTS,
    MARKET_CLOSE,
    MARKET_OPEN,
    MARKET_TIME_ZONE,
    MAX_QUANTITY,
    QUANTITY_PLACES,
    STATEMENTS_PAGE,
    Options,
    SandboxCorporateAction,
    SandboxOrder,
    Stats,
    business_date,
    execution_amount,
    market_is_open,
)
from sandboxes.custodian.server import SandboxCustodian, _handler_for

__all__ = [
    "CENTS",
    "MARKET_CLOSE",
    "MARKET_OPEN",
    "MARKET_TIME_ZONE",
    "MAX_QUANTITY",
    "QUANTITY_PLACES",
    "STATEMENTS_PAGE",
    "Options",
    "SandboxCorporateAction",
    "SandboxCustodian",
    "SandboxOrder",
    "Stats",
    "_handler_for",
    "business_date",
    "execution_amount",
    "market_is_open",
]
