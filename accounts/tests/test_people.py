"""`person`: who did something, by full name and role, read once per person per request."""

import pytest
from django.core.signals import request_started
from django.db import close_old_connections, connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext

from accounts.templatetags import people
from accounts.templatetags.people import person


@pytest.fixture(autouse=True)
def a_new_request():
    people._forget_roles()  # what request_started does (sending it would close the test's connection)


@pytest.mark.django_db
def test_full_name_and_role(make_user):
    assert person(make_user("nurse", username="nurse", first_name="Ana", last_name="Ruiz")) == "Ana Ruiz (nurse)"


@pytest.mark.django_db
def test_the_login_name_without_a_name_and_no_brackets_without_a_role(make_user):
    assert person(make_user(None, username="script", first_name="", last_name="")) == "script"


def test_nobody_is_empty_so_a_default_reads():
    assert Template('{{ who|person|default:"system" }}').render(Context({"who": None})) == "system"


@pytest.mark.django_db
def test_a_table_reads_each_person_s_roles_once(make_user):
    from django.contrib.auth import get_user_model

    nurse = make_user("nurse", first_name="Ana", last_name="Ruiz")
    rows = [get_user_model().objects.get(pk=nurse.pk) for _ in range(20)]  # a fresh instance a row
    with CaptureQueriesContext(connection) as queries:
        names = Template("{% for who in rows %}{{ who|person }};{% endfor %}").render(Context({"rows": rows}))
    assert names == "Ana Ruiz (nurse);" * 20
    assert len(queries) == 1


@pytest.mark.django_db
def test_a_new_request_reads_roles_again(make_user):
    user = make_user("viewer", first_name="Bo", last_name="Lind")
    assert person(user) == "Bo Lind (viewer)"
    user.groups.clear()
    del user._clinic_group_names
    assert person(user) == "Bo Lind (viewer)"  # the same request: read once
    # Django also closes old connections when a request starts; on PostgreSQL that would close
    # the test's own connection, so only that receiver is held back.
    request_started.disconnect(close_old_connections)
    try:
        request_started.send(sender=None)
    finally:
        request_started.connect(close_old_connections)
    assert person(user) == "Bo Lind"
