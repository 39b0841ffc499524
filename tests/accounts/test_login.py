import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def login(client, email, password=PASSWORD, address="10.0.0.1"):
    return client.post("/accounts/login/", {"username": email, "password": password}, REMOTE_ADDR=address)


def test_it_shows_the_login_page(client):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text


def test_a_bad_login_says_so_and_counts_toward_lockout(client, charlie):
    page = login(client, charlie.email, "wrong password")
    assert page.status_code == 200
    assert "do not match an account" in page.text
    attempt = AccessAttempt.objects.get(username=charlie.email)
    assert attempt.failures_since_start == 1


def test_it_locks_the_login_after_repeated_failures(client, charlie, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, charlie.email, "wrong password")
    page = login(client, charlie.email)  # even the right password is refused now
    assert page.status_code == 429
    assert "Login locked" in page.text
    assert "_auth_user_id" not in client.session


def test_one_users_lockout_never_locks_out_another_on_the_same_address(client, charlie, settings):
    other = UserFactory(email="dana@example.com", roles=["investor"])
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, charlie.email, "wrong password")
    page = login(Client(), other.email)
    assert page.status_code == 302
    assert page.headers["Location"] == "/"


def test_an_investor_needs_no_second_factor(client, charlie):
    assert login(client, charlie.email).status_code == 302
    page = client.get("/households/")
    assert page.status_code == 200
    assert "Alvarez Household" in page.text


def test_an_advisor_must_enrol_a_second_factor_by_qr_code(client, alice):
    assert login(client, alice.user.email).status_code == 302
    page = client.get("/households/")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/accounts/2fa/")
    enrol = client.get(page.headers["Location"])
    assert "Set up your authenticator" in enrol.text
    assert "<svg" in enrol.text  # the QR code


def test_an_advisor_passes_with_the_current_code_and_not_with_a_wrong_one(client, alice):
    login(client, alice.user.email)
    client.get("/accounts/2fa/")
    device = TOTPDevice.objects.get(user=alice.user)
    wrong = client.post(
        "/accounts/2fa/", {"token": "000000" if totp(device.bin_key) != 0 else "111111", "next": "/households/"}
    )
    assert "That code is not valid" in wrong.text
    assert client.get("/households/").status_code == 302
    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows retries after a failure; the test doesn't wait
    code = f"{totp(device.bin_key):06d}"
    right = client.post("/accounts/2fa/", {"token": code, "next": "/households/"})
    assert right.status_code == 302 and right.headers["Location"] == "/households/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/households/").status_code == 200


def test_the_second_factor_does_not_redirect_off_site(client, alice):
    login(client, alice.user.email)
    client.get("/accounts/2fa/")
    device = TOTPDevice.objects.get(user=alice.user)
    answer = client.post("/accounts/2fa/", {"token": f"{totp(device.bin_key):06d}", "next": "https://evil.example/"})
    assert answer.headers["Location"] == "/"


def test_the_admin_requires_the_second_factor(client, verified_client):
    ops = UserFactory(email="ops@example.com", roles=["operations"], is_staff=True)
    client.force_login(ops)
    assert client.get("/admin/").status_code == 302
    assert verified_client(ops).get("/admin/").status_code == 200


def test_a_password_reset_sends_a_link(client, charlie):
    page = client.post("/accounts/password-reset/", {"email": charlie.email})
    assert page.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/reset/" in mail.outbox[0].body


def test_logout_ends_the_session(client, charlie):
    login(client, charlie.email)
    client.post("/accounts/logout/")
    assert client.get("/households/").status_code == 302


def test_the_session_device_is_read_as_django_otp_reads_it(alice):
    """The second-factor middleware reads the session's device on every request with its SQL
    built once: what `Device.from_persistent_id` finds, and nothing for a removed device or an
    id that names no device."""
    from django_otp.models import Device
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.middleware import SecondFactorDeviceMiddleware

    read = SecondFactorDeviceMiddleware(lambda request: None)._device_from_persistent_id
    device = TOTPDevice.objects.create(user=alice.user, name="phone", confirmed=True)
    found = read(device.persistent_id)
    assert found == Device.from_persistent_id(device.persistent_id) == device
    assert isinstance(found, TOTPDevice) and found.user_id == alice.user.pk and found.key == device.key
    for garbage in ("otp_totp.totpdevice/x", "otp_totp.nosuch/1", "nothing", f"otp_totp.totpdevice/{2**70}"):
        assert read(garbage) is None and Device.from_persistent_id(garbage) is None
    persistent_id = device.persistent_id
    device.delete()
    assert read(persistent_id) is None
