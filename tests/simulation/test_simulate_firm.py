"""The whole loop as a firm lives it: `simulate_firm` for 60 business days and 100 accounts (and the
IRAs of a quarter of their households, in rebalancing groups; tax-loss harvesting on) with a
faulty custodian and a worker killed mid-scan, through the real services, Celery tasks (eager, and a
real worker for the killed night), the sandboxes over HTTP and the webhook endpoint on a real port.

Marked `simulation` (and `worker`, `slow`): `pytest -m simulation` runs it alone. It asserts that
no invariant was broken on any day (the run prints each violation with its account, day and numbers).
"""

from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = [pytest.mark.simulation, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_sixty_business_days_of_a_hundred_accounts_with_faults_break_no_invariant(capsys):
    # From 2016-02-01: crosses the first of April, so the quarter's fees are billed and checked.
    from kronos.celery import app

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
