"""Fixtures of the loop tests (issue 13): trading's securities at fixed prices."""

from tests.trading.factories import securities  # noqa: F401
