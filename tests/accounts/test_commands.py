from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import Household, User

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_the_demo_firm_once_and_prints_logins():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "advisor@demo.kronos" in out.getvalue() and "kronos-demo" in out.getvalue()
    count = Household.objects.count()
    assert count >= 25
    advisor = User.objects.get(email="advisor@demo.kronos")
    assert advisor.check_password("kronos-demo")
    investor = User.objects.get(email="investor@demo.kronos")
    assert Household.objects.filter(members__investor__user=investor, advisor__user=advisor).exists()
    call_command("seed_demo", stdout=StringIO())
    assert Household.objects.count() == count


def test_create_api_token_prints_a_working_token_last(charlie):
    out = StringIO()
    call_command("create_api_token", charlie.email, "--scopes", "read,trade", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/me/").json()["email"] == charlie.email


def test_create_api_token_refuses_unknown_users_and_scopes(charlie):
    with pytest.raises(CommandError, match="No active user"):
        call_command("create_api_token", "nobody@example.com")
    with pytest.raises(CommandError, match="Unknown scope admin"):
        call_command("create_api_token", charlie.email, "--scopes", "read,admin")


def test_create_api_token_never_stores_the_token_in_clear(charlie):
    from oauth2_provider.models import AccessToken

    out = StringIO()
    call_command("create_api_token", charlie.email, stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    assert not AccessToken.objects.filter(token=raw).exists()
