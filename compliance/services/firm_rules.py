"""The firm's rules: its restricted securities and its compliance settings."""

from typing import Any

from django.db import transaction

from accounts.models import Firm, User
from compliance.errors import ComplianceError
from compliance.models import ComplianceSettings, RestrictedSecurity
from compliance.services.common import save_or_error
from portfolios.models import Security


@transaction.atomic
def restricted_security_add(
    *, firm: Firm, security: Security, reason: str, acting_user: User | None
) -> RestrictedSecurity:
    if not (reason or "").strip():
        raise ComplianceError("Say why the security is restricted.", field="reason")
    if RestrictedSecurity.objects.filter(firm=firm, security=security, is_active=True).exists():
        raise ComplianceError(f"{security.symbol} is already restricted.", field="security")
    entry = RestrictedSecurity(firm=firm, security=security, reason=reason.strip())
    return save_or_error(entry, acting_user=acting_user, reason="security restricted")


@transaction.atomic
def restricted_security_lift(*, entry: RestrictedSecurity, acting_user: User | None) -> RestrictedSecurity:
    entry = RestrictedSecurity.objects.select_for_update().get(pk=entry.pk)
    entry.is_active = False
    return save_or_error(entry, acting_user=acting_user, reason="restriction lifted")


@transaction.atomic
def compliance_settings_update(*, firm: Firm, acting_user: User | None, **changes: Any) -> ComplianceSettings:
    """Change a firm's rule modes or concentration limit."""
    allowed = {f.name for f in ComplianceSettings._meta.concrete_fields} - {"id", "firm", "updated_at"}
    unknown = set(changes) - allowed
    if unknown:
        raise ComplianceError(f"These settings do not exist: {', '.join(sorted(unknown))}.")
    current, _ = ComplianceSettings.objects.select_for_update().get_or_create(firm=firm)
    for key, value in changes.items():
        setattr(current, key, value)
    return save_or_error(current, acting_user=acting_user, reason="compliance settings changed")
