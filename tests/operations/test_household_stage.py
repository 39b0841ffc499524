"""The nightly chain and the household's own work: rebalancing groups are brought to target by
the `household_rebalancing` stage (not account by account by the drift scan), and a harvest
proposal waiting for its advisor survives the night's drift scan."""

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from kronos.celery import app
from operations import jobs
from operations.engine.calendar import last_trading_day_on_or_before
from operations.models import JobRun
from portfolios import services as portfolio_services
from portfolios.models import InvestmentAccount, Price, Security, SubstitutionPair
from tests.trading.factories import account_with, make_security, model_of, securities  # noqa: F401
from trading import services
from trading.models import Order, RebalanceProposal

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


@pytest.fixture
def day():
    """A trading day, and every clock of the process on it (at noon in the firm's zone): today, or
    the last trading day before it on a weekend or a holiday, when the nightly stages pass over —
    the tests run every day of the week. The test's prices are dated that day (the factories price
    `date.today()`), so the fixture comes before the ones that make securities."""
    on = last_trading_day_on_or_before(timezone.localdate())
    noon = datetime.combine(on, time(12), tzinfo=ZoneInfo(settings.TIME_ZONE))
    with time_machine.travel(noon, tick=True):
        assert timezone.localdate() == date.today() == on
        yield on


@pytest.fixture
def household_group(alice, alice_household, securities):  # noqa: F811 -- the fixture imported above
    """The engine's known answer (tests/trading/test_household_rebalancing.py): taxable 250 VTI,
    IRA 200 VTI and 100 BND, a 60/40 VTI/BND group; the IRA sells 159 VTI and buys 454 BND."""
    Security.objects.filter(symbol="BND").update(asset_class="bonds")
    model = model_of(alice_household.firm, {"VTI": "0.6", "BND": "0.4"})
    taxable = account_with(alice_household, positions=[("VTI", "250", "100")], name="Joint taxable", model=model)
    ira = account_with(
        alice_household,
        positions=[("VTI", "200", "150"), ("BND", "100", "75")],
        account_type="traditional_ira",
        name="Spouse IRA",
        model=model,
    )
    group = portfolio_services.rebalancing_group_create(
        household=alice_household, name="Family", model=model, accounts=[taxable, ira], acting_user=alice.user
    )
    return group, taxable, ira


def _run(stage: str, day: date, django_capture_on_commit_callbacks) -> JobRun:
    with django_capture_on_commit_callbacks(execute=True):
        jobs.stage_start(stage, day)
    return JobRun.objects.get(job=stage, business_date=day)


def test_the_drift_scan_leaves_a_group_to_the_household_stage_which_trades_the_ira(
    eager, day, household_group, django_capture_on_commit_callbacks
):
    group, taxable, ira = household_group
    # Alone, the taxable account (all VTI) is 40 points off its model: the drift scan would sell it.
    scan = _run("drift_scan", day, django_capture_on_commit_callbacks)
    assert scan.status == JobRun.Status.SUCCEEDED
    assert not RebalanceProposal.objects.exists()

    run = _run("household_rebalancing", day, django_capture_on_commit_callbacks)
    assert run.status == JobRun.Status.SUCCEEDED
    assert (run.counts.get("groups"), run.counts.get("proposals")) == (1, 1)
    [proposal] = RebalanceProposal.objects.all()
    assert proposal.account_id == ira.pk and proposal.status == RebalanceProposal.Status.PROPOSED
    assert [(t.side, t.symbol, t.quantity) for t in proposal.trades.order_by("position")] == [
        ("sell", "VTI", D("159")),
        ("buy", "BND", D("454")),
    ]
    assert not Order.objects.exists()  # approval mode: the advisor decides


def test_an_automatic_account_of_the_group_is_approved_by_the_stage(
    eager, day, household_group, django_capture_on_commit_callbacks
):
    group, taxable, ira = household_group
    InvestmentAccount.objects.filter(pk=ira.pk).update(rebalance_mode=InvestmentAccount.RebalanceMode.AUTOMATIC)
    run = _run("household_rebalancing", day, django_capture_on_commit_callbacks)
    assert run.counts.get("auto_approved") == 1
    [proposal] = RebalanceProposal.objects.all()
    assert proposal.status == RebalanceProposal.Status.APPROVED
    assert sorted((o.side, o.security.symbol, o.quantity) for o in Order.objects.all()) == [
        ("buy", "BND", D("454")),
        ("sell", "VTI", D("159")),
    ]


def test_a_group_waits_while_one_of_its_accounts_has_a_harvest_proposal(
    eager, day, alice, household_group, django_capture_on_commit_callbacks
):
    group, taxable, ira = household_group
    make_security("SCHB", "48.70")
    SubstitutionPair.objects.create(
        model=group.model, security=Security.objects.get(symbol="VTI"), substitute=Security.objects.get(symbol="SCHB")
    )
    Price.objects.filter(security__symbol="VTI").update(close=D("80"))  # taxable's VTI lot at 100: a loss
    harvest = services.harvest_proposals_create(household=taxable.household, acting_user=alice.user, automatic=False)
    [proposal] = harvest.proposals
    assert proposal.account_id == taxable.pk

    run = _run("household_rebalancing", day, django_capture_on_commit_callbacks)
    assert run.counts.get("groups_waiting") == 1 and not run.counts.get("groups")
    proposal.refresh_from_db()
    assert proposal.status == RebalanceProposal.Status.PROPOSED
    assert RebalanceProposal.objects.count() == 1


@pytest.fixture
def waiting_harvest(alice, alice_household, securities):  # noqa: F811 -- the fixture imported above
    """300 VTI at 250 (now 200: -15,000) on a 60/40 VTI/BND model with VTI -> SCHB, far off the
    model (no BND): the drift scan would trade it. Its harvest proposal waits for the advisor."""
    make_security("SCHB", "48.70")
    model = model_of(alice_household.firm, {"VTI": "0.6", "BND": "0.4"})
    SubstitutionPair.objects.create(
        model=model, security=Security.objects.get(symbol="VTI"), substitute=Security.objects.get(symbol="SCHB")
    )
    account = account_with(alice_household, cash="30.00", positions=[("VTI", "300", "250")], model=model)
    [harvest] = services.harvest_proposals_create(
        household=alice_household, acting_user=alice.user, automatic=False
    ).proposals
    return account, harvest


def test_a_harvest_proposal_awaiting_its_advisor_survives_the_nights_drift_scan(
    eager, day, waiting_harvest, django_capture_on_commit_callbacks
):
    """The drift scan replaces an account's open proposals; a harvest is not its to replace."""
    account, harvest = waiting_harvest
    scan = _run("drift_scan", day, django_capture_on_commit_callbacks)
    assert scan.status == JobRun.Status.SUCCEEDED
    harvest.refresh_from_db()
    assert harvest.status == RebalanceProposal.Status.PROPOSED
    assert list(RebalanceProposal.objects.filter(account=account)) == [harvest]


def test_a_harvest_proposal_of_an_earlier_day_is_the_drift_scans_to_replace(
    eager, day, waiting_harvest, django_capture_on_commit_callbacks
):
    """The harvest scan proposes again each day while the loss lasts; a stale one (the loss gone,
    or the advisor away) must not hold the account out of its rebalancing for good."""
    from datetime import timedelta

    account, harvest = waiting_harvest
    RebalanceProposal.objects.filter(pk=harvest.pk).update(as_of=day - timedelta(days=1))

    _run("drift_scan", day, django_capture_on_commit_callbacks)
    harvest.refresh_from_db()
    assert harvest.status == RebalanceProposal.Status.EXPIRED
    assert RebalanceProposal.objects.filter(account=account, status=RebalanceProposal.Status.PROPOSED).count() == 1
