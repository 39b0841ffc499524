"""The book's fast read (`account_figures`) against the full engine read, and the pages' edge cases:
an account with no model, no prices or no value renders with "—", never a 500."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolios import services
from portfolios.checks import MODEL_ASSIGN_CHECKS
from portfolios.selectors import FigureInput, account_figures, account_list_for_user, account_total, drift_reports
from tests.accounts.factories import HouseholdFactory
from tests.portfolios.factories import InvestmentAccountFactory, SecurityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_cash(alice, securities):
    """A 50/30 model with a 20% cash target, on VXUS (targeted only) and AAPL."""
    return services.model_portfolio_create(
        firm=alice.firm,
        name="With cash",
        risk_level=4,
        targets={"AAPL": Decimal("0.5"), "VXUS": Decimal("0.3")},
        cash_target=Decimal("0.2"),
        acting_user=alice.user,
    )


def _account(alice, name, **kwargs):
    household = HouseholdFactory(advisor=alice, firm=alice.firm, name=f"{name} household")
    return InvestmentAccountFactory(household=household, name=name, **kwargs)


def _fund(alice, account, key, positions=(), cash=None):
    services.transfer_in(
        account=account,
        positions=[{"symbol": s, "quantity": Decimal(q), "cost_basis": Decimal("100")} for s, q in positions],
        cash=cash,
        acting_user=alice.user,
        idempotency_key=key,
    )


def test_account_figures_agree_with_the_engine_read_for_every_shape_of_account(
    alice, securities, with_cash, settings, override_checks
):
    override_checks(MODEL_ASSIGN_CHECKS)
    unpriced = SecurityFactory(symbol="NOPX")  # held, never priced: worth 0, as the engine values it
    absolute = _account(alice, "Absolute", model=with_cash)
    _fund(alice, absolute, "abs", [("AAPL", "30"), ("BND", "10")], Decimal("250.00"))
    relative = _account(alice, "Relative", model=with_cash, band_mode="relative", relative_band=Decimal("0.1"))
    _fund(alice, relative, "rel", [("AAPL", "5"), ("VXUS", "12"), (unpriced.symbol, "3")], Decimal("600.00"))
    inside = _account(alice, "Inside", model=with_cash, drift_threshold=Decimal("0.9"))
    _fund(alice, inside, "in", [("AAPL", "2")], Decimal("10.00"))
    empty = _account(alice, "Empty", model=with_cash)  # worth nothing: no breach
    no_model = _account(alice, "No model")
    _fund(alice, no_model, "nm", [("BND", "4")], Decimal("1.50"))

    accounts = list(account_list_for_user(user=alice.user))
    assert len(accounts) == 5
    figures = account_figures([FigureInput.of(a) for a in accounts])
    engine = drift_reports(accounts)

    for account in accounts:
        mine = figures[account.pk]
        assert mine.total_value == account_total(account)  # the list's SQL value, to the last digit
        if account.model_id is None:
            assert mine.max_drift is None and not mine.breached and account.pk not in engine
        else:
            full = engine[account.pk].report
            assert (mine.max_drift, mine.breached, mine.total_value) == (
                full.max_drift,
                full.breached,
                full.total_value,
            )
    assert figures[absolute.pk].breached and figures[relative.pk].breached
    assert not figures[inside.pk].breached and not figures[empty.pk].breached
    assert figures[empty.pk].total_value == 0


@pytest.mark.unbalanced_ledger  # rows written directly (a EUR balance, a zeroed position): this reads them
def test_the_one_statement_reads_what_the_four_queries_read(alice, securities, with_cash, override_checks):
    """PostgreSQL's reader (`_records_pg`, one statement) and the other databases' (`_records_orm`,
    four queries) read the same records to the digit: positions (a zero one left out), cash in
    every currency, targets, substitution pairs, and each security's last close on the day (none:
    0), for the securities held or targeted only."""
    from datetime import date, timedelta

    from portfolios.models import CashBalance, Price, SubstitutionPair
    from portfolios.selectors import figures as reader

    override_checks(MODEL_ASSIGN_CHECKS)
    unpriced = SecurityFactory(symbol="NOPX")
    SecurityFactory(symbol="IDLE")  # neither held nor targeted: not read
    SubstitutionPair.objects.create(model=with_cash, security=securities["AAPL"], substitute=unpriced)
    paired = _account(alice, "Paired", model=with_cash)
    _fund(alice, paired, "pair", [("NOPX", "3"), ("BND", "10.123456")], Decimal("250.05"))
    CashBalance.objects.create(account=paired, currency="EUR", amount=Decimal("99.99"))
    no_model = _account(alice, "No model")
    _fund(alice, no_model, "nm", [("BND", "4")], Decimal("1.50"))
    sold = _account(alice, "Sold", model=with_cash)
    _fund(alice, sold, "sold", [("VXUS", "1")])
    sold.positions.update(quantity=0)
    day = date.today()
    Price.objects.create(security=securities["BND"], date=day + timedelta(days=3), close=Decimal("1"))  # after the day
    ids = [paired.pk, no_model.pk, sold.pk]
    models = [with_cash.pk]

    with CaptureQueriesContext(connection) as one:
        pg = reader._records_pg(ids, models, day)
    orm = reader._records_orm(ids, models, day)

    assert len(one.captured_queries) == 1
    assert (pg.positions, sorted(pg.cash), pg.targets, pg.pairs, pg.securities) == (
        orm.positions,
        sorted(orm.cash),
        orm.targets,
        orm.pairs,
        orm.securities,
    )
    assert {k: str(q) for k, q in pg.positions[paired.pk].items()} == {
        k: str(q) for k, q in orm.positions[paired.pk].items()
    }  # the digits and the exponent
    assert sold.pk not in pg.positions and ("EUR" in {c for _, c, _ in pg.cash})
    assert pg.pairs == {with_cash.pk: {securities["AAPL"].pk: unpriced.pk}}
    assert pg.securities[unpriced.pk] == ("NOPX", 0) and "IDLE" not in {s for s, _ in pg.securities.values()}
    assert pg.securities[securities["BND"].pk][1] == orm.securities[securities["BND"].pk][1] != 1


def test_account_figures_keep_one_statement_whatever_the_number_of_accounts(alice, securities, with_cash):
    def count(accounts):
        with CaptureQueriesContext(connection) as ctx:
            account_figures([FigureInput.of(a) for a in accounts])
        return len(ctx.captured_queries)

    first = _account(alice, "First", model=with_cash)
    _fund(alice, first, "first", [("AAPL", "1")], Decimal("5"))
    small = count(list(account_list_for_user(user=alice.user)))
    for i in range(12):
        account = _account(alice, f"More {i}", model=with_cash if i % 2 else None)
        _fund(alice, account, f"more-{i}", [("BND", str(i + 1)), ("VXUS", "2")], Decimal(i))
    assert count(list(account_list_for_user(user=alice.user))) == small == 1


# --- Edge cases on the pages ----------------------------------------------------------------------


def test_an_empty_account_without_a_model_or_prices_renders_with_dashes(verified_client, alice):
    bare = _account(alice, "Bare account")  # no model, no positions, no cash, no security priced at all
    client = verified_client(alice.user)

    book = client.get("/book/")
    assert book.status_code == 200
    row = book.text[book.text.index(f'data-account="{bare.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "$0.00" in row and "—" in row and "Breach" not in row

    page = client.get(f"/accounts/{bare.pk}/")
    assert page.status_code == 200
    text = page.text
    assert "$0.00" in text and "No model" in text and "No model is assigned" in text
    assert text.count("<svg") == 2  # both charts still drawn (empty), no 500

    for sort in ("household", "value", "drift"):
        assert client.get("/book/", {"sort": sort, "dir": "desc"}).status_code == 200
    assert client.get("/book/", {"breached": "on"}).status_code == 200


def test_an_account_holding_an_unpriced_security_shows_no_price(
    verified_client, alice, securities, with_cash, settings, override_checks
):
    override_checks(MODEL_ASSIGN_CHECKS)
    SecurityFactory(symbol="NEWIPO")
    account = _account(alice, "Unpriced holder", model=with_cash)
    _fund(alice, account, "ipo", [("NEWIPO", "10")])  # the only holding has no close: the account is worth 0
    client = verified_client(alice.user)

    page = client.get(f"/accounts/{account.pk}/")
    assert page.status_code == 200
    assert "no price" in page.text and "NEWIPO" in page.text

    book = client.get("/book/", {"sort": "drift", "dir": "desc"})
    assert book.status_code == 200
    row = book.text[book.text.index(f'data-account="{account.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "$0.00" in row and "Breach" not in row  # worth nothing: nothing to breach

    answer = client.get(f"/api/v1/accounts/{account.pk}/")
    assert answer.status_code == 200
    assert answer.json()["market_value"] == {"amount": "0.00", "currency": "USD"}
