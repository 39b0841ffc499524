"""The compliance controls cannot be switched off by configuration: compliance and onboarding
register them in their AppConfig.ready(), and `manage.py check` refuses to pass without them."""

import os
import subprocess
import sys
from pathlib import Path

from django.core import checks

from compliance.hooks import KYC_DECIDED_HOOKS
from compliance.pretrade import account_may_transact, run_pretrade_checks
from compliance.suitability import check_model_assignment
from onboarding.checks import account_agreement_signed
from onboarding.services import kyc_decided
from portfolios.checks import MODEL_ASSIGN_CHECKS
from trading.checks import FUNDING_CHECKS, PRETRADE_CHECKS

ROOT = Path(__file__).resolve().parents[2]


def _registry_errors() -> list[checks.CheckMessage]:
    return [e for e in checks.run_checks() if e.id == "kronos.E010"]


def test_every_control_is_registered_at_start():
    assert PRETRADE_CHECKS.checks() == (run_pretrade_checks,)
    assert FUNDING_CHECKS.checks() == (account_may_transact, account_agreement_signed)
    assert MODEL_ASSIGN_CHECKS.checks() == (check_model_assignment,)
    assert KYC_DECIDED_HOOKS.checks() == (kyc_decided,)
    assert _registry_errors() == []


def test_a_missing_control_is_a_system_check_error(override_checks):
    override_checks(FUNDING_CHECKS, account_may_transact)  # onboarding's check left out, on purpose
    override_checks(MODEL_ASSIGN_CHECKS)

    errors = sorted(_registry_errors(), key=lambda e: str(e.obj), reverse=True)

    assert [(e.obj, e.level) for e in errors] == [
        ("trading.funding", checks.ERROR),
        ("portfolios.model_assign", checks.ERROR),
    ]
    assert "'onboarding.agreements_signed'" in errors[0].msg
    assert "'compliance.suitability'" in errors[1].msg


def test_the_override_is_undone_after_the_test():
    with PRETRADE_CHECKS.override():
        assert PRETRADE_CHECKS.checks() == ()
    assert PRETRADE_CHECKS.checks() == (run_pretrade_checks,)


def test_manage_py_check_exits_non_zero_without_the_pretrade_check():
    """The web and migrate containers run `manage.py check` first: this is the process refusing."""
    script = (
        "import django, sys; django.setup()\n"
        "from trading.checks import PRETRADE_CHECKS\n"
        "PRETRADE_CHECKS.unregister('compliance.pretrade')\n"
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(['manage.py', 'check'])\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kronos.settings",
        "DATABASE_URL": "sqlite:////tmp/kronos-registry-check.db",
        "DEBUG": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode != 0
    assert "kronos.E010" in done.stderr
    assert "compliance.pretrade" in done.stderr

    intact = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert intact.returncode == 0, intact.stderr
