"""The demo seeder brands the firm and leaves the demo investor a ready statement to open."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import User
from demo.accounts import INVESTOR_EMAIL
from reports.models import FirmBranding, Statement, StatementBatch

pytestmark = pytest.mark.django_db


def test_the_demo_investor_finds_ready_statements(client):
    call_command("seed_demo", stdout=StringIO())
    assert FirmBranding.objects.filter(firm__slug="demo").exists()
    batch = StatementBatch.objects.get(firm__slug="demo")
    assert batch.total > 0 and batch.failed == 0
    investor = User.objects.get(email=INVESTOR_EMAIL)
    ready = Statement.objects.filter(household__members__investor__user=investor, status="ready")
    assert ready.filter(kind="statement").exists() and ready.filter(kind="performance_report").exists()
    client.force_login(investor)
    page = client.get("/statements/").content.decode()
    assert "Open PDF" in page
    pdf = client.get(f"/statements/{ready.first().pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
