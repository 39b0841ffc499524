"""The operations page: outbox backlog, orders by state, refused fills."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kronos.typing import AuthedHttpRequest
from trading import permissions, selectors


@login_required
@require_GET
def operations(request: AuthedHttpRequest) -> HttpResponse:
    """Outbox backlog and recent orders by state, for operations staff."""
    if not permissions.may_see_operations(request.user):
        raise PermissionDenied
    context = selectors.operations_summary(user=request.user)
    if request.htmx:
        return render(request, "trading/operations.html#ops-body", context)
    return render(request, "trading/operations.html", context)
