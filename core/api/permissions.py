"""The API's one authorization model: Django permissions, the same ones the pages and the
services ask for. A viewset's default needs the model permission of the HTTP method (reads
included); an action that needs something else names it with `requires` (all of, as on the
pages), `requires_any` (any one of) or `model_permission` (another model's method permission)."""

from django.contrib.auth.models import Permission
from django.db.models import Q
from rest_framework.permissions import BasePermission, DjangoModelPermissions


def load_permissions(user) -> None:
    """Read the user's permissions, their own and their groups' (the role's), in one query,
    into the cache Django's ModelBackend keeps on the user object: every `has_perm` of the
    request (these classes, the services) asks that object, so the request reads them once.
    A superuser has every permission without a read; an inactive user none."""
    if (
        hasattr(user, "_perm_cache")
        or not user.is_authenticated
        or not user.is_active
        or user.is_superuser
    ):
        return
    # Two plain joins in a UNION: one query with an OR across both outer joins took PostgreSQL
    # half as long again to run, at every request.
    own, via_groups = (
        Permission.objects.filter(lookup)
        .order_by()
        .values_list("content_type__app_label", "codename")
        for lookup in (Q(user=user), Q(group__user=user))
    )
    rows = own.union(via_groups)
    user._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}


class RolePermission(DjangoModelPermissions):
    """Django model permissions, reads included: a role without `view_<model>` reads nothing."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        if _signed_in(request):
            load_permissions(request.user)
        return super().has_permission(request, view)


class ChangeActionPermission(RolePermission):
    """A POST action on one object changes it: it needs change_<model>, not add_<model>."""

    perms_map = {**RolePermission.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


def _signed_in(request) -> bool:
    if request.user and request.user.is_authenticated:
        load_permissions(request.user)
        return True
    return False


def requires(*perms: str) -> type[BasePermission]:
    """All of `perms`, whatever the method. Anonymous callers get 401, as everywhere else."""

    class Requires(BasePermission):
        def has_permission(self, request, view) -> bool:
            return _signed_in(request) and request.user.has_perms(perms)

    return Requires


def requires_any(*perms: str) -> type[BasePermission]:
    """Any one of `perms` (a contractor cancels their own request, staff cancel any)."""

    class RequiresAny(BasePermission):
        def has_permission(self, request, view) -> bool:
            return _signed_in(request) and any(request.user.has_perm(p) for p in perms)

    return RequiresAny


def model_permission(model) -> type[BasePermission]:
    """Reading the view's own model, and the method's permission on `model`: a stock-take's
    scans need view_stocktake, then view_scan to read and add_scan to scan."""

    class ModelPermission(RolePermission):
        def has_permission(self, request, view) -> bool:
            if not _signed_in(request):
                return False
            return request.user.has_perms(
                self.get_required_permissions("GET", view.get_queryset().model)
                + self.get_required_permissions(request.method, model)
            )

    return ModelPermission
