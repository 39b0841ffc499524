"""The sandboxes answer a keep-alive request in milliseconds, not in a delayed ACK's 40 ms.

`BaseHTTPRequestHandler` writes the headers and the body in two sends; with Nagle's algorithm on,
the body waits for the client's delayed ACK (~40 ms on Linux loopback). The simulator makes
thousands of such calls a day (statements, orders, webhooks), so it was most of its wall time.
"""

import statistics
import time

import requests

from sandboxes import banking as bank_sandbox
from sandboxes import custodian as custodian_sandbox
from sandboxes import kyc as kyc_sandbox
from sandboxes import market_data as market_sandbox


def test_every_sandbox_handler_sends_without_nagle():
    handlers = [
        custodian_sandbox._handler_for(custodian_sandbox.SandboxCustodian(secret="s", seed=1)),
        bank_sandbox._handler_for(bank_sandbox.SandboxBank(seed=1)),
        market_sandbox.make_handler(lambda symbol, start, end: []),
        kyc_sandbox._Handler,
    ]
    assert [h.disable_nagle_algorithm for h in handlers] == [True] * 4


def test_a_keep_alive_statement_request_takes_milliseconds():
    custodian = custodian_sandbox.SandboxCustodian(secret="s", seed=1)
    url = custodian.start()
    try:
        session = requests.Session()
        session.get(f"{url}/v1/accounts/X/statement?as_of=2016-02-01", timeout=5)
        times = []
        for _ in range(15):
            began = time.perf_counter()
            response = session.get(f"{url}/v1/accounts/X/statement?as_of=2016-02-01", timeout=5)
            times.append(time.perf_counter() - began)
            assert response.status_code == 200
    finally:
        custodian.stop()
    # ~2 ms now; ~45 ms with Nagle on (the delayed ACK).
    assert statistics.median(times) < 0.02
