"""The statements pages read a fixed number of queries however many rows; the firm's branding is
edited in the admin, where a logo must be a PNG or JPEG."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from reports import services
from reports.admin import FirmBrandingForm
from tests.portfolios.factories import InvestmentAccountFactory

pytestmark = pytest.mark.django_db


def _batch_of(n, alice, household, quarter):
    for i in range(n):
        InvestmentAccountFactory(household=household, opened_on=quarter.opening - timedelta(days=1))
    return services.batch_start(firm=alice.firm, period_end=quarter.end, acting_user=alice.user, advisor=alice)


@pytest.mark.parametrize("n", [1, 12])
def test_the_batch_page_reads_a_fixed_number_of_queries(
    n, alice, alice_household, quarter, verified_client, django_assert_max_num_queries, uncached
):
    batch = _batch_of(n, alice, alice_household, quarter)
    client = verified_client(alice.user)
    with django_assert_max_num_queries(14):
        response = client.get(f"/statements/batches/{batch.pk}/")
    assert response.status_code == 200
    assert response.content.decode().count('data-status="queued"') == n + 1


@pytest.mark.parametrize("n", [1, 12])
def test_the_statements_list_reads_a_fixed_number_of_queries(
    n, alice, alice_household, charlie, quarter, verified_client, django_assert_max_num_queries, uncached
):
    _batch_of(n, alice, alice_household, quarter)
    client = verified_client(charlie)
    with django_assert_max_num_queries(12):
        response = client.get("/statements/")
    assert response.content.decode().count("data-statement=") == n + 1


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_a_png_logo_is_kept_and_a_script_is_refused(alice):
    form = FirmBrandingForm(
        data={"firm": alice.firm.pk, "accent_color": "#112233", "disclosures": "x"},
        files={"logo_file": SimpleUploadedFile("logo.png", PNG, content_type="image/png")},
    )
    assert form.is_valid(), form.errors
    branding = form.save()
    assert (bytes(branding.logo), branding.logo_content_type) == (PNG, "image/png")
    bad = FirmBrandingForm(
        data={"firm": alice.firm.pk, "accent_color": "#112233"},
        files={"logo_file": SimpleUploadedFile("logo.png", b"<svg onload=alert(1)>", content_type="image/png")},
    )
    assert not bad.is_valid() and "PNG or JPEG" in str(bad.errors["logo_file"])
    colour = FirmBrandingForm(data={"firm": alice.firm.pk, "accent_color": "red;}"})
    assert not colour.is_valid() and "accent_color" in colour.errors
