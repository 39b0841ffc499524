"""Helpers of the portfolios API tests."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def count_queries(client, path, params=None):
    with CaptureQueriesContext(connection) as ctx:
        answer = client.get(path, params or {})
        assert answer.status_code == 200, answer.content
    return len(ctx.captured_queries)
