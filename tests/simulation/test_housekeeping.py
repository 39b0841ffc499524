"""The simulation's database housekeeping on a server without autovacuum (CI's): the tables a
production server would have analysed by now are analysed each night, the others are not."""

from types import SimpleNamespace

import pytest
from django.db import connection

from sandboxes.simulation.config import Summary
from sandboxes.simulation.harness import Harness
from tests.portfolios.factories import SecurityFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _last_analyse(table: str):
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def test_a_table_past_autovacuums_mark_is_analysed_and_a_quiet_one_is_not():
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
    before = {t: _last_analyse(t) for t in ("portfolios_security", "accounts_firm")}
    for i in range(120):  # 120 rows into an empty table: past 50 + 10%
        SecurityFactory(symbol=f"HK{i:03d}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # the counts reach the statistics now
    harness = Harness.__new__(Harness)
    harness.summary = Summary()
    harness.config = SimpleNamespace()

    harness.analyse_as_autovacuum_would()

    analysed = harness.summary.counts["database tables analysed (autovacuum off)"]
    if autovacuum == "on":  # the server does it: the simulation leaves it alone
        assert analysed == 0
        return
    assert analysed >= 1
    assert _last_analyse("portfolios_security") != before["portfolios_security"]
    assert _last_analyse("accounts_firm") == before["accounts_firm"]
