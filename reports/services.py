"""Writes of reports: asking for a statement or a performance report, generating it (figures, PDF,
the household's document, the `statement.ready` event), batches of them with their counts, and
the firm's branding.

Generation is a Celery task per statement (`reports.generate_statement`), queued after the
commit that asked for it. A failure is recorded on the statement (attempts, the error, status
`retrying`) and retried with backoff; after `MAX_ATTEMPTS` it is `failed` and stays on the batch's
page with its error until someone retries it — a statement is never silently missing. The sweep
(`statements_sweep`, periodic) re-sends any queued or retrying statement whose task was lost
(a broker outage drops a send: `kronos.relay`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import Advisor, Firm, Household, User
from accounts.services import event_emit, firm_today, system_user
from kronos.history import save_attributed
from kronos.relay import enqueue_after_commit
from onboarding.pdf import render_pdf
from onboarding.services import document_store
from portfolios.models import InvestmentAccount
from reports import charts, selectors
from reports.errors import ReportsError
from reports.models import Statement, StatementBatch, StatementKind

logger = logging.getLogger(__name__)

GENERATE_TASK = "reports.generate_statement"
MAX_ATTEMPTS = 3
#: Seconds before the n-th retry: 30 s, 2 min, 8 min (then failed).
BACKOFF_BASE = 30
#: A queued or retrying statement untouched this long has lost its task: the sweep re-sends it.
STALE_AFTER = timedelta(minutes=15)


def backoff_seconds(attempts: int) -> int:
    """Delay before retrying after `attempts` failed attempts (exponential, base 4)."""
    return int(BACKOFF_BASE * 4 ** max(0, attempts - 1))


def _validate_period_end(*, firm: Firm, period_end: date, opened_on: date | None) -> None:
    today = firm_today(firm)
    if period_end > today:
        raise ReportsError("The period end cannot be in the future.", field="period_end")
    if opened_on is not None and period_end < opened_on:
        raise ReportsError("The account was not open at the period end.", field="period_end")


def _enqueue(statement: Statement) -> None:
    enqueue_after_commit(GENERATE_TASK, statement.pk)


def _requeue(statement: Statement, *, acting_user: User | None) -> Statement:
    statement.status = Statement.Status.QUEUED
    statement.attempts = 0
    statement.error = ""
    save_attributed(statement, acting_user=acting_user, reason="statement queued again", validate=False)
    return statement


def statement_request(
    *, account: InvestmentAccount, period_end: date, acting_user: User, kind: str = StatementKind.STATEMENT
) -> Statement:
    """Ask for an account's statement for the quarter to `period_end`, and queue its generation.

    Validated: the period end is not in the future nor before the account opened. Idempotent:
    the account has one statement per period end; asking again returns it (a failed one is
    queued again, its attempts reset)."""
    household = account.household
    _validate_period_end(firm=household.firm, period_end=period_end, opened_on=account.opened_on)
    return _request(kind=kind, household=household, account=account, period_end=period_end, acting_user=acting_user)


def report_request(*, household: Household, period_end: date, acting_user: User) -> Statement:
    """Ask for a household's performance report to `period_end` and queue it (as `statement_request`)."""
    _validate_period_end(firm=household.firm, period_end=period_end, opened_on=None)
    return _request(
        kind=StatementKind.PERFORMANCE_REPORT,
        household=household,
        account=None,
        period_end=period_end,
        acting_user=acting_user,
    )


def _existing(kind: str, household: Household, account: InvestmentAccount | None, period_end: date) -> Statement | None:
    qs = Statement.objects.select_for_update().filter(kind=kind, period_end=period_end)
    qs = qs.filter(account=account) if account is not None else qs.filter(household=household, account__isnull=True)
    return qs.first()


def _request(
    *, kind: str, household: Household, account: InvestmentAccount | None, period_end: date, acting_user: User
) -> Statement:
    with transaction.atomic():
        statement = _existing(kind, household, account, period_end)
        if statement is None:
            statement = Statement(
                kind=kind,
                firm_id=household.firm_id,
                household=household,
                account=account,
                period_start=selectors.quarter_start(period_end),
                period_end=period_end,
                requested_by=acting_user,
            )
            try:
                with transaction.atomic():
                    save_attributed(statement, acting_user=acting_user, reason="statement requested")
            except IntegrityError:  # a concurrent request made it first
                found = _existing(kind, household, account, period_end)
                if found is None:
                    raise
                return found
            _enqueue(statement)
        elif statement.status == Statement.Status.FAILED:
            _requeue(statement, acting_user=acting_user)
            _enqueue(statement)
    return statement


# --- Generation ------------------------------------------------------------------------------


def _render(statement: Statement) -> tuple[bytes, str, str]:
    """The PDF of a statement or report, its title and file name."""
    household = statement.household
    branding = selectors.branding_for(household.firm)
    if statement.kind == StatementKind.STATEMENT:
        assert statement.account is not None
        figures = selectors.statement_figures(statement.account, period_end=statement.period_end)
        pdf = render_pdf("reports/statement.pdf.html", {"f": figures, "branding": branding})
        title = f"Statement {figures.account_name} ({figures.account_number}) to {statement.period_end:%Y-%m-%d}"
        filename = f"statement-{figures.account_number or statement.account_id}-{statement.period_end:%Y%m%d}.pdf"
        return pdf, title, filename
    report = selectors.household_report(household, period_end=statement.period_end)
    chart = charts.allocation_svg([(s.label, s.weight) for s in report.allocation])
    pdf = render_pdf("reports/performance_report.pdf.html", {"r": report, "branding": branding, "chart": chart})
    title = f"Performance report {household.name} to {statement.period_end:%Y-%m-%d}"
    filename = f"performance-{household.pk}-{statement.period_end:%Y%m%d}.pdf"
    return pdf, title, filename


def statement_api_url(statement: Statement) -> str | None:
    """The API address of a ready statement's PDF (None until it is ready)."""
    if statement.status != Statement.Status.READY:
        return None
    if statement.account_id is not None:
        return reverse("api-account-statement-pdf", kwargs={"pk": statement.account_id, "statement_id": statement.pk})
    return reverse("reports:statement_pdf", kwargs={"pk": statement.pk})


@dataclass(frozen=True)
class GenerateOutcome:
    statement: Statement
    retry_in: int | None  # seconds before the next attempt, when it failed and will be retried


def statement_generate(*, statement_id: int, acting_user: User | None = None) -> GenerateOutcome:
    """Generate one statement: its figures, the PDF (branded), the household's document with the
    data's as-of date and SHA-256, status `ready`, and the `statement.ready` event — in one
    transaction. Idempotent: a ready statement is left as it is. On any error the statement keeps
    the attempt and the error (`retrying`, or `failed` after MAX_ATTEMPTS) and the batch counts
    move; the caller retries after `retry_in` seconds."""
    actor = acting_user or system_user()
    try:
        with transaction.atomic():
            statement = (
                Statement.objects.select_for_update(of=("self",))
                .select_related("household__firm", "account__household")
                .get(pk=statement_id)
            )
            if statement.status in (Statement.Status.READY, Statement.Status.FAILED):
                return GenerateOutcome(statement, None)
            pdf, title, filename = _render(statement)
            document = document_store(
                household=statement.household,
                title=title,
                kind=statement.kind,
                filename=filename,
                content=pdf,
                as_of=statement.period_end,
                acting_user=actor,
            )
            statement.document = document
            statement.as_of = document.as_of
            statement.sha256 = document.sha256
            statement.status = Statement.Status.READY
            statement.attempts += 1
            statement.error = ""
            statement.ready_at = timezone.now()
            save_attributed(statement, acting_user=actor, reason="statement generated", validate=False)
            event_emit(
                kind="statement.ready",
                firm=statement.firm_id,
                household=statement.household_id,
                account=statement.account_id,
                subject_type="statement",
                subject_id=statement.pk,
                payload={
                    "statement": statement.pk,
                    "kind": statement.kind,
                    "period_end": statement.period_end,
                    "as_of": statement.as_of,
                    "sha256": statement.sha256,
                    "url": statement_api_url(statement),
                },
            )
            _refresh_batches(statement)
            return GenerateOutcome(statement, None)
    except Statement.DoesNotExist:
        raise
    except Exception as exc:  # recorded on the statement and retried, never lost
        logger.exception("statement %s failed", statement_id)
        return _record_failure(statement_id, f"{type(exc).__name__}: {exc}", actor)


def _record_failure(statement_id: int, error: str, actor: User) -> GenerateOutcome:
    with transaction.atomic():
        statement = Statement.objects.select_for_update().get(pk=statement_id)
        if statement.status == Statement.Status.READY:
            return GenerateOutcome(statement, None)
        statement.attempts += 1
        statement.error = error[:500]
        retry = statement.attempts < MAX_ATTEMPTS
        statement.status = Statement.Status.RETRYING if retry else Statement.Status.FAILED
        save_attributed(statement, acting_user=actor, reason="statement failed", validate=False)
        _refresh_batches(statement)
    return GenerateOutcome(statement, backoff_seconds(statement.attempts) if retry else None)


def statement_retry(*, statement: Statement, acting_user: User) -> Statement:
    """Queue a failed statement again (the batch page's "Retry"); others are left as they are."""
    with transaction.atomic():
        statement = Statement.objects.select_for_update().get(pk=statement.pk)
        if statement.status != Statement.Status.FAILED:
            return statement
        _requeue(statement, acting_user=acting_user)
        _refresh_batches(statement)
        _enqueue(statement)
    return statement


def statements_sweep(*, now: datetime | None = None) -> int:
    """Re-send the task of every queued or retrying statement untouched for STALE_AFTER (its
    send was lost, or its retry's worker died). Returns how many were sent."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    ids = list(
        Statement.objects.filter(
            status__in=[Statement.Status.QUEUED, Statement.Status.RETRYING], updated_at__lt=cutoff
        ).values_list("pk", flat=True)[:5000]
    )
    for pk in ids:
        enqueue_after_commit(GENERATE_TASK, pk)
    return len(ids)


# --- Batches ---------------------------------------------------------------------------------


def _refresh_batches(statement: Statement) -> None:
    for batch in StatementBatch.objects.select_for_update().filter(statements=statement):
        batch_refresh(batch=batch)


def batch_refresh(*, batch: StatementBatch) -> StatementBatch:
    """Recount the batch from its statements (done, failed, total) and close it when none is pending."""
    counts = batch.statements.aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(status=Statement.Status.READY)),
        failed=Count("pk", filter=Q(status=Statement.Status.FAILED)),
    )
    batch.total, batch.done, batch.failed = counts["total"], counts["done"], counts["failed"]
    if batch.done + batch.failed == batch.total:
        batch.status = StatementBatch.Status.DONE_WITH_FAILURES if batch.failed else StatementBatch.Status.DONE
        batch.finished_at = batch.finished_at or timezone.now()
    else:
        batch.status = StatementBatch.Status.RUNNING
        batch.finished_at = None
    batch.save(update_fields=["total", "done", "failed", "status", "finished_at"])
    return batch


def _households_of(firm: Firm, advisor: Advisor | None) -> Iterable[Household]:
    qs = Household.objects.filter(firm=firm).exclude(status=Household.Status.PROSPECT)
    if advisor is not None:
        qs = qs.filter(advisor=advisor)
    return qs.order_by("pk")


def batch_start(
    *,
    firm: Firm,
    period_end: date,
    acting_user: User,
    advisor: Advisor | None = None,
    scheduled: bool = False,
    reports: bool = True,
) -> StatementBatch:
    """Statements for every open account of the firm (or one advisor's book) to `period_end`,
    and a performance report per household (`reports`), as one batch: one task per statement.

    Statements that exist already for the period join the batch as they are (ready ones count as
    done; failed ones are queued again). Written in bulk (with their history rows)."""
    _validate_period_end(firm=firm, period_end=period_end, opened_on=None)
    if advisor is not None and advisor.firm_id != firm.pk:
        raise ReportsError("The advisor is not of this firm.", field="advisor")
    start = selectors.quarter_start(period_end)
    with transaction.atomic():
        batch = StatementBatch(firm=firm, advisor=advisor, period_end=period_end, scheduled=scheduled)
        batch.created_by = acting_user
        save_attributed(batch, acting_user=acting_user, reason="statement batch started", validate=False)
        households = list(_households_of(firm, advisor))
        household_ids = [h.pk for h in households]
        # Accounts open at some time in the quarter: opened by its end, not closed before its start.
        accounts = list(
            InvestmentAccount.objects.filter(household_id__in=household_ids, opened_on__lte=period_end)
            .exclude(status=InvestmentAccount.Status.PENDING)
            .exclude(closed_on__lt=start)
            .values_list("pk", "household_id")
        )
        existing = (
            Statement.objects.select_for_update()
            .filter(period_end=period_end)
            .filter(
                Q(account_id__in=[a for a, _ in accounts]) | Q(household_id__in=household_ids, account__isnull=True)
            )
        )
        have_accounts = {s.account_id: s for s in existing if s.account_id is not None}
        have_reports = {s.household_id: s for s in existing if s.account_id is None}
        new = [
            Statement(
                kind=StatementKind.STATEMENT,
                firm=firm,
                household_id=household_id,
                account_id=account_id,
                period_start=start,
                period_end=period_end,
                requested_by=acting_user,
            )
            for account_id, household_id in accounts
            if account_id not in have_accounts
        ]
        with_accounts = {h for _, h in accounts}
        if reports:
            new += [
                Statement(
                    kind=StatementKind.PERFORMANCE_REPORT,
                    firm=firm,
                    household_id=h.pk,
                    account=None,
                    period_start=start,
                    period_end=period_end,
                    requested_by=acting_user,
                )
                for h in households
                if h.pk in with_accounts and h.pk not in have_reports
            ]
        created = bulk_create_with_history(
            new, Statement, batch_size=1000, default_user=acting_user, default_change_reason="statement batch"
        )
        joined = list(have_accounts.values()) + (list(have_reports.values()) if reports else [])
        for s in joined:
            if s.status == Statement.Status.FAILED:
                _requeue(s, acting_user=acting_user)
        members = [*created, *joined]
        Through = StatementBatch.statements.through
        Through.objects.bulk_create(
            [Through(statementbatch_id=batch.pk, statement_id=s.pk) for s in members], batch_size=2000
        )
        batch_refresh(batch=batch)
        for s in members:
            if s.status in (Statement.Status.QUEUED, Statement.Status.RETRYING):
                _enqueue(s)
    return batch


def quarter_end_batches(*, today: date | None = None, acting_user: User | None = None) -> list[StatementBatch]:
    """The quarter-end job: for the quarter that ended before `today`, one batch per advisor of
    every firm (each advisor follows their own book's progress). Run again, it adds nothing new:
    every statement exists, so the new batches only count them."""
    actor = acting_user or system_user()
    batches = []
    for firm in Firm.objects.order_by("pk"):
        period_end = selectors.quarter_end_before(today or firm_today(firm))
        for advisor in Advisor.objects.filter(firm=firm, is_active=True, households__isnull=False).distinct():
            if StatementBatch.objects.filter(advisor=advisor, period_end=period_end, scheduled=True).exists():
                continue
            batches.append(
                batch_start(firm=firm, period_end=period_end, acting_user=actor, advisor=advisor, scheduled=True)
            )
    return batches


__all__ = [
    "GENERATE_TASK",
    "MAX_ATTEMPTS",
    "GenerateOutcome",
    "backoff_seconds",
    "batch_refresh",
    "batch_start",
    "quarter_end_batches",
    "report_request",
    "statement_api_url",
    "statement_generate",
    "statement_request",
    "statement_retry",
    "statements_sweep",
]
