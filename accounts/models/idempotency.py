"""The Idempotency-Key store of the API (`kronos.idempotency`)."""

from kronos.models import IdempotencyKeyBase


class IdempotencyKey(IdempotencyKeyBase):
    """The store of `kronos.idempotency` (handed to it in `AccountsConfig.ready()`); its fields and
    its unique (user, key) constraint come from `kronos.models.IdempotencyKeyBase`."""
