"""Recording who changed what, for every financial write.

Services call `attribute(instance, acting_user=..., reason=...)` before `save()`, so the
history row names the acting user and the change reason; bulk writes go through
`simple_history.utils.bulk_create_with_history` / `bulk_update_with_history` with the
same user. Jobs act as the named system user from `accounts.services.system_user()`.
"""

from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Model

if TYPE_CHECKING:
    # The project's AUTH_USER_MODEL as django-stubs resolves it (kronos imports no app).
    from django.contrib.auth.models import _User as User

M = TypeVar("M", bound=Model)


def attribute(instance: M, *, acting_user: "User | None", reason: str = "") -> M:
    """Mark `instance` so its next history row names `acting_user` and `reason`."""
    instance._history_user = acting_user  # type: ignore[attr-defined]
    if reason:
        instance._change_reason = reason[:100]  # type: ignore[attr-defined]
    return instance


def save_attributed(
    instance: M, *, acting_user: "User | None", reason: str = "", validate: bool = True, **save_kwargs: Any
) -> M:
    """Validate (full_clean) and save with the acting user and reason on its history row."""
    if validate:
        instance.full_clean()
    attribute(instance, acting_user=acting_user, reason=reason)
    instance.save(**save_kwargs)
    return instance


def cache_history_managers() -> None:
    """Build each model's history manager class once, not on every `Model.history` access.

    django-simple-history's `HistoryDescriptor.__get__` calls `Manager.from_queryset(...)` on
    every access, which builds a new class by introspecting the queryset (`inspect.getmembers`);
    its `post_save` handler reaches the manager that way for every history row, so a fill (seven
    history rows) built seven classes: about 5% of its time. The class it builds depends only on
    the descriptor's manager and queryset classes, so one per descriptor is the same thing."""
    from simple_history.manager import HistoryDescriptor

    if getattr(HistoryDescriptor, "_kronos_cached", False):
        return

    def __get__(self: Any, instance: Any, owner: Any) -> Any:
        manager = self.__dict__.get("_manager_cls")
        if manager is None:
            manager = self._manager_cls = self.manager_class.from_queryset(self.queryset_class)
        return manager(self.model, instance)

    HistoryDescriptor.__get__ = __get__  # type: ignore[method-assign]
    HistoryDescriptor._kronos_cached = True  # type: ignore[attr-defined]
