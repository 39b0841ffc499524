"""Abstract models of the shared pieces. The project package owns no table: an app that wants a
shared piece subclasses its model and hands the concrete class over in its `AppConfig.ready()`
(so `kronos` never imports an app)."""

from django.conf import settings
from django.db import models


class IdempotencyKeyBase(models.Model):
    """A client's Idempotency-Key for a POST that moves money or places an order
    (`kronos.idempotency`): the fields and the one-key-per-user rule its store needs.

    The first request with a key stores its answer; a repeat with the same key and body
    gets the same answer, the same key with another body is refused. Kept at least 24 hours.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="%(app_label)s_idempotency_key_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
