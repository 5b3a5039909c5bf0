"""Calendar feed links: made and revoked on the tokens page, hashed at rest, and never written
into a log line (gunicorn's access log, Django's request log)."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse

from accounts import services
from accounts.log_redaction import RedactSecrets, redact
from accounts.models import CalendarFeed, secret_hash

TOKENS_URL = "/accounts/tokens/"
CREATE_URL = "/accounts/tokens/feeds/"


@pytest.fixture
def nurse(make_user):
    return make_user("nurse")


@pytest.fixture
def nurse_client(client, nurse):
    client.force_login(nurse)
    return client


# ------------------------------------------------------------------------ the page


@pytest.mark.django_db
class TestFeedPages:
    def test_create_shows_the_link_once_and_stores_only_its_hash(self, nurse_client, nurse):
        response = nurse_client.post(CREATE_URL, {"feed-name": "Ward tablet"})
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
        link = response.context["link"]
        secret = link.rsplit("/", 1)[1].removesuffix(".ics")
        assert link.startswith("http://testserver/scheduling/calendar/")
        feed = CalendarFeed.objects.get(user=nurse)
        assert feed.key_hash == secret_hash(secret) and secret not in feed.key_hash
        assert feed.history.get().history_change_reason == "created"
        listing = nurse_client.get(TOKENS_URL).content.decode()
        assert "Ward tablet" in listing and secret not in listing

    def test_a_blank_name_is_refused_and_nothing_is_written(self, nurse_client):
        response = nurse_client.post(CREATE_URL, {"feed-name": ""})
        assert response.status_code == 400
        assert not CalendarFeed.objects.exists()

    def test_revoke_stops_the_link(self, nurse_client, nurse, client):
        feed, secret = services.calendar_feed_create(by=nurse, name="Ward tablet")
        link = reverse("scheduling:calendar_feed_link", args=[secret])
        response = nurse_client.post(reverse("accounts:feed_revoke", args=[feed.pk]))
        assert response.status_code == 302
        feed.refresh_from_db()
        assert feed.revoked_at is not None
        assert [row.history_change_reason for row in feed.history.order_by("history_id")] == ["created", "revoked"]
        assert nurse_client.get(link).status_code == 404

    def test_someone_elses_feed_is_404(self, nurse_client, make_user):
        feed, _ = services.calendar_feed_create(by=make_user("pharmacist"), name="Pharmacy")
        assert nurse_client.post(reverse("accounts:feed_revoke", args=[feed.pk])).status_code == 404
        feed.refresh_from_db()
        assert feed.revoked_at is None

    def test_without_a_role_403(self, client, make_user):
        client.force_login(make_user(None))
        assert client.post(CREATE_URL, {"feed-name": "x"}).status_code == 403

    @pytest.mark.parametrize("url", [CREATE_URL, "/accounts/tokens/feeds/1/revoke/"])
    def test_get_is_405(self, nurse_client, url):
        assert nurse_client.get(url).status_code == 405

    def test_revoking_twice_keeps_the_first_time(self, nurse):
        feed, _ = services.calendar_feed_create(by=nurse, name="Ward tablet")
        first = services.calendar_feed_revoke(by=nurse, feed=feed).revoked_at
        again = services.calendar_feed_revoke(by=nurse, feed=feed, now=first + timedelta(hours=1))
        assert again.revoked_at == first


# ------------------------------------------------------------------------ no secret in a log line

SECRET = "Zq3-Xy_9abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"GET /scheduling/calendar/{SECRET}.ics HTTP/1.1", "GET /scheduling/calendar/[redacted] HTTP/1.1"),
        (f"/scheduling/calendar.ics?token={SECRET}", "/scheduling/calendar.ics?token=[redacted]"),
        (f"/x?a=1&TOKEN={SECRET}&b=2", "/x?a=1&TOKEN=[redacted]&b=2"),
        (f"token={SECRET}", "token=[redacted]"),
        ("GET /scheduling/calendar.ics HTTP/1.1", "GET /scheduling/calendar.ics HTTP/1.1"),
        ("GET /patients/?q=tokenish HTTP/1.1", "GET /patients/?q=tokenish HTTP/1.1"),
    ],
)
def test_redact(line, expected):
    assert redact(line) == expected


@pytest.mark.django_db
def test_django_request_log_has_no_secret(client):
    # An unknown link answers 404, which Django logs as "Not Found: <path>" on the django.request logger.
    response = client.get(f"/scheduling/calendar/{SECRET}.ics")
    assert response.status_code == 404
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (response.request["PATH_INFO"],), None
    )
    assert RedactSecrets().filter(record)
    assert record.getMessage() == "Not Found: /scheduling/calendar/[redacted]"


def test_every_handler_django_logs_through_redacts():
    # The handlers that Django's request and runserver records reach are the ones LOGGING configures.
    for name in ("django.request", "django.server", "django.security"):
        logger = logging.getLogger(name)
        handlers = []
        while logger is not None:
            handlers += logger.handlers
            logger = logger.parent if logger.propagate else None
        handlers = [h for h in handlers if type(h).__module__ != "_pytest.logging"]
        assert handlers, name
        for handler in handlers:
            assert any(isinstance(f, RedactSecrets) for f in handler.filters), (name, handler)
