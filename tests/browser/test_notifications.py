"""In headless Chromium: an investor sees their unread count in the navigation, opens the inbox,
marks one notification read (htmx) and the count drops; the preferences page saves a choice."""

import pytest
from playwright.sync_api import expect

from accounts.services import event_emit, events_publish
from notifications.models import Notification
from tests.trading.factories import account_with

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fill(account, quantity):
    event_emit(
        kind="order.filled",
        firm=account.household.firm_id,
        household=account.household_id,
        account=account.pk,
        payload={
            "order": 1,
            "account": account.pk,
            "symbol": "VTI",
            "side": "buy",
            "quantity": quantity,
            "status": "filled",
            "fill_quantity": quantity,
            "fill_price": "200",
            "fill_amount": {"amount": "200.00", "currency": "USD"},
            "trade_date": "2026-12-02",
        },
    )


def test_the_investor_reads_a_notification_and_the_count_drops(login, charlie, alice_household, roles):
    account = account_with(alice_household, name="Joint brokerage")
    for quantity in ("1", "2", "3"):
        fill(account, quantity)
    events_publish()
    assert Notification.objects.filter(user=charlie).count() == 3

    page = login(charlie)
    badge = page.locator("#nav-inbox [data-unread]")
    expect(badge).to_have_text("3")
    page.click("#nav-inbox")
    page.wait_for_url("**/notifications/")
    expect(page.locator("h1")).to_have_text("Inbox")
    rows = page.locator("#inbox tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Filled: Buy 3 VTI")
    expect(rows.first).to_contain_text("Joint brokerage")

    newest = Notification.objects.filter(user=charlie).order_by("-id").first()
    page.click(f"#notification-{newest.pk} button:has-text('Mark read')")
    expect(page.locator(f"#notification-{newest.pk}")).to_have_class("read")
    expect(page.locator(f"#notification-{newest.pk} button")).to_have_count(0)
    expect(badge).to_have_text("2")
    assert Notification.objects.get(pk=newest.pk).read_at is not None

    page.click("button:has-text('Mark all read')")
    expect(page.locator("#nav-inbox [data-unread]")).to_have_count(0)
    assert not Notification.objects.filter(user=charlie, read_at__isnull=True).exists()


def test_the_preferences_page_saves_a_choice(login, charlie, roles):
    page = login(charlie)
    page.goto("/notifications/preferences/")
    page.select_option("#pref-order_filled", "digest")
    page.click("button:has-text('Save')")
    expect(page.locator(".messages")).to_contain_text("preferences are saved")
    expect(page.locator("#pref-order_filled")).to_have_value("digest")
