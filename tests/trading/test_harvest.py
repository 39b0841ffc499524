"""Tax-loss harvesting through the services, the API and the daily job."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import system_user
from portfolios import services as portfolio_services
from portfolios.models import HarvestSettings, InvestmentAccount, Position, Security, SubstitutionPair
from tests.trading.factories import account_with, make_security, model_of, profiled_owner
from trading import selectors, services
from trading.errors import TradingError
from trading.models import HarvestRecord, Order, RebalanceProposal
from trading.services.fills import Fill

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def harvestable(alice_household, securities):
    """A taxable account on a 60/40 VTI/BND model with VTI -> SCHB as its substitution pair:
    300 VTI bought at 250 (now 200: a 15,000 loss), 571 BND at 69 (now 70), 30.00 cash."""
    make_security("SCHB", "48.70")
    model = model_of(alice_household.firm, {"VTI": "0.6", "BND": "0.4"})
    SubstitutionPair.objects.create(
        model=model, security=Security.objects.get(symbol="VTI"), substitute=Security.objects.get(symbol="SCHB")
    )
    return account_with(
        alice_household, cash="30.00", positions=[("VTI", "300", "250"), ("BND", "571", "69")], model=model
    )


def _fill_all(orders, alice):
    for order in Order.objects.filter(pk__in=[o.pk for o in orders]).order_by("id"):
        order.refresh_from_db()
        if order.status == "awaiting_funds":
            continue
        services.execution_apply(
            fill=Fill(
                order.client_order_id, f"X-{order.pk}", order.quantity, order.estimated_price, timezone.localdate()
            ),
            acting_user=system_user(),
        )


def test_the_advisor_harvests_approves_and_sees_the_loss_and_the_substitute(alice, harvestable):
    result = services.harvest_proposals_create(household=harvestable.household, acting_user=alice.user)
    [proposal] = result.proposals
    assert [(t.symbol, t.side, t.quantity) for t in proposal.trades.order_by("position")] == [
        ("VTI", "sell", D("300")),
        ("SCHB", "buy", D("1232")),
    ]
    assert proposal.realised_gain == D("-15000.00") and "Tax-loss harvest" in proposal.notes[0]
    assert HarvestRecord.objects.get().estimated_loss == D("15000.00")
    orders = services.proposal_approve(proposal=proposal, acting_user=alice.user)
    _fill_all(orders, alice)  # the sell; its proceeds release the buy
    _fill_all(orders, alice)  # the buy
    assert {o.status for o in Order.objects.all()} == {"filled"}
    assert Position.objects.get(account=harvestable, security__symbol="SCHB").quantity == D("1232")
    assert not Position.objects.filter(account=harvestable, security__symbol="VTI", quantity__gt=0).exists()
    [row] = selectors.harvested_losses(account_ids=[harvestable.pk])
    assert (row["year"], row["realised"], row["estimated_loss"]) == (
        timezone.localdate().year,
        D("-15000.00"),
        D("15000.00"),
    )


def test_after_a_harvest_the_substitute_stands_in_and_the_nights_scan_does_not_undo_it(alice, harvestable):
    """The drift scan, the book and the holdings page count SCHB toward VTI's 60%: the night after
    the harvest nothing sells the substitute to buy VTI back inside the wash-sale window."""
    from portfolios.selectors import FigureInput, account_figures, account_positions

    [proposal] = services.harvest_proposals_create(household=harvestable.household, acting_user=alice.user).proposals
    orders = services.proposal_approve(proposal=proposal, acting_user=alice.user)
    _fill_all(orders, alice)
    _fill_all(orders, alice)
    # 1,232 SCHB at 48.70 = 59,998.40 and 571 BND at 70 = 39,970: the allocation kept.
    [night] = services.proposal_create_for_accounts(account_ids=[harvestable.pk], acting_user=system_user())
    assert not night.needed and not night.trades.exists()
    assert night.max_drift_before < D("0.05")
    rows = {r.symbol: r.target_weight for r in account_positions(harvestable).positions}
    assert rows == {"BND": D("0.4"), "SCHB": D("0.6")}
    account = harvestable.__class__.objects.select_related("model").get(pk=harvestable.pk)
    figures = account_figures([FigureInput.of(account)])[account.pk]  # the book's and the API's reader
    assert not figures.breached and figures.max_drift < D("0.05")


def test_a_purchase_in_the_spouses_ira_ten_days_before_blocks_the_harvest(alice, harvestable):
    ira = account_with(harvestable.household, account_type="roth_ira")
    portfolio_services.transfer_in(
        account=ira,
        positions=[
            {
                "symbol": "VTI",
                "quantity": D("5"),
                "cost_per_share": D("205"),
                "acquired_on": date.today() - timedelta(days=10),
            }
        ],
        acting_user=system_user(),
        idempotency_key="ira-buy",
    )
    result = services.harvest_proposals_create(household=harvestable.household, acting_user=alice.user)
    assert result.proposals == [] and "bought in the household within 30 days" in result.plan.notes[0]


def _spouses_ira(harvestable, cash="20000.00"):
    return account_with(
        harvestable.household, cash=cash, account_type="roth_ira", model=harvestable.model, drift_threshold=D("0.01")
    )


def test_an_open_proposal_buying_it_in_the_spouses_ira_blocks_the_harvest(alice, harvestable):
    """Found by the firm simulation: the household stage proposed a VTI buy in the IRA one night,
    the next afternoon's scan harvested VTI in the taxable account, the advisor approved both the
    next morning and the harvested loss was disallowed."""
    ira = _spouses_ira(harvestable)
    [pending] = services.proposal_create_for_accounts(account_ids=[ira.pk], acting_user=system_user())
    assert pending.trades.filter(symbol="VTI", side="buy").exists()
    result = services.harvest_proposals_create(household=harvestable.household, acting_user=alice.user)
    assert result.proposals == [] and "bought in the household within 30 days" in result.plan.notes[0]
    services.proposal_discard(proposal=pending, acting_user=alice.user)
    [harvest] = services.harvest_proposals_create(household=harvestable.household, acting_user=alice.user).proposals
    assert harvest.account_id == harvestable.pk


def test_an_accounts_own_open_proposal_does_not_block_its_harvest(harvestable):
    """Its harvest proposal replaces it: only the household's other accounts' proposals count."""
    import dataclasses

    from portfolios.engine.harvest import plan_harvest
    from portfolios.engine.wash_sales import Acquisition
    from trading.services.harvest import harvest_settings_for, harvest_snapshot

    settings = harvest_settings_for(harvestable.household.firm_id)
    snapshot, _ = harvest_snapshot(harvestable.household, as_of=timezone.localdate(), settings=settings)

    def buying_vti_in(account_id):
        buy = Acquisition("p:1", "p:1", account_id, "VTI", snapshot.as_of, D("5"))
        return plan_harvest(dataclasses.replace(snapshot, proposed_buys=(buy,)))

    assert [h.symbol for h in buying_vti_in(harvestable.pk).harvests] == ["VTI"]
    assert buying_vti_in(harvestable.pk + 1000).harvests == ()


def test_approving_a_harvest_once_the_household_has_a_buy_of_it_open_is_refused(alice, harvestable):
    [harvest] = services.harvest_proposals_create(household=harvestable.household, acting_user=alice.user).proposals
    ira = _spouses_ira(harvestable)
    services.order_create(
        account=ira, security="VTI", side="buy", quantity=D("10"), acting_user=alice.user, source=Order.Source.ADVISOR
    )
    with pytest.raises(TradingError) as refused:
        services.proposal_approve(proposal=harvest, acting_user=alice.user)
    assert refused.value.code == "wash_sale" and "VTI was bought in the household" in str(refused.value)
    harvest.refresh_from_db()
    assert harvest.status == "proposed" and not harvest.orders.exists()


def test_approving_a_buy_after_a_harvest_sold_it_at_a_loss_is_refused(alice, harvestable):
    [harvest] = services.harvest_proposals_create(household=harvestable.household, acting_user=alice.user).proposals
    ira = _spouses_ira(harvestable)
    [buy_vti] = services.proposal_create_for_accounts(account_ids=[ira.pk], acting_user=system_user())
    orders = services.proposal_approve(proposal=harvest, acting_user=alice.user)
    # The harvest's sell is open: buying VTI in the IRA now would wash the loss it is realising.
    with pytest.raises(TradingError, match="VTI was sold at a loss in the household"):
        services.proposal_approve(proposal=buy_vti, acting_user=alice.user)
    _fill_all(orders, alice)
    _fill_all(orders, alice)
    # Filled: the loss is realised; the IRA's buy would still wash it.
    with pytest.raises(TradingError, match="VTI was sold at a loss in the household"):
        services.proposal_approve(proposal=buy_vti, acting_user=alice.user)
    buy_vti.refresh_from_db()
    assert buy_vti.status == "proposed" and not buy_vti.orders.exists()
    assert not harvest.account.lots.filter(closures__wash_sale_disallowed__gt=0).exists()


def test_automatic_mode_approves_as_it_harvests(alice, harvestable):
    HarvestSettings.objects.create(firm=harvestable.household.firm, automatic=True)
    result = services.harvest_proposals_create(household=harvestable.household, acting_user=alice.user)
    assert RebalanceProposal.objects.get().status == "approved"
    assert [(o.side, o.security.symbol) for o in result.orders] == [("sell", "VTI"), ("buy", "SCHB")]


def test_one_households_failure_does_not_stop_the_days_scan(harvestable, bob_household, monkeypatch, caplog):
    from trading.services import harvest as harvest_module

    real = harvest_module.harvest_proposals_create
    first = account_with(bob_household, cash="10.00", positions=[("VTI", "10", "250")], model=harvestable.model)

    def failing_for_bob(*, household, **kwargs):
        if household.pk == first.household_id:
            raise RuntimeError("a bug in one household")
        return real(household=household, **kwargs)

    monkeypatch.setattr(harvest_module, "harvest_proposals_create", failing_for_bob)
    assert services.harvest_scan_run() == 1  # alice's household still harvested
    assert RebalanceProposal.objects.get().account_id == harvestable.pk
    assert f"household {first.household_id} not harvested" in caplog.text


def test_the_scan_looks_only_at_households_with_a_paired_lot_at_a_loss(alice, harvestable, bob_household, monkeypatch):
    from portfolios.selectors import households_with_losses_to_harvest
    from trading.services import harvest as harvest_module

    today = timezone.localdate()
    # Bob: VTI at a gain (bought at 150, now 200) on the same paired model; and VTI at a loss in
    # an IRA, where a loss is worth nothing: nothing to harvest.
    account_with(bob_household, positions=[("VTI", "10", "150")], model=harvestable.model)
    account_with(bob_household, positions=[("VTI", "10", "300")], model=harvestable.model, account_type="roth_ira")
    assert households_with_losses_to_harvest(as_of=today) == [harvestable.household_id]
    assert households_with_losses_to_harvest(as_of=today, exclude_firms=[alice.firm.pk]) == []
    # An account without a model of its own is paired through its rebalancing group's model.
    ira = account_with(harvestable.household, account_type="roth_ira", model=harvestable.model)
    profiled_owner(harvestable.household)
    portfolio_services.rebalancing_group_create(
        household=harvestable.household, name="Family", model=harvestable.model, accounts=[harvestable, ira],
        acting_user=alice.user,
    )  # fmt: skip
    harvestable.__class__.objects.filter(pk=harvestable.pk).update(model=None)
    assert households_with_losses_to_harvest(as_of=today) == [harvestable.household_id]

    seen = []
    real = harvest_module.harvest_proposals_create
    monkeypatch.setattr(
        harvest_module, "harvest_proposals_create", lambda **kw: seen.append(kw["household"].pk) or real(**kw)
    )
    assert services.harvest_scan_run() == 1  # the grouped account's harvest, on the group's model
    assert seen == [harvestable.household_id]  # bob's household is not even read
    proposal = RebalanceProposal.objects.get(account=harvestable)
    assert {r["symbol"]: r["target_weight"] for r in proposal.drift_before}["VTI"] == "0.600000"


def test_the_daily_scan_harvests_each_household_once_a_day_and_skips_disabled_firms(harvestable):
    from trading.tasks import harvest_scan

    assert harvest_scan() == 1
    assert harvest_scan() == 1  # the rerun replaces the open proposal
    assert RebalanceProposal.objects.filter(status="proposed").count() == 1
    HarvestSettings.objects.create(firm=harvestable.household.firm, enabled=False)
    assert harvest_scan() == 0


def test_the_api_harvests_for_the_households_advisor_only(api, alice, bob, charlie, harvestable):
    url = f"/api/v1/households/{harvestable.household_id}/harvest-proposals/"
    for user in (bob.user, charlie):
        assert api(user).post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="h-x").status_code == 404
    response = api(alice.user).post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="h-1")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["harvests"] == [
        {
            "account": harvestable.pk,
            "symbol": "VTI",
            "substitute": "SCHB",
            "quantity": "300",
            "substitute_quantity": "1232",
            "loss": "15000.00",
        }
    ]
    assert [p["account"] for p in body["proposals"]] == [harvestable.pk]


def test_the_household_page_makes_a_group_harvests_and_lists_the_losses(verified_client, alice, harvestable, bob):
    url = f"/households/{harvestable.household_id}/tax/"
    assert verified_client(bob.user).get(url).status_code == 404
    client = verified_client(alice.user)
    page = client.get(url)
    assert page.status_code == 200 and b"No harvests yet." in page.content
    response = client.post(f"/households/{harvestable.household_id}/harvest/")
    assert response.status_code == 302
    page = client.get(url)
    assert page.content.count(b"data-proposal=") == 1 and b"15,000.00" in page.content
    # A group needs two accounts: the form says so.
    bad = client.post(
        f"/households/{harvestable.household_id}/groups/new/",
        {"name": "Family", "model": harvestable.model_id, "accounts": [harvestable.pk], "drift_threshold": "5"},
    )
    assert bad.status_code == 400 and b"at least two accounts" in bad.content
    ira = account_with(harvestable.household, account_type="roth_ira", name="Roth")
    profiled_owner(harvestable.household)  # the Roth takes the group's model: it must suit the owners
    made = client.post(
        f"/households/{harvestable.household_id}/groups/new/",
        {"name": "Family", "model": harvestable.model_id, "accounts": [harvestable.pk, ira.pk], "drift_threshold": "5"},
    )
    assert made.status_code == 302
    assert b"Family" in client.get(url).content
    ira.refresh_from_db()
    assert ira.model_id == harvestable.model_id


def test_a_harvest_sells_its_loss_lots_even_when_the_account_relieves_fifo(alice_household, securities):
    """100 VTI bought at 150 (a 5,000 gain at 200) listed first, 100 at 250 (a 5,000 loss): the
    harvest sells the second lot's 100; under the account's FIFO a plain sell would take the first."""
    make_security("SCHB", "48.70")
    model = model_of(alice_household.firm, {"VTI": "1"})
    SubstitutionPair.objects.create(
        model=model, security=Security.objects.get(symbol="VTI"), substitute=Security.objects.get(symbol="SCHB")
    )
    account = account_with(
        alice_household, positions=[("VTI", "100", "150"), ("VTI", "100", "250")], model=model,
        lot_relief_method="fifo",
    )  # fmt: skip
    [proposal] = services.harvest_proposals_create(
        household=alice_household, acting_user=alice_household.advisor.user
    ).proposals
    assert [(t.symbol, t.side, t.quantity) for t in proposal.trades.order_by("position")][0] == (
        "VTI",
        "sell",
        D("100"),
    )
    orders = services.proposal_approve(proposal=proposal, acting_user=alice_household.advisor.user)
    assert Order.objects.get(pk=orders[0].pk).lot_selection == {"method": "hifo"}
    _fill_all(orders[:1], None)
    [row] = selectors.harvested_losses(account_ids=[account.pk])
    assert row["realised"] == D("-5000.00")


def test_households_read_together_are_read_as_each_alone_in_a_fixed_number_of_queries(
    alice, bob, harvestable, bob_household, django_assert_max_num_queries
):
    """The daily scan reads its households a batch at a time (`harvest_snapshots`): each
    household's input is the one `harvest_snapshot` reads for it alone -- its own accounts, lots,
    purchases, open buys, open proposals' buys and prices, never another household's -- and two
    households cost what one does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Household
    from trading.services.harvest import harvest_settings_for, harvest_snapshot, harvest_snapshots

    today = timezone.localdate()
    # Alice: an IRA measured against the household group's model, not its own (regrouped).
    own = model_of(alice.firm, {"VTI": "0.3", "BND": "0.7"})
    ira = account_with(harvestable.household, account_type="roth_ira", model=own, positions=[("BND", "20", "75")])
    profiled_owner(harvestable.household)
    portfolio_services.rebalancing_group_create(
        household=harvestable.household, name="Family", model=harvestable.model, accounts=[harvestable, ira],
        acting_user=alice.user,
    )  # fmt: skip
    # Joining put the IRA on the group's model; an account grouped before that rule keeps its own.
    type(ira).objects.filter(pk=ira.pk).update(model=own)
    # Bob: a loss on another model with its own pair, an IRA, an open buy and an open proposal.
    make_security("ITOT", "100")
    theirs = model_of(bob.firm, {"VTI": "0.5", "BND": "0.5"})
    SubstitutionPair.objects.create(
        model=theirs, security=Security.objects.get(symbol="VTI"), substitute=Security.objects.get(symbol="ITOT")
    )
    taxable = account_with(bob_household, cash="5000", positions=[("VTI", "20", "260")], model=theirs)
    account_with(bob_household, positions=[("BND", "10", "80")], account_type="roth_ira", model=theirs)
    services.order_create(
        account=taxable, security="BND", side="buy", quantity=D("3"), acting_user=bob.user, source=Order.Source.ADVISOR
    )
    services.proposal_create_for_accounts(account_ids=[taxable.pk], acting_user=bob.user)
    households = list(Household.objects.filter(pk__in=[harvestable.household_id, bob_household.pk]).order_by("pk"))
    settings_of = {alice.firm.pk: harvest_settings_for(alice.firm.pk)}
    alone = {h.pk: harvest_snapshot(h, as_of=today, settings=settings_of[h.firm_id]) for h in households}
    with CaptureQueriesContext(connection) as one:
        harvest_snapshots(households[:1], as_of=today, settings_of=settings_of)
    with django_assert_max_num_queries(len(one)):
        together = harvest_snapshots(households, as_of=today, settings_of=settings_of)
    assert together == alone
    bobs = together[bob_household.pk][0]
    assert {a.account_id for a in bobs.accounts} == set(
        InvestmentAccount.objects.filter(household=bob_household).values_list("pk", flat=True)
    )
    assert "ITOT" in bobs.prices and "SCHB" not in bobs.prices
    assert [a.lot_id.split(":")[0] for a in bobs.acquisitions if isinstance(a.lot_id, str)] == ["order"]
    assert {a.lot_id.split(":")[0] for a in bobs.proposed_buys} == {"proposal-trade"}
    assert together[harvestable.household_id][0].proposed_buys == ()
    # The grouped IRA is measured against the group's 60/40, not its own 30/70.
    weights = {h.symbol: h.target_weight for h in together[harvestable.household_id][1][ira.pk].holdings}
    assert (weights["VTI"], weights["BND"]) == (D("0.6"), D("0.4"))
