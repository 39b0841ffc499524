"""Customer identification on the investor: required fields, the taxpayer id's shape, birth
dates, encryption at rest and key rotation, and the id kept out of history and logs."""

import datetime as dt
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from accounts import crypto
from accounts.errors import AccountsError
from accounts.models import HouseholdMember, Investor
from accounts.services import investor_onboard, investor_update
from tests.onboarding.conftest import SSN, cip

pytestmark = pytest.mark.django_db


def test_the_taxpayer_id_is_stored_encrypted_with_its_last_four_apart(alice_household, alice):
    investor = investor_onboard(household=alice_household, acting_user=alice.user, **cip())
    row = Investor.objects.get(pk=investor.pk)
    assert row.tax_id_last4 == "6789"
    assert "123456789" not in row.tax_id_encrypted and SSN not in row.tax_id_encrypted
    assert row.tax_id_plain() == "123456789"
    assert row.tax_id_masked == "•••-••-6789"
    assert HouseholdMember.objects.get(investor=row).relationship == "primary"


def test_the_second_investor_is_a_joint_member(alice_household, alice):
    investor_onboard(household=alice_household, acting_user=alice.user, **cip())
    second = investor_onboard(
        household=alice_household, acting_user=alice.user, **cip(first_name="Sam", tax_id="987-65-4321")
    )
    assert HouseholdMember.objects.get(investor=second).relationship == "joint"


@pytest.mark.parametrize(
    "field",
    [
        "first_name",
        "last_name",
        "date_of_birth",
        "tax_id",
        "address_line1",
        "city",
        "postal_code",
        "phone",
        "employment_status",
    ],
)
def test_a_missing_identification_field_is_refused_and_nothing_is_written(alice_household, alice, field):
    before = Investor.objects.count()
    with pytest.raises(AccountsError) as exc:
        investor_onboard(household=alice_household, acting_user=alice.user, **cip(**{field: ""}))
    assert field in exc.value.errors
    assert "required" in exc.value.errors[field][0]
    assert Investor.objects.count() == before


@pytest.mark.parametrize(
    "tax_id",
    [
        "12-345-6789",
        "1234567890",
        "12345678",
        "abc-de-fghi",
        "000-12-3456",
        "666-12-3456",
        "123-00-4567",
        "123-45-0000",
    ],
)
def test_a_us_taxpayer_id_in_the_wrong_shape_is_refused(alice_household, alice, tax_id):
    with pytest.raises(AccountsError) as exc:
        investor_onboard(household=alice_household, acting_user=alice.user, **cip(tax_id=tax_id))
    assert list(exc.value.errors) == ["tax_id"]
    assert not Investor.objects.filter(last_name="Whitfield").exists()


def test_nine_digits_without_dashes_are_a_us_taxpayer_id(alice_household, alice):
    investor = investor_onboard(household=alice_household, acting_user=alice.user, **cip(tax_id="123456789"))
    assert investor.tax_id_plain() == "123456789"


def test_a_non_us_person_gives_their_countrys_id_by_the_stated_rule(alice_household, alice):
    investor = investor_onboard(
        household=alice_household,
        acting_user=alice.user,
        **cip(tax_id="ab 12 34 56 c", citizenship="GB", country="GB", tax_residency="GB", state=""),
    )
    assert investor.tax_id_plain() == "AB 12 34 56 C"
    with pytest.raises(AccountsError) as exc:
        investor_onboard(
            household=alice_household,
            acting_user=alice.user,
            **cip(first_name="X", tax_id="A$1", citizenship="GB", country="GB"),
        )
    assert "4 to 20" in exc.value.errors["tax_id"][0]


def test_a_birth_date_in_the_future_is_refused(alice_household, alice):
    with pytest.raises(AccountsError) as exc:
        investor_onboard(
            household=alice_household,
            acting_user=alice.user,
            **cip(date_of_birth=dt.date.today() + dt.timedelta(days=2)),
        )
    assert "future" in exc.value.errors["date_of_birth"][0]


def test_every_error_comes_back_at_once(alice_household, alice):
    with pytest.raises(AccountsError) as exc:
        investor_onboard(
            household=alice_household,
            acting_user=alice.user,
            **cip(tax_id="12", citizenship="USA", phone="call me", email="no"),
        )
    assert {"tax_id", "citizenship", "phone", "email"} <= set(exc.value.errors)


def test_the_taxpayer_id_never_enters_a_history_row(alice_household, alice):
    investor = investor_onboard(household=alice_household, acting_user=alice.user, **cip())
    investor_update(investor=investor, acting_user=alice.user, tax_id="987-65-4321", city="Chicago")
    history = Investor.history.model
    assert "tax_id_encrypted" not in {f.name for f in history._meta.fields}
    for row in history.objects.filter(id=investor.pk).values():
        text = repr(row)
        assert "123456789" not in text and "987654321" not in text and "123-45-6789" not in text
    assert list(
        history.objects.filter(id=investor.pk).order_by("history_id").values_list("tax_id_last4", flat=True)
    ) == [
        "6789",
        "4321",
    ]


def test_the_taxpayer_id_never_enters_the_audit_export(alice_household, alice, officer, verified_client):
    investor_onboard(household=alice_household, acting_user=alice.user, **cip())
    client = verified_client(officer)
    body = b"".join(client.get("/compliance/audit.csv").streaming_content)
    assert b"Whitfield" in body  # the investor's history is exported ...
    assert b"123456789" not in body and b"123-45-6789" not in body  # ... never the taxpayer id


def test_the_taxpayer_id_never_enters_a_log_line(alice_household, alice, api, caplog):
    from tests.onboarding.conftest import api_cip

    caplog.set_level(logging.DEBUG)
    client = api(alice.user)
    response = client.post(
        f"/api/v1/households/{alice_household.pk}/investors/", api_cip(), format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert response.status_code == 201
    bad = client.post(
        f"/api/v1/households/{alice_household.pk}/investors/",
        api_cip(tax_id="98-765-4321"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k2",
    )
    assert bad.status_code == 400
    assert caplog.records  # the request was logged ...
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "123-45-6789" not in text and "123456789" not in text and "98-765-4321" not in text  # ... not the id


def test_keys_rotate_without_losing_a_value(alice_household, alice, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    investor = investor_onboard(household=alice_household, acting_user=alice.user, **cip())
    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # the new key first: it encrypts, both decrypt
    assert Investor.objects.get(pk=investor.pk).tax_id_plain() == "123456789"
    call_command("rotate_field_keys")
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key retired
    assert Investor.objects.get(pk=investor.pk).tax_id_plain() == "123456789"
    settings.FIELD_ENCRYPTION_KEYS = [old]
    with pytest.raises(crypto.DecryptionError):
        Investor.objects.get(pk=investor.pk).tax_id_plain()


def test_without_configured_keys_the_key_is_derived_from_but_not_equal_to_the_secret_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    token = crypto.encrypt("123456789")
    assert crypto.decrypt(token) == "123456789"
    assert crypto.derived_key(settings.SECRET_KEY).decode() != settings.SECRET_KEY
