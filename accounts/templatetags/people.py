"""``{{ someone|person }}``: who did something, as people are known in the clinic: "Ana Ruiz
(nurse)", not the login name "nurse". A builtin (settings.TEMPLATES): no ``{% load %}`` needed.

A table names the same few people on every row, so each person's roles are read once per request
(the cache is emptied when a request starts) instead of once per row.
"""

from django import template
from django.core.signals import request_started

from accounts.roles import roles_of

register = template.Library()

_roles_by_user_id: dict[int, str] = {}


def _forget_roles(**kwargs) -> None:
    _roles_by_user_id.clear()


request_started.connect(_forget_roles, dispatch_uid="accounts.people.forget_roles")


@register.filter
def person(user) -> str:
    """The person's full name with their clinic roles; the login name when no name is on file; ""
    for nobody (so ``|default:"system"`` still reads). Example: "Ana Ruiz (nurse)"."""
    if user is None:
        return ""
    name = user.get_full_name() or user.get_username()
    if user.pk not in _roles_by_user_id:
        _roles_by_user_id[user.pk] = ", ".join(roles_of(user))
    roles = _roles_by_user_id[user.pk]
    return f"{name} ({roles})" if roles else name
