"""The sandbox custodian's webhook faults decide the same way for a seed however the delivery
rounds cut its queue: which webhooks are held back (each at most once) and duplicated depends on
what they say, not on when a thread drained them (two runs of one seed count the same)."""

from sandboxes.custodian import SandboxCustodian


def _fills(count: int) -> list[dict]:
    return [
        {
            "account": f"ACC-{n % 7}",
            "symbol": "VTI",
            "side": "buy",
            "order_quantity": str(n),
            "client_order_id": f"K-{n}",
        }
        for n in range(count)
    ]


def _run(cuts: list[int], **options) -> tuple[list[str], int, int]:
    """Queue 60 webhooks in batches of `cuts`, draining after each batch and then to the end;
    returns the client order ids in delivery order, the deferred and the sent counts."""
    custodian = SandboxCustodian(secret="s", seed=11, **options)
    events, delivered = _fills(60), []

    def send(body: bytes, headers: dict[str, str]) -> int:
        delivered.append(body)
        return 200

    start = 0
    for cut in cuts:
        for data in events[start : start + cut]:
            custodian._enqueue("order.fill", data)
        start += cut
        custodian.deliver_pending(send)
    while custodian.pending_webhook_count():
        custodian.deliver_pending(send)
    import json

    ids = [json.loads(body)["data"]["client_order_id"] for body in delivered]
    return ids, custodian.stats.deferred_webhooks, custodian.stats.webhooks_sent


def _twice(ids: list[str]) -> list[str]:
    return sorted(k for k in set(ids) if ids.count(k) == 2)


def test_held_back_and_duplicated_webhooks_do_not_depend_on_how_the_rounds_cut_the_queue():
    faults = {"defer_rate": 0.3, "duplicate_rate": 0.25}
    at_once, deferred_once, sent_once = _run([60], **faults)
    in_rounds, deferred_rounds, sent_rounds = _run([7, 20, 1, 32], **faults)
    assert 5 < deferred_once < 40 and 3 < len(_twice(at_once)) < 40  # some, not all
    assert deferred_once == deferred_rounds  # each held back at most once, by what it says
    assert _twice(at_once) == _twice(in_rounds)  # duplicated by what it says
    assert set(at_once) == set(in_rounds) == {f"K-{n}" for n in range(60)}  # every one arrives
    assert sent_once == sent_rounds == 60 + len(_twice(at_once))
