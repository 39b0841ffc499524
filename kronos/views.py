"""Error pages (JSON under /api/, HTML elsewhere) and /favicon.ico."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.templatetags.static import static
from django.views.decorators.http import require_safe


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error. It has been logged; please retry."}, status=500)
    # No request context: the navigation and the session may be what failed.
    return HttpResponse(loader.get_template("500.html").render({}), status=500)


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page links: send them to the vendored icon
    (resolved per request, so a hashed static name works once collectstatic has run)."""
    return HttpResponseRedirect(static("favicon.svg"))
