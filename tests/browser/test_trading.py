"""In a real browser: the advisor rebalances a drifted account from the book, approves the
proposal and watches the orders fill.

The sandbox custodian runs in this process on a free port and pushes its signed webhooks to
the live server's /webhooks/custodian/; a "worker" thread relays the outbox every 200 ms (the
periodic relay of production), so nothing in the test hands the page its result: the
proposal page's orders poll every 2 s and turn "Filled" by themselves.
"""

import re
import threading
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.accounts.factories import AdvisorFactory, HouseholdFactory, InvestorFactory
from tests.trading.factories import account_with, make_security, model_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "browser-webhook-secret"


@pytest.fixture
def trading_settings(settings):
    settings.TRADING_PRETRADE_CHECKS = []
    settings.TRADING_FUNDING_CHECKS = []
    settings.TRADING_RELAY_ON_COMMIT = False  # the worker thread below is the relay
    return settings


@pytest.fixture
def custodian(live_server, trading_settings):
    """The sandbox custodian pushing webhooks to the live server, and a relay worker thread."""
    from django.db import connection

    from sandboxes.custodian import SandboxCustodian
    from trading.services import relay_outbox

    settings = trading_settings
    settings.CUSTODIAN_WEBHOOK_SECRET = SECRET
    settings.CUSTODIAN_RETRIES = 0
    sandbox = SandboxCustodian(secret=SECRET, webhook_url=f"{live_server.url}/webhooks/custodian/", seed=3)
    settings.CUSTODIAN_URL = sandbox.start()
    stop = threading.Event()
    errors: list[BaseException] = []

    def relay_worker() -> None:
        try:
            while not stop.wait(0.2):
                relay_outbox()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=relay_worker, name="relay-worker", daemon=True)
    worker.start()
    yield sandbox
    stop.set()
    worker.join(timeout=10)
    sandbox.stop()
    assert not errors, errors


@pytest.fixture
def drifted_book(roles):
    """A demo-like advisor: one client on a 60/40 model, one client all in VTI (drifted)."""
    for symbol, price in (("VTI", "200"), ("BND", "70")):
        make_security(symbol, price)
    advisor = AdvisorFactory(user__email="advisor@demo.kronos", user__full_name="Alex Morgan")
    model = model_of(advisor.firm, {"VTI": "0.6", "BND": "0.4"})
    accounts = {}
    for name, positions, cash in (
        ("Chen", [("VTI", "30", "150"), ("BND", "57", "60")], "10.00"),
        ("Okafor", [("VTI", "40", "150")], "2000.00"),
    ):
        household = HouseholdFactory(advisor=advisor, firm=advisor.firm, name=f"{name} Household")
        InvestorFactory(firm=advisor.firm, households=[household])
        accounts[name] = account_with(household, cash=cash, positions=positions, model=model, name=f"{name} Brokerage")
    return advisor, accounts


def test_the_advisor_rebalances_a_drifted_account_and_sees_the_orders_fill(login, drifted_book, custodian):
    from portfolios import ledger
    from portfolios.models import Position
    from trading.models import Order, RebalanceProposal

    advisor, accounts = drifted_book
    drifted = accounts["Okafor"]
    page = login(advisor.user)

    # The book: tick the drifted account (the filter must not reload the table and drop the tick).
    page.goto("/book/")
    box = page.locator(f"input[name=account][value='{drifted.pk}']")
    box.check()
    page.wait_for_timeout(500)
    expect(box).to_be_checked()
    page.click("#rebalance-selection button[type=submit]")
    expect(page.locator("#bulk-proposals")).to_contain_text("Okafor Brokerage")
    assert list(RebalanceProposal.objects.values_list("account_id", flat=True)) == [drifted.pk]

    # The proposal: drift before, trades, approve.
    page.click(f"#bulk-proposals tr[data-account='{drifted.pk}'] a:has-text('Review')")
    expect(page.locator("#proposal-trades")).to_contain_text("BND")
    page.click("button[data-action=approve]")
    expect(page.locator("#proposal-status")).to_have_text("Approved")
    orders = list(Order.objects.filter(account=drifted))
    assert orders, "approving placed no orders"

    # The orders fill at the sandbox custodian; the page polls and shows it without a reload.
    rows = page.locator("#proposal-orders tr[data-order]")
    expect(rows).to_have_count(len(orders))
    for order in orders:
        expect(page.locator(f"#proposal-orders tr[data-order='{order.pk}'] .badge")).to_have_text(
            re.compile("filled", re.I), timeout=15_000
        )
    assert {o.status for o in Order.objects.filter(account=drifted)} == {"filled"}
    bnd = Position.objects.get(account=drifted, security__symbol="BND")
    assert bnd.quantity > Decimal("0")
    assert ledger.verify() == []


def test_a_bad_order_shows_its_error_in_the_form_and_places_nothing(login, drifted_book, trading_settings):
    from trading.models import Order

    advisor, accounts = drifted_book
    account = accounts["Chen"]
    page = login(advisor.user)
    page.goto(f"/accounts/{account.pk}/trading/")
    form = page.locator("#order-form")
    form.locator("input[name=symbol]").fill("VTI")
    form.locator("select[name=side]").select_option("sell")
    form.locator("input[name=quantity]").fill("31")
    form.locator("button[type=submit]").click()
    expect(page.locator("#order-form")).to_contain_text("Not enough VTI")
    assert not Order.objects.exists()

    page.locator("#order-form input[name=quantity]").fill("3")
    page.locator("#order-form button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("sell VTI")
    assert Order.objects.get().quantity == Decimal("3")
