"""The demo firm and the synthetic books: development, test and benchmark data, never production.

The production image leaves this package out (`.dockerignore`) and the settings install it only
when it is importable.

- `python manage.py seed_demo`: the deterministic demo firm (`accounts` first, then `portfolios`,
  `trading`, `compliance`, `onboarding`, `operations`, each module seeding its app's part).
- `books`: many funded accounts in bulk (`bulk_funded_accounts`, `bulk_book`) for tests and
  benchmarks; `scale`: the large synthetic book of `python manage.py seed_scale`.
"""
