"""Issue 12: every CSV Kronos writes neutralises formula cells (kronos/csvfile.py)."""

import csv
import io

import pytest

from kronos.csvfile import CSVWriter, neutralise


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("-A1", "'-A1"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("  =1+1", "'  =1+1"),
        ("-", "'-"),
        # Plain numbers stay numbers (a negative amount in a billing file stays -12.50).
        ("-12.50", "-12.50"),
        ("+3", "+3"),
        ("-0.5", "-0.5"),
        ("12.50", "12.50"),
        # Ordinary text untouched.
        ("Alvarez Household", "Alvarez Household"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_cell_that_a_spreadsheet_would_run_is_prefixed(cell, written):
    assert neutralise(cell) == written


def test_the_writer_quotes_and_neutralises_every_cell():
    line = CSVWriter().row(['=HYPERLINK("http://evil","x")', "-12.50", "plain, with comma"])
    assert list(csv.reader(io.StringIO(line))) == [['\'=HYPERLINK("http://evil","x")', "-12.50", "plain, with comma"]]
