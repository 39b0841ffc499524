"""Every role rule of compliance: who is a compliance officer, who may start a verification,
which firm's rows an officer reads (queues and the audit trail). Views, the API and the
selectors ask here; none of them writes a role check of its own."""

from collections.abc import Callable
from typing import Any

from django.db.models import Q

from accounts.models import Household, Investor, Role, User
from accounts.selectors import household_may_edit
from portfolios.models import Posting


def is_compliance_officer(user: User) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or Role.COMPLIANCE in user.roles))


def may_start_kyc(*, user: User, households: Any) -> bool:
    """A compliance officer, or the advisor who may edit one of the investor's `households`."""
    return is_compliance_officer(user) or any(household_may_edit(user=user, household=h) for h in households)


def may_start_kyc_in(*, user: User, household: Household) -> bool:
    """The same rule for one household (the page's section and its button)."""
    return may_start_kyc(user=user, households=[household])


def firm_filter(user: User, prefix: str) -> dict[str, Any]:
    """An officer works their own firm's queues; a superuser every firm's."""
    return {} if user.is_superuser else {f"{prefix}firm_id": user.firm_id}


def audit_reads_all_firms(user: User) -> bool:
    return bool(user.is_superuser)


# --- Firm scope ----------------------------------------------------------------------------------
#
# An officer reads the audit trail of their own firm only. Each history model maps to a filter
# on ITS HISTORY TABLE (rows carry the original's columns, and simple_history keeps the foreign
# keys joinable) that keeps the rows of one firm. A model missing here is invisible to everyone
# but a superuser (fail closed); FIRMLESS lists the models that belong to no firm and are shown
# to every officer. tests/compliance/test_audit_scope.py fails when a history model is in neither.

FirmFilter = Callable[[int], Q]


def _path(lookup: str) -> FirmFilter:
    return _any_path(lookup)


def _any_path(*lookups: str) -> FirmFilter:
    def build(firm_id: int) -> Q:
        q = Q()
        for lookup in lookups:
            q |= Q(**{lookup: firm_id})
        return q

    build.paths = lookups  # type: ignore[attr-defined]  # the read cache's scopes follow them too
    return build


def _user_of_firm(firm_id: int) -> Q:
    # Staff carry the firm; an investor's login belongs to the firm of their Investor record.
    return Q(firm_id=firm_id) | Q(id__in=Investor.objects.filter(firm_id=firm_id).values("user_id"))


def _entry_of_firm(firm_id: int) -> Q:
    # A journal entry belongs to the firms whose books it posts to (client books through the
    # account's household, system books through their own firm).
    postings = Posting.objects.filter(Q(book__firm_id=firm_id) | Q(book__account__household__firm_id=firm_id))
    return Q(id__in=postings.values("entry_id"))


ACCOUNT = "account__household__firm_id"
FIRM_SCOPE: dict[str, FirmFilter] = {
    # accounts
    "accounts.Firm": _path("id"),
    "accounts.Advisor": _path("firm_id"),
    "accounts.WebhookSubscription": _path("firm_id"),
    "accounts.Household": _path("firm_id"),
    "accounts.HouseholdMember": _path("household__firm_id"),
    "accounts.Investor": _path("firm_id"),
    "accounts.User": _user_of_firm,
    "accounts.InvestorInvitation": _path("investor__firm_id"),
    # portfolios
    "portfolios.InvestmentAccount": _path("household__firm_id"),
    "portfolios.CashBalance": _path(ACCOUNT),
    "portfolios.Position": _path(ACCOUNT),
    "portfolios.TaxLot": _path(ACCOUNT),
    "portfolios.LotClosure": _path(f"lot__{ACCOUNT}"),
    "portfolios.WashSaleAdjustment": _path(f"closure__lot__{ACCOUNT}"),
    "portfolios.ValuationSnapshot": _path(ACCOUNT),
    "portfolios.ModelPortfolio": _path("firm_id"),
    "portfolios.ModelTarget": _path("model__firm_id"),
    "portfolios.LedgerBook": _any_path("firm_id", ACCOUNT),
    "portfolios.Posting": _any_path("book__firm_id", f"book__{ACCOUNT}"),
    "portfolios.JournalEntry": _entry_of_firm,
    "portfolios.AccountOwner": _path(ACCOUNT),
    "portfolios.Beneficiary": _path(ACCOUNT),
    "portfolios.CorporateActionEntitlement": _path(ACCOUNT),
    "portfolios.Benchmark": _path("firm_id"),
    "portfolios.BenchmarkComponent": _path("benchmark__firm_id"),
    "portfolios.HouseholdBenchmark": _path("household__firm_id"),
    "portfolios.RebalancingGroup": _path("household__firm_id"),
    "portfolios.RebalancingGroupMember": _path("group__household__firm_id"),
    "portfolios.HarvestSettings": _path("firm_id"),
    "portfolios.SubstitutionPair": _path("model__firm_id"),
    # trading
    "trading.BankLink": _path(ACCOUNT),
    "trading.CashTransfer": _path(ACCOUNT),
    "trading.Order": _path(ACCOUNT),
    "trading.OrderCheck": _path(f"order__{ACCOUNT}"),
    "trading.Execution": _path(f"order__{ACCOUNT}"),
    "trading.FillAnomaly": _path(f"order__{ACCOUNT}"),
    "trading.RebalanceProposal": _path(ACCOUNT),
    "trading.ProposalTrade": _path(f"proposal__{ACCOUNT}"),
    "trading.CustodianAccountRequest": _path(ACCOUNT),
    "trading.HarvestRecord": _path(ACCOUNT),
    "trading.BlockOrder": _path("firm_id"),
    "trading.BlockExecution": _path("block__firm_id"),
    # compliance
    "compliance.AMLCase": _path("investor__firm_id"),
    "compliance.AMLScreening": _path("investor__firm_id"),
    "compliance.KYCVerification": _path("investor__firm_id"),
    "compliance.RiskProfile": _path("investor__firm_id"),
    "compliance.SuitabilityCase": _path(ACCOUNT),
    "compliance.ComplianceSettings": _path("firm_id"),
    "compliance.RestrictedSecurity": _path("firm_id"),
    # operations
    "operations.BillingRun": _path("firm_id"),
    "operations.FeeSchedule": _path("firm_id"),
    "operations.FeeTier": _path("schedule__firm_id"),
    "operations.FeeAssignment": _path("household__firm_id"),
    "operations.FeeCharge": _path("billing_run__firm_id"),
    "operations.ReconciliationBreak": _path(ACCOUNT),
    "operations.BillingSettings": _path("firm_id"),
    "operations.AccountBilling": _path(ACCOUNT),
    # onboarding
    "onboarding.AgreementTemplate": _path("firm_id"),
    "onboarding.Signature": _path("household__firm_id"),
    "onboarding.HouseholdDocument": _path("household__firm_id"),
    # reports
    "reports.FirmBranding": _path("firm_id"),
    "reports.StatementBatch": _path("firm_id"),
    "reports.Statement": _path("firm_id"),
}

# Belonging to no firm, shown to every officer: the security master, its corporate actions and the
# sanctions watch list (public market / regulatory reference data, no client in them).
FIRMLESS: frozenset[str] = frozenset({"portfolios.Security", "portfolios.CorporateAction", "compliance.WatchlistEntry"})


def audit_firm_filter(label: str, *, firm_id: int | None, all_firms: bool) -> Q | None:
    """The filter keeping the rows of history model `label` the viewer may read; None when they
    may read none (fail closed)."""
    if all_firms or label in FIRMLESS:
        return Q()
    scope = FIRM_SCOPE.get(label)
    if scope is None or firm_id is None:
        return None
    return scope(firm_id)


def register_read_cache_scopes() -> None:
    """Name each audited model's firm for the read cache (`kronos.readcache.scopes`), by the same
    paths as the audit trail's firm filter: a write touches only its firm's cached answers."""
    from django.apps import apps

    from kronos import readcache

    for label, scope in FIRM_SCOPE.items():
        paths = getattr(scope, "paths", None)
        if paths:
            readcache.register_paths(apps.get_model(label), *paths)
    readcache.register("accounts.User", _users_firms)
    # An entry is its postings: they are written with it (and a reversal is a new entry with
    # postings of its own), and each touches its book's firm.
    readcache.register("portfolios.JournalEntry", lambda rows: set())
    for label in FIRMLESS:
        readcache.register_shared(label)


def _users_firms(rows: Any) -> set[str]:
    from kronos import readcache

    firms = {u.firm_id for u in rows if u.firm_id is not None}
    others = [u.pk for u in rows if u.firm_id is None and u.pk is not None]
    if others:
        firms |= set(Investor.objects.filter(user_id__in=others).values_list("firm_id", flat=True))
    return {readcache.firm_scope(f) for f in firms}
