"""Table rows written in Python for the pages whose tables are long (the book, the households
list): a Django template costs tens of microseconds a row and each `format_html` value goes
through Django's lazy-string check. `escaped` escapes as `conditional_escape` does, without it."""

from __future__ import annotations

import html


def escaped(value: object) -> str:
    """`conditional_escape(value)` without its lazy-string wrapper: HTML (anything with
    `__html__`) kept as it is, anything else escaped as `django.utils.html.escape` escapes it
    (`html.escape` of its text, quotes included)."""
    html_of = getattr(value, "__html__", None)
    return html_of() if html_of is not None else html.escape(str(value))
