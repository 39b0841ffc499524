import csv
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from portfolios.models import Price, Security
from tests.portfolios.factories import SecurityFactory

pytestmark = pytest.mark.django_db

DATA = Path(settings.SHARED_DATA_DIR)


def import_prices(*args):
    out = StringIO()
    call_command("import_prices", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def non_empty_cells(path):
    with path.open() as f:
        reader = csv.reader(f)
        header = next(reader)
        counts = dict.fromkeys(header[1:], 0)
        for line in reader:
            for symbol, value in zip(header[1:], line[1:]):
                if value.strip():
                    counts[symbol] += 1
    return counts


def test_the_real_files_load_every_non_empty_cell_once_and_a_reimport_changes_nothing():
    expected = non_empty_cells(DATA / "stock_prices.csv") | non_empty_cells(DATA / "spy_prices.csv")
    first = import_prices(DATA / "stock_prices.csv", "--create-securities")
    import_prices(DATA / "spy_prices.csv", "--create-securities")
    total = sum(expected.values())
    assert Price.objects.count() == total
    loaded = {s.symbol: s.prices.count() for s in Security.objects.all()}
    assert loaded == expected
    assert f"{sum(non_empty_cells(DATA / 'stock_prices.csv').values())} new" in first

    again = import_prices(DATA / "stock_prices.csv")
    assert "0 new, 0 changed" in again
    assert Price.objects.count() == total


def test_adjusted_closes_keep_their_six_places():
    import_prices(DATA / "stock_prices.csv", "--create-securities")
    first = Price.objects.get(security__symbol="AAPL", date="1989-12-29")
    assert str(first.close) == "0.117203"


def test_a_bad_row_loads_nothing_and_names_the_line(tmp_path):
    SecurityFactory(symbol="AAPL")
    SecurityFactory(symbol="MSFT")
    path = tmp_path / "prices.csv"
    path.write_text("date,AAPL,MSFT\n2024-01-02,185.64,370.87\n2024-01-03,-3,370.60\n")
    with pytest.raises(CommandError, match=r"line 3: the close for AAPL is not a positive number: '-3'"):
        import_prices(path)
    assert not Price.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("date,AAPL\n2024-01-02,abc\n", "line 2: the close for AAPL is not a positive number: 'abc'"),
        ("date,AAPL\n2024-13-02,1\n", "line 2: '2024-13-02' is not a date"),
        ("date,AAPL\n2999-01-02,1\n", "line 2: the date 2999-01-02 is in the future"),
        ("date,AAPL\n2024-01-02,1,2\n", "line 2: expected 2 columns, found 3"),
        ("date,AAPL\n2024-01-02,1\n2024-01-02,2\n", "line 3: a second close for AAPL on 2024-01-02"),
    ],
)
def test_bad_files_are_refused_with_one_clear_line(tmp_path, content, message):
    SecurityFactory(symbol="AAPL")
    path = tmp_path / "prices.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        import_prices(path)
    assert not Price.objects.exists()


def test_unknown_symbols_are_refused_without_create_securities(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("date,symbol,close\n2024-01-02,ZZZZ,10.5\n")
    with pytest.raises(CommandError, match="Unknown symbol: ZZZZ"):
        import_prices(path, "--format", "long")
    import_prices(path, "--format", "long", "--create-securities")
    assert str(Price.objects.get(security__symbol="ZZZZ").close) == "10.500000"


def test_a_corrected_close_replaces_the_day_and_is_reported_as_changed(tmp_path):
    SecurityFactory(symbol="AAPL")
    path = tmp_path / "prices.csv"
    path.write_text("date,symbol,close\n2024-01-02,AAPL,185.64\n2024-01-03,AAPL,184.25\n")
    import_prices(path, "--format", "long")
    path.write_text("date,symbol,close\n2024-01-02,AAPL,185.65\n2024-01-03,AAPL,184.25\n")
    out = import_prices(path, "--format", "long")
    assert "0 new, 1 changed, 1 unchanged" in out
    assert str(Price.objects.get(date="2024-01-02").close) == "185.650000"


def test_one_symbol_written_two_ways_in_a_wide_header_is_a_second_close(tmp_path):
    SecurityFactory(symbol="AAPL")
    path = tmp_path / "prices.csv"
    path.write_text("date,aapl, AAPL\n2024-01-02,185.64,185.65\n")
    with pytest.raises(CommandError, match="line 2: a second close for AAPL on 2024-01-02"):
        import_prices(path)
    assert not Price.objects.exists()


def test_blank_lines_are_skipped_and_each_close_is_rounded_half_even(tmp_path):
    SecurityFactory(symbol="AAPL")
    path = tmp_path / "prices.csv"
    # 6 places kept, half to even at the seventh: ...0000005 -> ...000000, ...0000015 -> ...000002
    path.write_text("date,symbol,close\n\n2024-01-02,aapl,10.0000005\n , , \n2024-01-03,AAPL, 10.0000015 \n")
    out = import_prices(path, "--format", "long")
    assert "Read 2 prices: 2 new, 0 changed, 0 unchanged" in out
    assert [str(c) for c in Price.objects.order_by("date").values_list("close", flat=True)] == [
        "10.000000",
        "10.000002",
    ]
