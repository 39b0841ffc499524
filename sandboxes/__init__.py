"""Local stand-ins for the outside systems, and the firm simulator that drives them.

Development and test code, never production: the production image leaves this package out
(`.dockerignore`) and the settings install it only when it is importable.

- `custodian`, `banking`, `market_data`, `kyc`: local HTTP services in the shapes of a
  custodian's REST API, Plaid Transfer, Polygon and Jumio. Kronos reaches them only through its
  adapters' HTTP clients (`CUSTODIAN_URL`, `BANKING_URL`, `MARKET_DATA_URL`, `KYC_URL`), as it
  reaches the real systems; `python manage.py run_sandbox_*` runs each (`make run` starts every
  one `list_sandboxes` names).
- `simulation`: a firm's business days end to end (`python manage.py simulate_firm`).
"""
