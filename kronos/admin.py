"""The Django admin divided by firm.

Every ModelAdmin and inline of the project is a `FirmScopedAdmin` and says how its model
reaches the firm that owns a row — `firm_scope = ("household__firm",)`, several lookups OR-ed
— or that the model is no firm's: `SHARED` (securities, prices, schedules: the role's
permissions decide) or `SUPERUSER_ONLY` (the platform's own machinery: OAuth clients and
tokens, second-factor devices, lockouts, task results, roles). A staff user who is not a
superuser then meets only their firm's rows everywhere the admin reads them:

- lists, searches, actions and exports (all start from `get_queryset`), and the list filters
  (a filter on a relation offers only the related rows the list itself holds);
- the change, delete and history pages, and simple_history's version pages (which read the
  history table directly and would otherwise show or revert any firm's row): another firm's
  object is a 404;
- foreign-key and many-to-many choices, raw-id and autocomplete fields (a posted id of
  another firm's row is an invalid choice; autocomplete asks the related model's admin).

An admin that declares nothing shows a non-superuser nothing, and
tests/test_admin_firm_scope.py fails for it, so a new admin cannot forget the firm.
Third-party admins are wrapped below (this module is imported by the admin's autodiscovery
after the third-party apps' admin modules, before the project's apps).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest

SHARED = "shared"
SUPERUSER_ONLY = "superuser only"

FirmScope = tuple[str, ...] | str

#: Related models that have no admin of their own, and how their choices are scoped.
UNREGISTERED_SCOPES: dict[str, FirmScope] = {"auth.permission": SHARED, "contenttypes.contenttype": SHARED}

#: Third-party apps' admins (wrapped by `scope_third_party_admins`).
THIRD_PARTY_SCOPES: dict[str, FirmScope] = {
    "auth": SUPERUSER_ONLY,  # groups are the roles: only a superuser grants them
    "axes": SUPERUSER_ONLY,
    "otp_totp": SUPERUSER_ONLY,  # a device made for someone else is their second factor
    "otp_static": SUPERUSER_ONLY,
    "oauth2_provider": SUPERUSER_ONLY,  # a client or token made for someone else acts as them
    "django_celery_results": SUPERUSER_ONLY,
    "django_celery_beat": SHARED,  # the schedules run every firm's jobs; operations keep them
}


def firm_filter(queryset: QuerySet[Any], *, user: Any, scope: FirmScope) -> QuerySet[Any]:
    """`queryset` cut down to what `user` may see in the admin."""
    if user.is_superuser or scope == SHARED:
        return queryset
    firm_id = getattr(user, "firm_id", None)
    if scope == SUPERUSER_ONLY or not scope or not firm_id:
        return queryset.none()
    condition = Q()
    for lookup in scope:
        condition |= Q(**{lookup: firm_id})
    model = queryset.model
    if any(_is_multi_valued(model, lookup) for lookup in scope):
        # A semi-join rather than DISTINCT, so the queryset can still be deleted or updated.
        return queryset.filter(pk__in=model._default_manager.filter(condition).values("pk"))
    return queryset.filter(condition)


def _is_multi_valued(model: type[Model], lookup: str) -> bool:
    current: Any = model
    for part in lookup.split("__"):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if field.many_to_many or field.one_to_many:
            return True
        if not field.is_relation:
            return False
        current = field.related_model
    return False


class FirmScopedAdmin:
    """Mixin for ModelAdmin and InlineModelAdmin (put it first among the bases)."""

    #: Lookups from the model to the owning firm's id (OR-ed), or SHARED, or SUPERUSER_ONLY.
    firm_scope: ClassVar[FirmScope] = ()

    admin_site: admin.AdminSite
    model: type[Model]

    def _superuser_only_refused(self, request: HttpRequest) -> bool:
        return self.firm_scope == SUPERUSER_ONLY and not request.user.is_superuser

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return firm_filter(super().get_queryset(request), user=request.user, scope=self.firm_scope)  # type: ignore[misc]

    def has_module_permission(self, request: HttpRequest) -> bool:
        if self._superuser_only_refused(request):
            return False
        return bool(super().has_module_permission(request))  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self._superuser_only_refused(request):
            return False
        return bool(super().has_view_permission(request, obj))  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        if self._superuser_only_refused(request):
            return False
        return bool(super().has_add_permission(request, *args))  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self._superuser_only_refused(request):
            return False
        return bool(super().has_change_permission(request, obj))  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self._superuser_only_refused(request):
            return False
        return bool(super().has_delete_permission(request, obj))  # type: ignore[misc]

    # --- choices -------------------------------------------------------------------------------

    def scope_of(self, model: type[Model]) -> FirmScope:
        """How rows of `model` (a related model) are scoped: by its own admin's declaration."""
        related_admin = self.admin_site._registry.get(model)
        if isinstance(related_admin, FirmScopedAdmin):
            return related_admin.firm_scope
        return UNREGISTERED_SCOPES.get(model._meta.label_lower, SUPERUSER_ONLY)

    def _choices(self, db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        if "queryset" in kwargs:
            return
        related = db_field.remote_field.model
        queryset = self.get_field_queryset(kwargs.get("using"), db_field, request)  # type: ignore[attr-defined]
        if queryset is None:
            queryset = related._default_manager.using(kwargs.get("using"))
        kwargs["queryset"] = firm_filter(queryset, user=request.user, scope=self.scope_of(related))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = super().get_list_filter(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return filters
        scoped = []
        for entry in filters:
            if isinstance(entry, str) and _is_relation(self.model, entry):
                # The plain related filter lists every row of the related model (every firm's name).
                scoped.append((entry, admin.RelatedOnlyFieldListFilter))
            else:
                scoped.append(entry)
        return scoped

    # --- objects -------------------------------------------------------------------------------

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> Any:
        # Django redirects to the admin index with "doesn't exist"; another firm's object is a 404.
        raise Http404(f"No {opts.verbose_name} with the id {object_id}.")

    def _in_scope_or_404(self, request: HttpRequest, object_id: str) -> None:
        if request.user.is_superuser:
            return
        if self.get_object(request, unquote(object_id)) is None:  # type: ignore[attr-defined]
            raise Http404

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        # simple_history's view falls back to the history table for an object the queryset hides.
        self._in_scope_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)  # type: ignore[misc]

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> Any:
        # simple_history's version page (and its revert) reads the history table with no queryset at all.
        self._in_scope_or_404(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)  # type: ignore[misc]


def _is_relation(model: type[Model], name: str) -> bool:
    try:
        return bool(model._meta.get_field(name.split("__")[0]).is_relation)
    except FieldDoesNotExist:
        return False


def scope_third_party_admins(site: admin.AdminSite) -> None:
    """Re-register third-party apps' admins as FirmScopedAdmin subclasses (THIRD_PARTY_SCOPES)."""
    for model, model_admin in list(site._registry.items()):
        scope = THIRD_PARTY_SCOPES.get(model._meta.app_label)
        if scope is None or isinstance(model_admin, FirmScopedAdmin):
            continue
        base = type(model_admin)
        inlines = [
            type(f"FirmScoped{inline.__name__}", (FirmScopedAdmin, inline), {"firm_scope": scope})
            for inline in base.inlines
        ]
        scoped = type(f"FirmScoped{base.__name__}", (FirmScopedAdmin, base), {"firm_scope": scope, "inlines": inlines})
        site.unregister(model)
        site.register(model, scoped)


scope_third_party_admins(admin.site)
