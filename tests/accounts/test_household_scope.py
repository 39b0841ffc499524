import pytest

pytestmark = pytest.mark.django_db


def test_advisor_sees_only_their_households(verified_client, alice, alice_household, bob_household):
    client = verified_client(alice.user)
    page = client.get("/households/")
    assert page.status_code == 200
    assert alice_household.name in page.text
    assert bob_household.name not in page.text
    assert client.get(f"/households/{bob_household.pk}/").status_code == 404
