import socket
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from portfolios import services
from portfolios.adapters.market_data import get_provider
from portfolios.adapters.market_data.base import MarketDataError
from portfolios.adapters.market_data.http import HttpMarketData
from portfolios.models import Price
from sandboxes.market_data import serve_in_thread
from tests.portfolios.factories import SecurityFactory

DATA = Path(settings.SHARED_DATA_DIR)


@pytest.fixture
def sandbox(settings):
    server, thread = serve_in_thread(port=0, csv_path=DATA / "spy_prices.csv")
    settings.MARKET_DATA_ADAPTER = "sandbox"
    settings.MARKET_DATA_URL = f"http://127.0.0.1:{server.server_address[1]}"
    yield settings.MARKET_DATA_URL
    server.shutdown()
    server.server_close()


def test_the_client_reads_exact_closes_from_the_sandbox(sandbox):
    closes = get_provider().daily_closes(["spy"], date(2018, 4, 9), date(2018, 4, 11))
    assert [d for d, _ in closes["SPY"]] == [date(2018, 4, 9), date(2018, 4, 10), date(2018, 4, 11)]
    assert all(isinstance(c, Decimal) for _, c in closes["SPY"])
    with (DATA / "spy_prices.csv").open() as f:
        last = f.read().strip().splitlines()[-1].split(",")
    assert get_provider().latest_close("SPY") == (date.fromisoformat(last[0]), Decimal(last[1]))


def test_an_unknown_symbol_has_no_closes(sandbox):
    assert get_provider().daily_closes(["NOPE"], date(2018, 1, 1), date(2018, 2, 1)) == {"NOPE": []}
    assert get_provider().latest_close("NOPE") is None


@pytest.mark.django_db
def test_prices_ingest_stores_the_providers_closes_once(sandbox):
    SecurityFactory(symbol="SPY")
    result = services.prices_ingest(as_of=date(2018, 4, 11), start=date(2018, 4, 2), symbols=["SPY"])
    assert result.inserted == 8
    assert Price.objects.filter(security__symbol="SPY").count() == 8
    again = services.prices_ingest(as_of=date(2018, 4, 11), start=date(2018, 4, 2), symbols=["SPY"])
    assert (again.inserted, again.changed) == (0, 0)
    assert Price.objects.get(security__symbol="SPY", date=date(2018, 4, 11)).source == "sandbox"


class Flaky(BaseHTTPRequestHandler):
    failures = 0

    def do_GET(self):
        if Flaky.failures:
            Flaky.failures -= 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"status":"OK","results":[{"t":1704153600000,"c":185.64}]}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_client_retries_a_failing_service_with_backoff(flaky):
    Flaky.failures = 2
    client = HttpMarketData(base_url=flaky, retries=3, backoff=0.01)
    assert client.daily_closes(["AAPL"], date(2024, 1, 2), date(2024, 1, 2)) == {
        "AAPL": [(date(2024, 1, 2), Decimal("185.64"))]
    }


def test_the_client_gives_up_with_a_readable_error(flaky):
    Flaky.failures = 10
    client = HttpMarketData(base_url=flaky, retries=2, backoff=0.01)
    with pytest.raises(MarketDataError, match="answered 503"):
        client.daily_closes(["AAPL"], date(2024, 1, 2), date(2024, 1, 2))
    Flaky.failures = 0


def test_an_unreachable_service_is_a_readable_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = HttpMarketData(base_url=f"http://127.0.0.1:{port}", retries=1, backoff=0.01, timeout=0.5)
    with pytest.raises(MarketDataError, match="did not answer"):
        client.latest_close("AAPL")
