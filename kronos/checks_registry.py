"""Typed slots for the controls a lower app runs without importing the app that owns them.

Trading refuses an order or a transfer, and portfolios a model assignment, on rules that belong to
compliance and onboarding. Neither may import those apps (they sit above them), so the app that
runs a control declares a `Slot` for it, typed with the call it makes (`trading/checks.py`,
`portfolios/checks.py`), and the owning app registers its function there in its
`AppConfig.ready()`. A slot names the registrations it requires: the system check `kronos.E010`
fails (`manage.py check`, so the web and migrate containers do not start) while one of them is
missing, so a control is never switched off by an empty list. Tests that run without a control say
so explicitly with `slot.override(...)`.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar

from django.core import checks
from django.utils.module_loading import autodiscover_modules

F = TypeVar("F", bound=Callable[..., Any])


class Slot(Generic[F]):
    """The checks registered under one name, in registration order, each under a key."""

    declared: ClassVar[dict[str, "Slot[Any]"]] = {}

    def __init__(self, name: str, *, required: tuple[str, ...], doc: str) -> None:
        self.name = name
        self.required = required
        self.doc = doc
        self._checks: dict[str, F] = {}
        Slot.declared[name] = self

    def __repr__(self) -> str:
        return f"<Slot {self.name}: {', '.join(self._checks) or 'empty'}>"

    def register(self, key: str, check: F) -> None:
        """Add `check` under `key` (registering the same key again replaces it: ready() may run twice)."""
        self._checks[key] = check

    def unregister(self, key: str) -> None:
        self._checks.pop(key, None)

    def checks(self) -> tuple[F, ...]:
        return tuple(self._checks.values())

    def keys(self) -> tuple[str, ...]:
        return tuple(self._checks)

    def missing(self) -> list[str]:
        return [key for key in self.required if key not in self._checks]

    @contextmanager
    def override(self, *checks: F) -> Iterator[None]:
        """For tests only: run with exactly `checks` (none: the control is off) and restore after."""
        saved = self._checks
        keys = {check: key for key, check in saved.items()}  # a registered check keeps its key
        self._checks = {keys.get(check, f"override.{i}"): check for i, check in enumerate(checks)}
        try:
            yield
        finally:
            self._checks = saved


def check_required_filled(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """kronos.E010 for every required registration missing from a declared slot."""
    autodiscover_modules("checks", "hooks")  # the apps' checks.py and hooks.py declare the slots
    errors: list[checks.CheckMessage] = []
    for slot in Slot.declared.values():
        for key in slot.missing():
            errors.append(
                checks.Error(
                    f"The required check {key!r} is not registered in the {slot.name!r} slot: {slot.doc}",
                    hint="The app that owns it registers it in its AppConfig.ready(); is it in INSTALLED_APPS?",
                    obj=slot.name,
                    id="kronos.E010",
                )
            )
    return errors
