"""The one way Kronos writes CSV: every cell neutralised against formula injection.

A spreadsheet opening a CSV runs any cell that starts with `=`, `+`, `-` or `@` (and some
with a leading tab or carriage return) as a formula: a household named
`=HYPERLINK("http://evil","x")` in the audit export became a live link. Following OWASP's
CSV-injection advice, such a cell is written with a leading apostrophe (`'=HYPERLINK(...)`),
which spreadsheets show as text and which a reader can strip.

The one exception, on purpose: a cell that is a plain decimal number (`-12.50`, `+3`, `-0.5`:
optional sign, ASCII digits, optional fraction, nothing else) is left as it is. A spreadsheet
reads it as that number, not as a formula, and a billing or audit file must keep negative
amounts numeric for the custodian's and the reviewer's tools. Anything else that starts with a
trigger (`-1+2`, `-A1`, `+cmd|...`, `@SUM(...)`) is prefixed. Leading spaces do not hide a
trigger (` =1+1` is prefixed too). Quoting and separators are the csv module's.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)


def neutralise(value: Any) -> str:
    """`value` as a CSV cell that no spreadsheet runs as a formula (see the module)."""
    text = "" if value is None else str(value)
    head = text.lstrip(" ")
    if head.startswith(TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write returns the line: csv.writer for a streaming response."""

    def write(self, value: str) -> str:
        return value


class CSVWriter:
    """`row(cells)` returns one CSV line (as csv.writer writes it) with every cell neutralised."""

    def __init__(self) -> None:
        self._writer = csv.writer(_Echo())

    def row(self, cells: Iterable[Any]) -> str:
        return str(self._writer.writerow([neutralise(cell) for cell in cells]))

    def rows(self, rows: Iterable[Iterable[Any]]) -> Iterable[str]:
        return (self.row(cells) for cells in rows)
