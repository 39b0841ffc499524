"""Celery tasks of the compliance domain: thin wrappers around services, acting as the system user."""

from datetime import timedelta

from celery import shared_task

from compliance import services


@shared_task(name="compliance.aml_rescreen_all")
def aml_rescreen_all() -> dict[str, int]:
    """Nightly: rescreen every investor against the current watch list."""
    return services.aml_rescreen_all()


@shared_task(name="compliance.kyc_refresh_pending")
def kyc_refresh_pending(older_than_minutes: int = 10) -> int:
    """Every few minutes: poll the KYC provider for verifications whose callback never came."""
    return services.kyc_refresh_pending(older_than=timedelta(minutes=older_than_minutes))
