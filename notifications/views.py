"""The inbox and the preferences page of every signed-in user (their own notifications only).

Marking read answers the named partials on an htmx request (the row, and the navigation's count
swapped out of band) and a redirect back to the inbox otherwise, so the buttons work without
JavaScript."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kronos.typing import AuthedHttpRequest
from notifications import selectors, services
from notifications.catalogue import KINDS, Delivery
from notifications.errors import NotificationsError

PAGE_SIZE = 50


def _back(request: AuthedHttpRequest) -> HttpResponse:
    page = request.POST.get("page", "")
    return redirect(f"/notifications/?page={page}" if page.isdigit() else "/notifications/")


@login_required
@require_GET
def inbox(request: AuthedHttpRequest) -> HttpResponse:
    unread_only = request.GET.get("show") == "unread"
    rows = selectors.notification_list_for_user(user=request.user, unread_only=unread_only)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/inbox.html#inbox" if request.htmx else "notifications/inbox.html",
        {"page": page, "notifications": page.object_list, "unread_only": unread_only},
    )


@login_required
@require_POST
def mark_read(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    notification = selectors.notification_get_for_user(user=request.user, pk=pk)
    services.notification_mark_read(notification=notification, acting_user=request.user)
    if request.htmx:
        return render(request, "notifications/inbox.html#marked", {"n": notification})
    return _back(request)


@login_required
@require_POST
def mark_all_read(request: AuthedHttpRequest) -> HttpResponse:
    count = services.notifications_mark_all_read(acting_user=request.user)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return _back(request)


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: AuthedHttpRequest) -> HttpResponse:
    current = services.preferences_for(user=request.user)
    error = ""
    if request.method == "POST":
        choices = {key: request.POST.get(key, current[key]) for key in KINDS}
        try:
            current = services.preferences_save(user=request.user, choices=choices, acting_user=request.user)
        except NotificationsError as exc:
            error = exc.message
        else:
            messages.success(request, "Your notification preferences are saved.")
            return redirect("notifications:preferences")
    rows = [(kind, current[key]) for key, kind in KINDS.items()]
    return render(
        request,
        "notifications/preferences.html",
        {"rows": rows, "deliveries": Delivery.choices, "error": error},
        status=400 if error else 200,
    )
