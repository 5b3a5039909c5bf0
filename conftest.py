import pytest
from django.contrib.auth.models import Group

from patients.roles import ROLES
from patients.tests.factories import PatientFactory, UserFactory


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Real hashing is deliberately slow; tests need only that passwords work.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db):
    def make(role: str | None = None, **kwargs):
        user = UserFactory(**kwargs)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def role_client(client, make_user):
    """A test client logged in as a fresh user of the given role."""

    def login(role: str | None):
        client.force_login(make_user(role))
        return client

    return login


@pytest.fixture
def physician(make_user):
    return make_user("physician")


@pytest.fixture
def patient(db):
    return PatientFactory()


@pytest.fixture(params=ROLES)
def any_role(request):
    return request.param
