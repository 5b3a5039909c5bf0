"""RoleBackend: the same answers as Django's ModelBackend, in one query per request."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.auth_backend import RoleBackend
from accounts.roles import ROLES, roles_of

pytestmark = pytest.mark.django_db


def fresh(user):
    return type(user).objects.get(pk=user.pk)  # no permission caches


@pytest.mark.parametrize("role", ROLES)
def test_a_role_has_the_same_permissions_as_modelbackend_says(make_user, role):
    user = make_user(role)
    expected = ModelBackend().get_all_permissions(fresh(user))
    assert expected  # every role can do something
    assert RoleBackend().get_all_permissions(fresh(user)) == expected


def test_permissions_and_roles_take_one_query(make_user):
    user = fresh(make_user("pharmacist"))
    with CaptureQueriesContext(connection) as queries:
        assert user.has_perm("dosing.verify_doseorder")
        assert not user.has_perm("dosing.add_doseorder")
        assert roles_of(user) == ["pharmacist"]
    assert len(queries.captured_queries) == 1


def test_a_permission_given_to_the_user_directly_counts(make_user):
    user = make_user("viewer")
    user.user_permissions.add(Permission.objects.get(codename="verify_doseorder"))
    backend = RoleBackend()
    assert "dosing.verify_doseorder" in backend.get_user_permissions(fresh(user))
    assert "dosing.verify_doseorder" not in backend.get_group_permissions(fresh(user))
    assert fresh(user).has_perm("dosing.verify_doseorder")


def test_an_inactive_user_has_no_permission(make_user):
    user = make_user("physician", is_active=False)
    assert RoleBackend().get_all_permissions(fresh(user)) == set()


def test_a_user_without_a_role_has_no_role_and_no_permission(make_user):
    user = fresh(make_user(None))
    assert RoleBackend().get_all_permissions(user) == set()
    assert roles_of(user) == []


def test_a_superuser_has_every_permission(make_user):
    user = make_user(None, is_superuser=True)
    assert RoleBackend().get_all_permissions(fresh(user)) == ModelBackend().get_all_permissions(fresh(user))
