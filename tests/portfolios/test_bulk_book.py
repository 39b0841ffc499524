"""The benchmark book builder: COPY-built, yet the same book the services make."""

from decimal import Decimal

import pytest

from demo.books import bulk_book, bulk_funded_accounts
from portfolios import ledger, selectors, services
from portfolios.models import CashBalance, InvestmentAccount, LedgerBook, Position, Posting, TaxLot
from tests.portfolios.factories import ModelPortfolioFactory, ModelTargetFactory

pytestmark = pytest.mark.django_db


def test_a_bulk_book_balances_keeps_history_and_reads_like_a_service_built_one(
    securities, alice, alice_household, bob_household
):
    model = ModelPortfolioFactory(firm=alice.firm, cash_target=Decimal("0.05"))
    ModelTargetFactory(model=model, security=securities["AAPL"], weight=Decimal("0.55"))
    ModelTargetFactory(model=model, security=securities["BND"], weight=Decimal("0.40"))
    holdings = {"AAPL": Decimal("3"), "BND": (Decimal("2.5"), Decimal("71.25"))}
    ids = bulk_book(
        households=[alice_household.pk, bob_household.pk],
        holdings=[holdings, {"VXUS": Decimal("4")}],
        cash=[Decimal("100.00"), Decimal("0")],
        acting_user=alice.user,
        models=[model.pk, None],
        account_settings={"drift_threshold": Decimal("0.03"), "rebalance_mode": "automatic"},
        prefix="BB",
    )
    assert ledger.verify() == []
    first, second = InvestmentAccount.objects.get(pk=ids[0]), InvestmentAccount.objects.get(pk=ids[1])
    assert (first.household_id, first.model_id, first.custodian_account_number) == (
        alice_household.pk,
        model.pk,
        "BB-00000000",
    )
    assert (second.household_id, second.model_id) == (bob_household.pk, None)
    assert first.drift_threshold == Decimal("0.03") and first.rebalance_mode == "automatic"
    assert first.band_mode == InvestmentAccount.BandMode.ABSOLUTE  # the model defaults otherwise
    assert dict(Position.objects.filter(account_id=ids[0]).values_list("security__symbol", "quantity")) == {
        "AAPL": Decimal("3"),
        "BND": Decimal("2.5"),
    }
    assert CashBalance.objects.get(account_id=ids[0]).amount == Decimal("100.00")
    assert not CashBalance.objects.filter(account_id=ids[1]).exists()
    lot = TaxLot.objects.get(account_id=ids[0], security__symbol="BND")
    assert (lot.quantity, lot.cost_per_share) == (Decimal("2.5"), Decimal("71.25"))
    assert TaxLot.objects.get(account_id=ids[0], security__symbol="AAPL").cost_per_share == Decimal("50")
    # every row has its '+' history row naming the acting user
    for model_class, rows in [
        (InvestmentAccount, InvestmentAccount.objects.filter(pk__in=ids)),
        (LedgerBook, LedgerBook.objects.filter(account_id__in=ids)),
        (Position, Position.objects.filter(account_id__in=ids)),
        (CashBalance, CashBalance.objects.filter(account_id__in=ids)),
        (TaxLot, TaxLot.objects.filter(account_id__in=ids)),
        (Posting, Posting.objects.filter(book__account_id__in=ids)),
    ]:
        history = model_class.history.filter(id__in=rows.values("pk"))
        assert history.count() == rows.count() > 0
        assert set(history.values_list("history_type", "history_user_id")) == {("+", alice.user.pk)}

    # the engine sees the same account as one built through the ledger service
    [reference] = bulk_funded_accounts(
        household=alice_household,
        count=1,
        holdings={"AAPL": Decimal("3"), "BND": Decimal("2.5")},
        cash=Decimal("100.00"),
        acting_user=alice.user,
        model=model,
        prefix="REF",
    )
    services.account_update(account=reference, acting_user=alice.user, drift_threshold=Decimal("0.03"))
    built, made = (selectors.engine_snapshots(account_ids=[i])[i] for i in (ids[0], reference.pk))
    assert [(h.symbol, h.quantity, h.target_weight) for h in built.holdings] == [
        (h.symbol, h.quantity, h.target_weight) for h in made.holdings
    ]
    assert (built.cash, built.threshold, built.cash_target) == (made.cash, made.threshold, made.cash_target)


def test_a_bulk_book_refuses_unknown_symbols_and_a_used_prefix(securities, alice, alice_household):
    with pytest.raises(ValueError, match="Unknown symbols: NOPE"):
        bulk_book(
            households=alice_household.pk, holdings=[{"NOPE": Decimal("1")}], cash=Decimal("0"), acting_user=alice.user
        )
    bulk_book(
        households=alice_household.pk,
        holdings=[{"AAPL": Decimal("1")}],
        cash=Decimal("1"),
        acting_user=alice.user,
        prefix="P",
    )
    with pytest.raises(ValueError, match="exist already"):
        bulk_book(
            households=alice_household.pk,
            holdings=[{"AAPL": Decimal("1")}],
            cash=Decimal("1"),
            acting_user=alice.user,
            prefix="P",
        )
    assert ledger.verify() == []


def test_the_benchmark_shortcut_without_foreign_key_checks_builds_the_same_balanced_book(
    securities, alice, alice_household
):
    ids = bulk_book(
        households=alice_household.pk,
        holdings=[{"AAPL": Decimal("2"), "VXUS": Decimal("1")}] * 3,
        cash=Decimal("5.00"),
        acting_user=alice.user,
        prefix="NOFK",
        check_foreign_keys=False,
    )
    assert ledger.verify() == []
    assert Position.objects.filter(account_id__in=ids).count() == 6
    assert TaxLot.history.filter(account_id__in=ids).count() == 6
