"""The catalogue of the authorization matrix (tests/test_authorization_matrix.py): the roles, the
URL patterns walked from the resolver, and which object an id in each URL refers to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

ROLES = ("investor", "advisor", "compliance", "operations", "anonymous")

# Not walked, each tested elsewhere: the admin (OTP-guarded Django admin), static files, the
# OpenAPI schema and its docs pages (public by design, no data), and the signature-protected
# webhooks (tests/trading/test_webhooks.py, tests/compliance).
EXCLUDED_PREFIXES = ("admin/", "static/", "api/v1/schema/", "api/v1/docs/", "api/v1/redoc/", "webhooks/")

# Which object an id in a URL refers to, by URL name. `side` objects live in firm 2 (every role
# is a stranger there) and, for household-level objects, in bob's household (a stranger to
# alice and charlie). A value is the kind of object (a key of World.objects) or a callable
# (world, side) -> the URL's kwargs, for patterns with several parameters.
OBJECT_OF: dict[str, Any] = {
    # accounts
    "api-household-detail": "household",
    "api-webhook-subscription-detail": "webhook_subscription",
    "accounts:household_detail": "household",
    "accounts:household_edit": "household",
    "accounts:password_reset_confirm": lambda w, side: {
        "uidb64": w.uidb64(side),
        "token": "set-password",
    },
    # portfolios
    "api-model-detail": "model",
    "api-account-detail": "account",
    "api-account-positions": "account",
    "api-account-transfers-in": "account",
    "api-account-drift": "account",
    "api-account-performance": "account",
    "api-account-lots": "account",
    "api-account-realized-gains": "account",
    "api-household-performance": "household",
    "portfolios:account_detail": "account",
    "portfolios:household_accounts": "household",
    "portfolios:account_settings": "account",
    "portfolios:account_gains": "account",
    "portfolios:household_gains": "household",
    "portfolios:transfer_in": "account",
    "portfolios:model_edit": "model",
    # trading
    "api-proposal-create": "account",
    "api-household-rebalance-create": "household",
    "api-household-harvest-create": "household",
    "api-proposal-detail": "proposal",
    "api-proposal-approve": "proposal",
    "api-order-detail": "order",
    "api-order-cancel": "order",
    "api-deposit-create": "account",
    "api-withdrawal-create": "account",
    "api-account-transactions": "account",
    "trading:account_trading": "account",
    "trading:order_create": "account",
    "trading:transfer_create": "account",
    "trading:proposal_create": "account",
    "trading:proposal_detail": "proposal",
    "trading:proposal_approve": "proposal",
    "trading:proposal_discard": "proposal",
    "trading:order_cancel": "order",
    "trading:household_tax": "household",
    "trading:group_create": "household",
    "trading:group_propose": "household",
    "trading:harvest_create": "household",
    "trading:model_rebalance": "model",
    # compliance
    "api-household-kyc": "household",
    "api-investor-kyc": "investor",
    "api-investor-risk-profile": "investor",
    "api-order-checks": "order",
    "compliance:kyc_decide": "kyc",
    "compliance:aml_case": "aml_case",
    "compliance:suitability_resolve": "suitability_case",
    "compliance:order_decide": "order",
    "compliance:household_section": "household",
    "compliance:kyc_start": "investor",
    "compliance:risk_questionnaire": "investor",
    # onboarding
    "api-household-investors": "household",
    "api-investor-detail": "investor",
    "api-household-onboarding": "household",
    "api-household-onboarding-submit": "household",
    "api-household-documents": "household",
    "api-document-download": lambda w, side: {"pk": _document_in(w, side)},
    "onboarding:household": "household",
    "onboarding:household_section": "household",
    "onboarding:household_submit": "household",
    "onboarding:investor_new": "household",
    "onboarding:account_new": "household",
    "onboarding:sign": lambda w, side: {"pk": w.objects[side]["household"].pk, "kind": "form_adv"},
    "onboarding:investor": "investor",
    "onboarding:invitation": lambda w, side: {"uidb64": w.uidb64(side), "token": "set-password"},
    "onboarding:document": lambda w, side: {"pk": _document_in(w, side)},
    # operations
    "operations:job_detail": "job",
    "operations:break_resolve": "break",
    "operations:billing_detail": "billing_run",
    "operations:billing_approve": "billing_run",
    "operations:billing_file": "billing_run",
    # reports
    "reports:statement_detail": lambda w, side: {"pk": _statement_in(w, side)},
    "reports:statement_pdf": lambda w, side: {"pk": _statement_in(w, side)},
    "reports:statement_retry": lambda w, side: {"pk": _statement_in(w, side)},
    "reports:batch_detail": lambda w, side: {"pk": _batch_in(w, side)},
    "reports:account_statements": "account",
    "reports:export_holdings_csv": "household",
    "reports:export_holdings_xlsx": "household",
    "reports:export_transactions_csv": "account",
    "reports:export_transactions_xlsx": "account",
    "reports:export_performance_csv": "account",
    "reports:export_performance_xlsx": "account",
    "reports:export_billing_csv": "billing_run",
    "reports:export_billing_xlsx": "billing_run",
    "api-account-statements": "account",
    "api-account-statement-detail": lambda w, side: {
        "pk": w.objects[side]["account"].pk,
        "statement_id": _statement_in(w, side),
    },
    "api-account-statement-pdf": lambda w, side: {
        "pk": w.objects[side]["account"].pk,
        "statement_id": _statement_in(w, side),
    },
    # notifications: a user's own only
    "notifications:mark_read": "notification",
    "api-notification-read": "notification",
    "operations:billing_invoice": lambda w, side: {
        "pk": w.objects[side]["billing_run"].pk,
        "household_pk": w.objects[side]["household"].pk,
    },
    # the OAuth provider's pages: another user's clients and tokens
    "oauth2_provider:detail": "oauth_application",
    "oauth2_provider:delete": "oauth_application",
    "oauth2_provider:update": "oauth_application",
    "oauth2_provider:authorized-token-delete": "oauth_token",
    "oauth2_provider:dcr-register-management": lambda w, side: {"client_id": w.objects[side]["oauth_client_id"]},
    "oauth2_provider:device-confirm": lambda w, side: {
        "client_id": w.objects[side]["oauth_client_id"],
        "user_code": "ABCD-EFGH",
    },
    "oauth2_provider:device-grant-status": lambda w, side: {
        "client_id": w.objects[side]["oauth_client_id"],
        "user_code": "ABCD-EFGH",
    },
}


def _document_in(world: Any, side: str) -> int:
    """A signed-agreement document of the side's household (made on first use)."""
    from onboarding.models import HouseholdDocument

    household = world.objects[side]["household"]
    document = HouseholdDocument.objects.filter(household=household).first() or HouseholdDocument.objects.create(
        household=household,
        title="Agreement",
        kind="privacy_notice",
        filename="a.pdf",
        content=b"%PDF-",
        sha256="0",
        size=5,
    )
    return document.pk


def _statement_in(world: Any, side: str) -> int:
    """A ready statement (its PDF in the household's documents) of the side's account (made on first use)."""
    from datetime import date

    from accounts.services import system_user
    from onboarding.models import HouseholdDocument
    from reports.models import Statement

    account = world.objects[side]["account"]
    found = Statement.objects.filter(account=account).first()
    if found is not None:
        return found.pk
    document = HouseholdDocument.objects.create(
        household=account.household,
        title="Statement",
        kind="statement",
        filename="s.pdf",
        content=b"%PDF-",
        sha256="0",
        size=5,
        as_of=date(2025, 3, 31),
    )
    statement = Statement.objects.create(
        firm_id=account.household.firm_id,
        household=account.household,
        account=account,
        period_start=date(2025, 1, 1),
        period_end=date(2025, 3, 31),
        status="ready",
        document=document,
        as_of=date(2025, 3, 31),
        sha256="0",
        requested_by=system_user(),
    )
    return statement.pk


def _batch_in(world: Any, side: str) -> int:
    """A statement batch of the side's advisor's book, holding the side's statement (made on first use)."""
    from accounts.services import system_user
    from reports.models import Statement, StatementBatch

    household = world.objects[side]["household"]
    batch = StatementBatch.objects.filter(advisor=household.advisor).first()
    if batch is None:
        statement = Statement.objects.get(pk=_statement_in(world, side))
        batch = StatementBatch.objects.create(
            firm_id=household.firm_id,
            advisor=household.advisor,
            period_end=statement.period_end,
            total=1,
            done=1,
            status="done",
            created_by=system_user(),
        )
        batch.statements.add(statement)
    return batch.pk


# Objects that are not a firm's (a job run covers every firm): the roles that may see them.
GLOBAL_FOR: dict[str, set[str]] = {"job": {"operations", "compliance"}}

# A 2xx on these is not a leak when the body shows nothing of the other side: the password
# reset page answers "this link is invalid" to any uid.
ANSWERS_ANYONE = {"accounts:password_reset_confirm"}

ID_NAME = re.compile(r"^(pk|id|uidb64|.+_id)$")


@dataclass(frozen=True)
class Pattern:
    route: str
    name: str
    params: tuple[str, ...]
    id_params: tuple[str, ...]
    is_api: bool


def walk(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "", inherited=()) -> list[Pattern]:
    """Every URL pattern of the project, with its full route, namespaced name and parameters."""
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        params = inherited + tuple(_params(entry))
        if isinstance(entry, URLResolver):
            ns = ":".join(x for x in (namespace, entry.namespace) if x)
            found += walk(entry, route, ns, params)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else (entry.name or route)
            ids = tuple(p for p, conv in params if isinstance(conv, IntConverter) or ID_NAME.match(p))
            found.append(Pattern(route, name, tuple(p for p, _ in params), ids, route.startswith("api/")))
    return found


def _params(entry) -> list[tuple[str, Any]]:
    pattern = entry.pattern
    converters = getattr(pattern, "converters", None)
    if converters is not None and converters:
        return list(converters.items())
    regex = getattr(pattern, "regex", None)
    return [(name, None) for name in regex.groupindex] if regex is not None else []


def walked() -> list[Pattern]:
    return [p for p in walk() if not p.route.startswith(EXCLUDED_PREFIXES)]
