"""Logging in and out: failed-login throttling (django-axes) and the idle timeout."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse

LOGIN_URL = reverse("login")
PASSWORD = "correct-horse-battery"  # UserFactory's
NOON = datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


@pytest.fixture
def nurse(make_user):
    return make_user("nurse", username="grace")


def _log_in(client, username, password, **extra):
    return client.post(LOGIN_URL, {"username": username, "password": password}, **extra)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
def test_right_password_goes_to_the_home_page(client, nurse):
    response = _log_in(client, "grace", PASSWORD)
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.session["_auth_user_id"] == str(nurse.pk)


@pytest.mark.django_db
def test_next_page_is_kept(client, nurse):
    response = client.post(
        f"{LOGIN_URL}?next=/patients/", {"username": "grace", "password": PASSWORD, "next": "/patients/"}
    )
    assert response.url == "/patients/"


@pytest.mark.django_db
@pytest.mark.parametrize(("username", "password"), [("grace", "wrong-password-123"), ("nobody", PASSWORD)])
def test_wrong_credentials_show_an_error(client, nurse, username, password):
    response = _log_in(client, username, password)
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.context["form"].non_field_errors()[0]
    assert not _logged_in(client)


def _fail(client, times, username="grace", **extra):
    return [_log_in(client, username, "wrong-password-123", **extra).status_code for _ in range(times)]


@pytest.mark.django_db
def test_locked_out_after_the_failure_limit_even_with_the_right_password(client, nurse):
    assert settings.AXES_FAILURE_LIMIT == 5
    # django-axes 8 answers a lockout with AXES_HTTP_RESPONSE_CODE, 429 by default, and the lockout template.
    assert _fail(client, 5) == [200, 200, 200, 200, 429]
    response = _log_in(client, "grace", PASSWORD)
    assert response.status_code == 429
    assert "registration/locked_out.html" in [template.name for template in response.templates]
    assert "Too many failed log-ins" in response.content.decode()
    assert not _logged_in(client)


@pytest.mark.django_db
def test_lockout_is_per_username_and_address(client, nurse, make_user):
    make_user("viewer", username="sam")
    _fail(client, 5)
    assert _log_in(client, "sam", PASSWORD).status_code == 302  # another username, same address
    client.logout()
    assert _log_in(client, "grace", PASSWORD, REMOTE_ADDR="10.1.2.3").status_code == 302  # same user elsewhere


BALANCER = {"REMOTE_ADDR": "10.0.0.2"}  # every request through our nginx comes from its address


@pytest.mark.django_db
def test_behind_the_balancer_one_clients_typos_do_not_lock_out_another(client, nurse, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    typist = {**BALANCER, "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    assert _fail(client, 5, **typist) == [200, 200, 200, 200, 429]
    assert _log_in(client, "grace", PASSWORD, **BALANCER, HTTP_X_FORWARDED_FOR="198.51.100.4").status_code == 302
    client.logout()
    # The typist cannot escape the lockout by sending an X-Forwarded-For of their own: nginx appends
    # the address it saw, and only that right-most entry is read.
    forged = {**BALANCER, "HTTP_X_FORWARDED_FOR": "192.0.2.99, 203.0.113.7"}
    assert _log_in(client, "grace", PASSWORD, **forged).status_code == 429


@pytest.mark.django_db
def test_served_directly_a_forwarded_for_header_is_not_trusted(client, nurse, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert _fail(client, 5, **BALANCER, HTTP_X_FORWARDED_FOR="203.0.113.7") == [200, 200, 200, 200, 429]
    # Another X-Forwarded-For from the same peer is the same client: still locked out.
    assert _log_in(client, "grace", PASSWORD, **BALANCER, HTTP_X_FORWARDED_FOR="198.51.100.4").status_code == 429


@pytest.mark.django_db
def test_a_success_below_the_limit_resets_the_count(client, nurse):
    assert _fail(client, 4) == [200] * 4
    assert _log_in(client, "grace", PASSWORD).status_code == 302
    client.logout()
    assert _fail(client, 4) == [200] * 4
    assert _log_in(client, "grace", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_locked_out_page_says_how_long_to_wait_in_words(client, nurse):
    _fail(client, 5)
    html = _log_in(client, "grace", PASSWORD).content.decode()
    assert "Wait 15 minutes" in html
    assert "PT15M" not in html


# --- Idle timeout


def _session_row(client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


@pytest.mark.django_db
def test_each_request_renews_the_idle_timeout(client, nurse, clock):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    _log_in(client, "grace", PASSWORD)
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    assert _session_row(client).expire_date == NOON + timedelta(minutes=30)

    clock.shift(timedelta(minutes=20))
    response = client.get(reverse("patients:list"))
    assert response.status_code == 200
    assert _session_row(client).expire_date == NOON + timedelta(minutes=50)
    # A browser-session cookie: gone when the browser closes, whatever the server-side expiry.
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == ""

    clock.shift(timedelta(minutes=29))
    assert client.get(reverse("patients:list")).status_code == 200


@pytest.mark.django_db
def test_requests_within_a_minute_of_the_last_renewal_write_nothing(client, nurse, clock):
    _log_in(client, "grace", PASSWORD)
    clock.shift(timedelta(seconds=59))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("patients:list")).status_code == 200
    assert not [
        query for query in queries.captured_queries if "django_session" in query["sql"] and "UPDATE" in query["sql"]
    ]
    assert _session_row(client).expire_date == NOON + timedelta(minutes=30)  # never later than 30 min after a request
    clock.shift(timedelta(seconds=1))
    client.get(reverse("patients:list"))
    assert _session_row(client).expire_date == NOON + timedelta(minutes=31)


@pytest.mark.django_db
def test_idle_for_longer_than_the_timeout_logs_out(client, nurse, clock):
    _log_in(client, "grace", PASSWORD)
    clock.shift(timedelta(minutes=31))
    response = client.get(reverse("patients:list"))
    assert response.status_code == 302
    assert response.url == f"{LOGIN_URL}?next=/patients/"


# --- Logout


@pytest.mark.django_db
def test_logout_is_post_only(client, nurse):
    client.force_login(nurse)
    assert client.get(reverse("logout")).status_code == 405
    assert _logged_in(client)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response.url == LOGIN_URL
    assert not _logged_in(client)
    assert client.get(reverse("patients:list")).status_code == 302
