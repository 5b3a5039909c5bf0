"""Permissions and roles read in one query per request.

Django's ModelBackend asks the database twice for a user's permissions (their own,
then their groups'), and the navbar asks a third time for the role groups. A role
here *is* a group, so one UNION query returns the groups with their permissions and
the user's own permissions; the result is cached on the user object for the request,
where ModelBackend keeps its own caches."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models import CharField, Value


class RoleBackend(ModelBackend):
    def _load(self, user_obj) -> None:
        text = CharField()
        by_group = (
            Group.objects.filter(user=user_obj)
            .order_by()  # compound queries take no ORDER BY in their parts
            .values_list(
                Value("group", output_field=text),
                "name",
                "permissions__content_type__app_label",
                "permissions__codename",
            )
        )
        own = (
            Permission.objects.filter(user=user_obj)
            .order_by()
            .values_list(
                Value("user", output_field=text), Value("", output_field=text), "content_type__app_label", "codename"
            )
        )
        group_names, group_perms, user_perms = set(), set(), set()
        for source, group_name, app_label, codename in by_group.union(own, all=True):
            if source == "group":
                group_names.add(group_name)
            if codename is not None:  # a group without permissions joins to NULLs
                (group_perms if source == "group" else user_perms).add(f"{app_label}.{codename}")
        user_obj._clinic_group_names = frozenset(group_names)
        user_obj._group_perm_cache = group_perms
        user_obj._user_perm_cache = user_perms

    def _get_permissions(self, user_obj, obj, from_name):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return super()._get_permissions(user_obj, obj, from_name)
        if not hasattr(user_obj, f"_{from_name}_perm_cache"):
            self._load(user_obj)
        return getattr(user_obj, f"_{from_name}_perm_cache")


def group_names_of(user) -> frozenset[str]:
    """The user's group names, from RoleBackend's cache when it has loaded them."""
    names = getattr(user, "_clinic_group_names", None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))
        user._clinic_group_names = names
    return names


def load_group_names(users) -> None:
    """Give each of ``users`` (None skipped) its group names in one query, where group_names_of
    reads them: a page that names many people with their roles (``person``) then asks once, not
    once per person. The same person may come as several objects (one per row of a join)."""
    pending: dict[int, list] = {}
    for user in users:
        if user is not None and getattr(user, "_clinic_group_names", None) is None:
            pending.setdefault(user.pk, []).append(user)
    if not pending:
        return
    names: dict[int, set[str]] = {pk: set() for pk in pending}
    memberships = Group.user_set.through.objects.filter(user_id__in=pending).values_list("user_id", "group__name")
    for user_id, name in memberships:
        names[user_id].add(name)
    for pk, same_person in pending.items():
        for user in same_person:
            user._clinic_group_names = frozenset(names[pk])
