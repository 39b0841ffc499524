"""Encryption at rest for personal identifiers (taxpayer ids), with key rotation.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a `MultiFernet`: the first key
of `FIELD_ENCRYPTION_KEYS` encrypts, every listed key decrypts, so a key is rotated by
putting the new one first, running `manage.py rotate_field_keys` (re-encrypts every value
under the new key) and then dropping the old one. Without the setting, one key is derived
from SECRET_KEY with HKDF under its own label, so the two never coincide; production sets
FIELD_ENCRYPTION_KEYS from the secrets manager, separate from SECRET_KEY.

Ciphertext never leaves this module in a readable form: callers get the plaintext only
through `decrypt`, and the models keep the last four digits apart for display.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class DecryptionError(Exception):
    """A value could not be decrypted with any configured key."""


def derived_key(secret: str) -> bytes:
    """A Fernet key derived from `secret` (HKDF-SHA256, a label of its own)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kronos-field-encryption", info=b"pii-v1").derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    material = [k.encode() for k in keys if k] or [derived_key(secret_key)]
    return MultiFernet([Fernet(k) for k in material])


def fernet() -> MultiFernet:
    keys = tuple(getattr(settings, "FIELD_ENCRYPTION_KEYS", []) or [])
    return _fernet(keys, settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("The value cannot be decrypted with the configured keys.") from exc


def rotate(token: str) -> str:
    """The same plaintext under the current (first) key."""
    return fernet().rotate(token.encode()).decode() if token else token
