"""Celery tasks of the trading domain: thin, idempotent wrappers around the services."""

from datetime import date

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from accounts.services import system_user
from portfolios.models import InvestmentAccount
from trading import services


@shared_task(name="trading.relay_outbox", acks_late=True)
def relay_outbox() -> dict[str, int]:
    """Send due outbox messages (also run every few seconds by beat as the safety net)."""
    result = services.relay_outbox()
    return {"sent": result.sent, "retried": result.retried, "dead": result.dead}


@shared_task(name="trading.settlement_run", acks_late=True)
def settlement_run(as_of: str | None = None) -> int:
    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    return services.settlement_run(as_of=day)


@shared_task(name="trading.transfers_poll", acks_late=True)
def transfers_poll() -> int:
    return services.transfers_poll()


@shared_task(name="trading.nightly_proposals", acks_late=True)
def nightly_proposals(as_of: str | None = None, chunk_size: int = 500) -> int:
    """Queue one chunk task per `chunk_size` accounts with a model in approval mode."""
    day = as_of or timezone.localdate().isoformat()
    ids = list(
        InvestmentAccount.objects.filter(Q(status=InvestmentAccount.Status.OPEN) & Q(model__isnull=False))
        .order_by("id")
        .values_list("id", flat=True)
    )
    for start in range(0, len(ids), chunk_size):
        proposals_for_chunk.delay(ids[start : start + chunk_size], day)
    return len(ids)


@shared_task(name="trading.proposals_for_chunk", acks_late=True)
def proposals_for_chunk(account_ids: list[int], as_of: str) -> int:
    created = services.proposal_create_for_accounts(
        account_ids=account_ids, acting_user=system_user(), as_of=date.fromisoformat(as_of), scheduled=True
    )
    return len(created)


@shared_task(name="trading.harvest_scan", acks_late=True)
def harvest_scan(as_of: str | None = None) -> int:
    """The daily tax-loss harvesting scan (beat: operations' data migration schedules it)."""
    day = date.fromisoformat(as_of) if as_of else None
    return services.harvest_scan_run(as_of=day, acting_user=system_user())
