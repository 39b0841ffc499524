"""The whole loop as a firm lives it: `simulate_firm` for 60 business days and 100 accounts (and the
IRAs of a quarter of their households, in rebalancing groups; tax-loss harvesting on) with a
faulty custodian and a worker killed mid-scan, through the real services, Celery tasks (eager, and a
real worker for the killed night), the sandboxes over HTTP and the webhook endpoint on a real port.

Marked `simulation` (and `worker`, `slow`): `pytest -m simulation` runs it alone. It asserts that
no invariant was broken on any day (the run prints each violation with its account, day and numbers).

The run is the suite's longest test, so it goes first (tests/conftest.py puts `simulation` tests at
the head of the collection: under xdist one worker starts with it while the other runs the rest).
It runs in a database of its own (`firm_database`, a copy of the worker's freshly migrated test
database, or migrated for it, and dropped after), not as a
transactional test of the worker's test database, which a transactional test empties when it
ends: the tests after it on the same worker keep the data the migrations wrote.
"""

import os
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.db.backends.base.creation import TEST_DATABASE_PREFIX

pytestmark = [pytest.mark.simulation, pytest.mark.worker, pytest.mark.slow]


def _admin(settings_dict: dict, dbname: str = "postgres") -> psycopg.Connection:
    """A connection to the server's maintenance database, to create and drop whole databases."""
    return psycopg.connect(
        dbname=dbname,
        user=settings_dict["USER"] or None,
        password=settings_dict["PASSWORD"] or None,
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        autocommit=True,
    )


def _as_migrated(name: str) -> bool:
    """Whether the worker's test database holds what the migrations wrote: its schema, and the
    rows of the data migrations (the roles, the beat schedule) that a transactional test's
    flush removes -- so a copy of it is a database migrated from empty."""
    try:
        with _admin(connection.settings_dict, dbname=name) as db:
            row = db.execute(
                "SELECT (SELECT count(*) FROM auth_group), (SELECT count(*) FROM django_celery_beat_periodictask)"
            ).fetchone()
    except psycopg.Error:  # not there, or not migrated
        return False
    return row is not None and row[0] > 0 and row[1] > 0


@pytest.fixture
def firm_database(django_db_setup, django_db_blocker) -> Iterator[str]:
    """A database of the simulation's own, as migrated from empty, that it runs in (every thread
    and the Celery worker it starts included); dropped after. The name is this process's, so
    xdist workers never share one. It is a copy of the worker's test database (`django_db_setup`:
    the worker makes it for its other tests anyway) while that one is as the migrations left it
    (the simulation runs first, so it is, unless --reuse-db kept an emptied one): a copy in
    seconds rather than a migration of minutes under the suite's load; else migrated here."""
    with django_db_blocker.unblock():
        before = connection.settings_dict["NAME"]
        name = f"kronos_firm_{os.getpid()}"
        # The worker's test database when django_db_setup made one (it does once any collected test
        # uses the database), never the database the settings name.
        template = before if before.startswith(TEST_DATABASE_PREFIX) and _as_migrated(before) else None
        connections.close_all()
        with _admin(connection.settings_dict) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if template is not None:
                try:
                    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                except psycopg.errors.ObjectInUse:  # another session in it: migrate instead
                    template = None
            if template is None:
                admin.execute(f'CREATE DATABASE "{name}"')
        connection.settings_dict["NAME"] = settings.DATABASES["default"]["NAME"] = name
        try:
            call_command("migrate", verbosity=0, interactive=False)
            yield name
        finally:
            connections.close_all()
            connection.settings_dict["NAME"] = settings.DATABASES["default"]["NAME"] = before
            with _admin(connection.settings_dict) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_sixty_business_days_of_a_hundred_accounts_with_faults_break_no_invariant(firm_database, capsys):
    # From 2016-02-01: crosses the first of April, so the quarter's fees are billed and checked.
    from kronos.celery import app

    assert connection.settings_dict["NAME"] == firm_database
    app.control.purge()
    try:
        call_command("simulate_firm", accounts=100, days=60, seed=13, faults=True, start="2016-02-01")
    except CommandError as exc:
        out = capsys.readouterr().out
        violations = [line for line in out.splitlines() if line.startswith("VIOLATION")]
        pytest.fail(f"{exc}\n" + "\n".join(violations[:40]) + "\n" + "\n".join(out.splitlines()[-3:]))
    out = capsys.readouterr().out
    assert "every invariant held" in out
    summary = next(line for line in out.splitlines() if line.startswith("days 60 (business"))
    assert "violations 0" in summary
    assert "workers killed 1" in out and "billing runs 1" in out
    # Household groups and harvesting ran inside the loop and were measured (issue 17).
    also = next(line for line in out.splitlines() if line.startswith("also:"))
    counts = dict(part.strip().rsplit(" ", 1) for part in also.removeprefix("also:").split(","))
    assert counts["household groups"] == "25"
    assert int(counts["harvests filled and checked"]) > 0
    assert int(counts["group plans filled and checked"]) > 0
    assert date(2016, 2, 1).isoformat() in out


def test_the_seed_picks_the_window_of_history():
    from sandboxes.simulation.runner import Config, Simulation

    days = [Simulation(Config(accounts=5, days=3, seed=s)).days for s in (4, 4, 5)]
    assert days[0] == days[1] and days[0] != days[2]


def test_a_negative_group_share_is_refused_in_one_line():
    with pytest.raises(CommandError, match="--group-share must be 0"):
        call_command("simulate_firm", accounts=5, days=3, group_share=-1)
