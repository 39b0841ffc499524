"""The navigation's links by role, rendered once per process: every user with the same roles
sees the same links, and `_nav_links.html` is the costliest part of a page's frame (fourteen URL
reversals and the role tests, about 0.7 ms a page). What differs by user (the inbox's unread
count, the admin link of staff) stays in `_nav.html`, rendered on every page."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf
from django.utils.safestring import SafeString

register = template.Library()

#: Rendered links by (roles, URL prefix, URLconf): a handful of role sets, so it stays small.
_LINKS: dict[tuple[frozenset[str], str, str], SafeString] = {}
_MOST = 256


@register.simple_tag(takes_context=True)
def nav_links(context: template.Context) -> SafeString:
    roles = frozenset(context.get("nav_roles") or ())
    key = (roles, get_script_prefix(), str(get_urlconf() or settings.ROOT_URLCONF))
    links = _LINKS.get(key)
    if links is None:
        if len(_LINKS) >= _MOST:
            _LINKS.clear()
        links = _LINKS[key] = render_to_string("_nav_links.html", {"nav_roles": roles, "Role": context.get("Role")})
    return links
