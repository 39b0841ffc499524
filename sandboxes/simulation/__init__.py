"""A firm's days, end to end: `python manage.py simulate_firm` (see `runner.Simulation`).

The simulator drives the code production runs — the services, the Celery tasks (eagerly, or
on a real worker for the day one is killed), the sandbox custodian, bank and market data over
HTTP, fills back by signed webhook through the web endpoint — through business days of real
price history, and checks the firm's invariants after every day (`invariants`), against
figures it computes itself (`independent`), never by asking the code under test.
"""
