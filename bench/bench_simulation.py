"""A firm's year with faults: `simulate_firm` for 252 business days and 2,000 accounts
(BENCH_SIM_DAYS, BENCH_SIM_ACCOUNTS override), printing days per second, the seconds a day
(the first week, when the book is first invested, and after it) and the summary.

The simulation runs the firm-wide nightly job, so it needs a database without other accounts: it
runs in a child process on a scratch database of its own (`python -m bench.bench_simulation
[simulate_firm arguments]`, which is also what `make simulate` runs).
"""

import os
import re
import statistics
import subprocess  # nosec B404 -- our own manage command
import sys
import time

ACCOUNTS = int(os.environ.get("BENCH_SIM_ACCOUNTS", "2000"))
DAYS = int(os.environ.get("BENCH_SIM_DAYS", "252"))


def _env() -> dict[str, str]:
    from django.db import connection

    db = connection.settings_dict
    url = (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME'].removeprefix('bench_')}_simulation"
    )
    return {**os.environ, "DATABASE_URL": url}


def run() -> list[tuple[str, str]]:
    args = ["--accounts", str(ACCOUNTS), "--days", str(DAYS), "--seed", "1", "--faults"]
    started = time.perf_counter()
    child = subprocess.run(  # nosec B603 -- fixed arguments
        [sys.executable, "-m", "bench.bench_simulation", *args], env=_env(), capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    lines = child.stdout.splitlines()
    summary = [line for line in lines if line.startswith(("days ", "also:", "every invariant", "VIOLATION"))]
    figures = [(f"simulate_firm {ACCOUNTS} accounts x {DAYS} days, faults", f"{seconds:.0f} s wall")]
    rate = next((part.strip() for line in summary if line.startswith("days ") for part in line.split(",")
                 if "days/s" in part), "")  # fmt: skip
    if rate:
        figures.append(("business days per second (the simulation, setup included)", rate))
    figures += _day_lines(lines)
    figures += [("summary", line) for line in summary[-12:]]
    if child.returncode:
        figures.append(("exit", f"{child.returncode}: {(child.stderr or '').strip().splitlines()[-1:]}"))
    return figures


#: A simulated day's line ends with its wall time: "1994-05-16: 250 accounts, ... (8.5 s)".
_DAY_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}: .* \((\d+(?:\.\d+)?) s\)$")


def _day_lines(lines: list[str]) -> list[tuple[str, str]]:
    """Seconds a business day: the first week (the book is first invested) and the days after it,
    and -- for a run shorter than a year -- what 252 of the later days would take at their median
    (a projection from this run, not a measurement)."""
    seconds = [float(m.group(1)) for m in map(_DAY_LINE.match, lines) if m]
    if not seconds:
        return []
    first, later = seconds[:5], seconds[5:]
    out = [("seconds a business day, days 1-5: median (slowest)", f"{statistics.median(first):.1f} ({max(first):.1f})")]
    if later:
        out.append(
            (f"seconds a business day, days 6-{len(seconds)}: median (slowest)",
             f"{statistics.median(later):.1f} ({max(later):.1f})")
        )  # fmt: skip
        if len(seconds) < 252:
            year = (sum(first) + statistics.median(later) * (252 - len(first))) / 3600
            out.append(("252 days at that median (a projection, not measured)", f"{year:.1f} h"))
    return out


def main(argv: list[str]) -> int:
    """A scratch database (migrated), then `simulate_firm argv` on it."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kronos.settings")
    django.setup()
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from bench import harness

    with harness.scratch_database():
        try:
            call_command("simulate_firm", *argv)
        except CommandError as exc:
            print(f"CommandError: {exc}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
