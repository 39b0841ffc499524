"""The book's rows, written by `book_rows_html` with its own escaping, are exactly what
Django's `format_html_join` over the same line template gives, for hostile values too."""

import pytest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from portfolios.views.book import _BREACHED_DRIFT, _BREACHED_ROW, _LINE, _NO_CLASS, _SELECT, BookLine, book_rows_html


def _reference(lines: list[BookLine], *, selects: bool) -> str:
    return format_html_join(
        "",
        _LINE,
        (
            (
                _BREACHED_ROW if line["breached"] else _NO_CLASS,
                line["pk"],
                format_html(_SELECT, line["pk"], line["name"]) if selects else _NO_CLASS,
                line["household_url"],
                line["household"],
                line["account_url"],
                line["name"],
                line["number"],
                line["account_type"],
                line["value"],
                line["model"],
                format_html(_BREACHED_DRIFT, line["max_drift"]) if line["breached"] else line["max_drift"],
            )
            for line in lines
        ),
    )


HOSTILE = [
    '<script>alert("x")</script>',
    "O'Brien & Sons",
    '"quoted" > <b>',
    "{braces} {0} %s",
    "plain",
]


@pytest.mark.parametrize("selects", [True, False])
def test_the_rows_are_format_html_joins_rows_escaped_alike(selects):
    lines = [
        BookLine(
            pk=i + 1,
            household=text,
            household_url=f"/households/{i}/?q={text}",
            name=text[::-1],
            account_url=f"/accounts/{i}/",
            account_type=text,
            number=text,
            value=SafeString("<span>$1,000.00</span>") if i % 2 else text,
            model=text,
            max_drift=text,
            breached=bool(i % 2),
        )
        for i, text in enumerate(HOSTILE)
    ]
    written = book_rows_html(lines, selects=selects)
    assert written == _reference(lines, selects=selects)
    assert isinstance(written, SafeString)
    assert "<script>" not in written and "&lt;script&gt;" in written and "O&#x27;Brien &amp; Sons" in written
    assert "<span>$1,000.00</span>" in written  # HTML given as HTML stays as it is
