"""Celery tasks of reports: thin wrappers around services, acting as the system user."""

from typing import Any

from celery import shared_task

from reports import services


@shared_task(name=services.GENERATE_TASK, bind=True, max_retries=services.MAX_ATTEMPTS, acks_late=True)
def generate_statement(self: Any, statement_id: int) -> str:
    """One statement or report; a failure is recorded by the service and retried with its backoff."""
    outcome = services.statement_generate(statement_id=statement_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return str(outcome.statement.status)


@shared_task(name="reports.quarter_end_statements")
def quarter_end_statements() -> list[int]:
    """First day of each quarter: statements and performance reports of the quarter just ended."""
    return [batch.pk for batch in services.quarter_end_batches()]


@shared_task(name="reports.statements_sweep")
def statements_sweep() -> int:
    """Every few minutes: re-send statements whose task was lost."""
    return services.statements_sweep()
