"""Tests for scheduling.ical (the pure writer) and the calendar feed view that serves it.

Time is frozen at Sunday 22 Nov 2026, noon in New York (17:00 UTC)."""

import doctest
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from accounts.services import api_token_create, calendar_feed_create, calendar_feed_revoke
from patients.tests.factories import MeasurementFactory, PatientFactory
from scheduling import ical
from scheduling.models import InfusionSession
from scheduling.services.courses import course_plan
from scheduling.services.sessions import session_set_status

URL = reverse("scheduling:calendar_feed")
STAMP = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
LINE_OCTETS_MAX = 75  # RFC 5545, 3.1


def feed_link(secret: str) -> str:
    return reverse("scheduling:calendar_feed_link", args=[secret])


def test_doctests():
    assert doctest.testmod(ical).failed == 0


def unfolded_lines(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def one_event_calendar(**fields) -> str:
    start = datetime(2026, 11, 23, 14, tzinfo=UTC)
    event = ical.Event(**{"uid": "abc@ivig-clinic", "start": start, "end": start, "summary": "s", **fields})
    return ical.calendar([event], name="Unit", stamp=STAMP)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a,b", "a\\,b"),
        ("a;b", "a\\;b"),
        ("back\\slash", "back\\\\slash"),
        ("line\nbreak", "line\\nbreak"),
        ("crlf\r\nbreak", "crlf\\nbreak"),
        ("colon: fine", "colon: fine"),
    ],
)
def test_text_values_are_escaped(raw, escaped):
    assert f"SUMMARY:{escaped}" in unfolded_lines(one_event_calendar(summary=raw))


@pytest.mark.parametrize(
    "summary",
    [
        "",
        "X" * 75,
        "X" * 76,
        "X" * 300,
        "é" * 80,  # 2 octets each
        "🩸" * 40,  # 4 octets each
        "ab€" * 40,
    ],
)
def test_lines_are_folded_within_75_octets_and_unfold_to_the_original(summary):
    text = one_event_calendar(summary=summary)
    parts = text.split("\r\n")
    assert all(len(part.encode("utf-8")) <= LINE_OCTETS_MAX for part in parts)
    assert f"SUMMARY:{summary}" in unfolded_lines(text)
    for part in parts:
        part.encode("utf-8").decode("utf-8")  # no character split across lines


def test_naive_times_are_refused():
    naive = datetime(2026, 11, 23, 9, 0)  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        ical.Event(uid="a@b", start=naive, end=naive, summary="s")
    with pytest.raises(ValueError, match="naive"):
        ical.calendar([], name="Unit", stamp=naive)


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        (datetime(2026, 3, 6, 9, 0), "20260306T140000Z"),  # Friday before the change: EST, UTC-5
        (datetime(2026, 3, 9, 9, 0), "20260309T130000Z"),  # Monday after 8 March: EDT, UTC-4
        (datetime(2026, 10, 30, 9, 0), "20261030T130000Z"),  # Friday before 1 November: EDT
        (datetime(2026, 11, 2, 9, 0), "20261102T140000Z"),  # Monday after: EST again
    ],
)
def test_times_are_written_in_utc_across_daylight_saving_changes(local, utc):
    start = local.replace(tzinfo=NEW_YORK)
    text = one_event_calendar(start=start, end=start + timedelta(hours=1))
    assert f"DTSTART:{utc}" in text.split("\r\n")


def test_event_checks_its_fields():
    start = datetime(2026, 11, 23, 14, tzinfo=UTC)
    with pytest.raises(ValueError, match="status"):
        ical.Event(uid="a@b", start=start, end=start, summary="s", status="MAYBE")
    with pytest.raises(ValueError, match="end"):
        ical.Event(uid="a@b", start=start, end=start - timedelta(minutes=1), summary="s")


def test_calendar_text():
    start = datetime(2026, 11, 23, 14, tzinfo=UTC)
    event = ical.Event(
        uid="abc@ivig-clinic",
        start=start,
        end=start + timedelta(minutes=318),
        summary="Chair 1: IVIG MRN1",
        description="Octagam 10%, day 1 of 2; note\nsecond line",
        status="CONFIRMED",
        sequence=2,
    )
    text = ical.calendar([event], name="Unit, north; ward", stamp=STAMP)
    lines = text.split("\r\n")
    assert "X-WR-CALNAME:Unit\\, north\\; ward" in lines
    assert lines[-1] == "" and lines[-2] == "END:VCALENDAR"
    assert "DTSTART:20261123T140000Z" in lines and "DTEND:20261123T191800Z" in lines
    assert "DESCRIPTION:Octagam 10%\\, day 1 of 2\\; note\\nsecond line" in lines
    assert "STATUS:CONFIRMED" in lines and "SEQUENCE:2" in lines


# ----------------------------------------------------------------------- the feed view


def parse(body: bytes) -> list[dict[str, str]]:
    """A strict little reader: CRLF only, folded lines ≤ 75 octets, balanced BEGIN/END."""
    assert body.endswith(b"\r\n")
    physical = body.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in physical)
    assert all(len(line) <= LINE_OCTETS_MAX for line in physical)
    text = body.decode("utf-8").replace("\r\n ", "")
    lines = text.split("\r\n")[:-1]
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    events, current, depth = [], None, 0
    for line in lines:
        name, _, value = line.partition(":")
        if name == "BEGIN":
            depth += 1
            if value == "VEVENT":
                current = {}
        elif name == "END":
            depth -= 1
            if value == "VEVENT":
                events.append(current)
                current = None
        elif current is not None:
            current[name] = value
    assert depth == 0
    return events


@pytest.fixture
def booked(make_user, make_order, frozen_today):
    """Two patients' courses from Mon 23 Nov 2026: 5 cycles 4-weekly, 2 days each."""
    from dosing.services.orders import dose_order_verify

    nurse, pharmacist = make_user("nurse"), make_user("pharmacist")
    second = PatientFactory(given_name="Zelda", family_name="Quintessa")
    MeasurementFactory(patient=second, measured_on=date(2026, 11, 20))
    courses = []
    for chair, patient in ((1, None), (2, second)):
        order = dose_order_verify(by=pharmacist, order=make_order(patient=patient))
        courses.append(
            course_plan(
                by=nurse,
                order=order,
                first_day=date(2026, 11, 23),
                start_time=time(9),
                chair=chair,
                cycles=5,
                today=frozen_today,
            )
        )
    return courses


@pytest.mark.django_db
class TestCalendarFeed:
    def test_feed_parses_with_utc_times_and_no_names(self, role_client, booked):
        response = role_client("viewer").get(URL)
        assert response.status_code == 200
        assert response["Content-Type"] == "text/calendar; charset=utf-8"
        events = parse(response.content)
        # 4 cycles fall within 90 days (to 20 Feb 2027); the 5th (15 Mar) does not.
        assert len(events) == 2 * 4 * 2
        assert all(re.fullmatch(r"\d{8}T\d{6}Z", event["DTSTART"]) for event in events)
        first = min(events, key=lambda event: (event["DTSTART"], event["SUMMARY"]))
        # An IVIG-naive patient: the first session holds its first step twice as long (340 min).
        assert first["DTSTART"] == "20261123T140000Z" and first["DTEND"] == "20261123T194000Z"
        assert first["SUMMARY"].startswith("Chair 1: IVIG MRN")
        assert first["STATUS"] == "TENTATIVE"
        assert "day 1 of 2" in first["DESCRIPTION"] and "\\," in first["DESCRIPTION"]
        assert re.fullmatch(r"[0-9a-f-]{36}@127\.0\.0\.1", first["UID"])
        body = response.content.decode()
        for patient in {course.patient for course in booked}:
            assert patient.family_name not in body and patient.given_name not in body
            assert patient.mrn in body

    def test_uid_domain_from_allowed_hosts(self, role_client, booked, settings):
        settings.ALLOWED_HOSTS = [".clinic.example.org"]
        events = parse(role_client("nurse").get(URL, HTTP_HOST="www.clinic.example.org").content)
        assert all(event["UID"].endswith("@clinic.example.org") for event in events)
        settings.ALLOWED_HOSTS = ["*"]
        events = parse(role_client("nurse").get(URL).content)
        assert all(event["UID"].endswith("@ivig-clinic") for event in events)

    def test_only_open_sessions_in_the_window(self, role_client, booked, make_user):
        sessions = list(InfusionSession.objects.order_by("planned_start", "chair"))
        nurse = make_user("nurse")
        session_set_status(by=nurse, session=sessions[0], status="cancelled", reason="r", expected_version=1)
        session_set_status(by=nurse, session=sessions[1], status="confirmed", expected_version=1)
        InfusionSession.objects.filter(pk=sessions[2].pk).update(planned_start=STAMP - timedelta(days=8))
        events = parse(role_client("viewer").get(URL).content)
        uids = {event["UID"].split("@")[0]: event for event in events}
        assert str(sessions[0].uuid) not in uids and str(sessions[2].uuid) not in uids
        assert uids[str(sessions[1].uuid)]["STATUS"] == "CONFIRMED"
        assert uids[str(sessions[1].uuid)]["SEQUENCE"] == "1"
        assert len(events) == 16 - 2

    def test_api_token_no_longer_opens_the_feed(self, client, booked, make_user):
        # The old ?token= form: an API token (a key to every chart) in a logged URL. Gone for good.
        _, secret = api_token_create(by=make_user("nurse"), name="Unit calendar")
        response = client.get(URL, {"token": secret})
        assert response.status_code == 410
        assert "calendar feed link" in response.content.decode()
        assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401

    @pytest.mark.parametrize("query", [{"token": "not-a-token"}, {"token": ""}])
    def test_any_token_query_is_410_even_when_logged_in(self, client, role_client, booked, query):
        assert client.get(URL, query).status_code == 410
        assert role_client("nurse").get(URL, query).status_code == 410

    def test_not_logged_in_401(self, client, booked):
        response = client.get(URL)
        assert response.status_code == 401
        assert response["Content-Type"].startswith("text/plain")
        assert "WWW-Authenticate" in response

    def test_feed_link_opens_the_feed_without_login(self, client, booked, make_user):
        _, secret = calendar_feed_create(by=make_user("nurse"), name="Ward tablet")
        response = client.get(feed_link(secret))
        assert response.status_code == 200
        assert len(parse(response.content)) == 16

    def test_feed_link_opens_nothing_else(self, client, booked, make_user):
        _, secret = calendar_feed_create(by=make_user("nurse"), name="Ward tablet")
        bearer = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
        assert client.get("/api/v1/patients", **bearer).status_code == 401
        assert client.get("/fhir/Patient", **bearer).status_code == 401
        assert client.get(URL, {"token": secret}).status_code == 410
        assert client.get(reverse("patients:list")).status_code == 302  # still the login page

    @pytest.mark.parametrize("secret", ["not-a-secret", "x" * 300])
    def test_unknown_feed_link_404(self, client, booked, secret):
        response = client.get(feed_link(secret))
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/plain")

    def test_revoked_feed_link_404(self, client, booked, make_user):
        user = make_user("nurse")
        feed, secret = calendar_feed_create(by=user, name="Ward tablet")
        calendar_feed_revoke(by=user, feed=feed)
        assert client.get(feed_link(secret)).status_code == 404

    def test_feed_link_of_a_deactivated_user_404(self, client, booked, make_user):
        user = make_user("nurse")
        _, secret = calendar_feed_create(by=user, name="Ward tablet")
        user.is_active = False
        user.save()
        assert client.get(feed_link(secret)).status_code == 404

    def test_no_role_403(self, client, role_client, booked, make_user):
        assert role_client(None).get(URL).status_code == 403
        _, secret = calendar_feed_create(by=make_user(None), name="Calendar")
        assert client.get(feed_link(secret)).status_code == 403

    @pytest.mark.parametrize("method", ["post", "put", "delete"])
    def test_wrong_method_405(self, role_client, method):
        assert getattr(role_client("nurse"), method)(URL).status_code == 405

    def test_head_is_allowed(self, role_client, booked):
        assert role_client("nurse").head(URL).status_code == 200

    def test_no_sessions_is_an_empty_calendar(self, role_client, frozen_today):
        assert parse(role_client("nurse").get(URL).content) == []
