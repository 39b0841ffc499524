"""`make bench`: run every benchmark module in bench/ (bench_*.py) and print its figures.

Each module has `run() -> list[tuple[str, str]]` returning (figure, value) lines. They run
against the database in DATABASE_URL (PostgreSQL under `make bench`), in a scratch
database created for the run and dropped after, so no benchmark touches real data.
"""

import importlib
import os
import pkgutil
import sys
import time

import django


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kronos.settings")
    django.setup()
    from django.test.utils import get_runner  # noqa: F401  (ensures test utils importable)

    from bench import harness

    only = sys.argv[1:]
    names = sorted(m.name for m in pkgutil.iter_modules([os.path.dirname(__file__)]) if m.name.startswith("bench_"))
    if only:
        names = [n for n in names if any(o in n for o in only)]
    failures = 0
    with harness.scratch_database():
        for name in names:
            module = importlib.import_module(f"bench.{name}")
            print(f"\n== {name[6:]} ==", flush=True)
            started = time.perf_counter()
            try:
                for label, value in module.run():
                    print(f"  {label:<70} {value}", flush=True)
            except Exception as exc:  # report and go on to the next benchmark  # noqa: BLE001
                failures += 1
                print(f"  FAILED: {type(exc).__name__}: {exc}", flush=True)
            print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
