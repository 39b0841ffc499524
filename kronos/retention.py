"""Records kept seven years are never hard-deleted.

Apply `RetainedModel` (a model mixin whose manager's QuerySet and instance `delete()` refuse)
to financial models, and `RetainedAdminMixin` to their ModelAdmin so the admin offers no
delete button or bulk delete action. A record ends in a state (closed, cleared, inactive),
and its history table keeps every version.

    class Order(RetainedModel, models.Model): ...
    objects = RetainedManager()   # only if the model declares its own manager

    @admin.register(Order)
    class OrderAdmin(RetainedAdminMixin, SimpleHistoryAdmin): ...
"""

from typing import Any

from django.db import models

from kronos.errors import DomainError

RETENTION_MESSAGE = (
    "{name} records are kept for seven years and cannot be deleted; close, clear or deactivate the record instead."
)


class RetentionError(DomainError):
    """A delete of a record that must be retained."""

    status_code = 409

    def __init__(self, model: type[models.Model]):
        super().__init__(RETENTION_MESSAGE.format(name=str(model._meta.verbose_name).capitalize()), code="retained")


class RetainedQuerySet(models.QuerySet):
    def delete(self) -> Any:  # type: ignore[override]
        raise RetentionError(self.model)

    delete.queryset_only = True  # type: ignore[attr-defined]


class RetainedManager(models.Manager.from_queryset(RetainedQuerySet)):  # type: ignore[misc]
    pass


class RetainedModel(models.Model):
    """Abstract mixin: `instance.delete()` and `QuerySet.delete()` raise `RetentionError`."""

    objects = RetainedManager()

    class Meta:
        abstract = True

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise RetentionError(type(self))


class RetainedAdminMixin:
    """ModelAdmin mixin: no delete permission, so no delete button and no delete action."""

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
