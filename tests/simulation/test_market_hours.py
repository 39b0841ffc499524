"""The sandbox custodian keeps the market's hours when told to: an order taken after the close
waits for the next session, so it is not in that day's statement and fills with the next day's
trade date.

The firm simulation found this: on the night a real worker ran the drift scan, the worker's
automatic approvals went to the custodian at once (relay on commit) and the sandbox filled them
at 17:30, so that night's reconciliation saw the custodian's sale before its fill reached Kronos
(SIM13-000058: T ours 1,646, custodian 1,061). A custodian queues such an order for the open.
"""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine

from sandboxes.custodian import SandboxCustodian, market_is_open

NY = ZoneInfo("America/New_York")


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


def _order(n: int = 1) -> dict[str, str]:
    return {
        "client_order_id": f"coid-{n}",
        "account": "ACC-1",
        "symbol": "T",
        "side": "sell",
        "quantity": "585",
        "price": "34.45",
    }


def test_the_session_is_weekdays_from_the_open_to_the_close_in_new_york():
    tuesday = date(2016, 3, 15)
    assert not market_is_open(_at(tuesday, 9, 29))
    assert market_is_open(_at(tuesday, 9, 30))
    assert market_is_open(_at(tuesday, 15, 59))
    assert not market_is_open(_at(tuesday, 16, 0))
    assert not market_is_open(_at(date(2016, 3, 19), 11, 0))  # a Saturday


def test_an_order_taken_after_the_close_fills_at_the_next_open_with_the_next_trade_date():
    custodian = SandboxCustodian(secret="s", market_hours=True)
    evening, morning = date(2016, 3, 15), date(2016, 3, 16)
    with time_machine.travel(_at(evening, 17, 30), tick=False):
        custodian.move_position("ACC-1", "T", Decimal(1646))
        status, body = custodian.place(_order())
        assert (status, body["status"], body["filled_quantity"]) == (201, "accepted", "0")
        assert custodian.fill_held() == 0  # still closed
        assert custodian.statement("ACC-1", evening)["positions"]["T"] == "1646"
        assert custodian.pending_webhook_count() == 0
    with time_machine.travel(_at(morning, 10, 15), tick=False):
        assert custodian.fill_held() == 1
    assert custodian.get("coid-1")[1]["status"] == "filled"
    assert custodian.statement("ACC-1", evening)["positions"]["T"] == "1646"
    assert custodian.statement("ACC-1", morning)["positions"]["T"] == "1061"
    assert custodian.pending_webhook_count() == 1


def test_without_market_hours_an_order_fills_when_taken_as_before():
    custodian = SandboxCustodian(secret="s")
    with time_machine.travel(_at(date(2016, 3, 15), 17, 30), tick=False):
        status, body = custodian.place(_order())
    assert (status, body["status"]) == (201, "filled")


def test_an_order_taken_during_the_session_fills_at_once():
    custodian = SandboxCustodian(secret="s", market_hours=True)
    with time_machine.travel(_at(date(2016, 3, 15), 11, 0), tick=False):
        status, body = custodian.place(_order())
    assert (status, body["status"]) == (201, "filled")
