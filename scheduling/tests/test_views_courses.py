"""Tests for the scheduling pages in scheduling/views/courses.py: the week view, planning a
course, the course, moving a session, its status and the unit's settings. Each page: works,
invalid input writes nothing, a role without the permission gets 403, an unknown object 404,
a wrong method 405. (The calendar feed is tested in test_ical.py.)

Time is frozen at Sunday 22 Nov 2026, noon in New York."""

import re
import uuid
from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.tests.factories import MeasurementFactory, PatientFactory
from risk import rules
from risk.models import RiskFlag
from scheduling.conflicts import warnings_digest
from scheduling.models import Course, InfusionSession, SessionStatus, UnitSettings
from scheduling.services.courses import course_plan

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 23)
UNKNOWN = uuid.UUID("00000000-0000-0000-0000-000000000000")


@pytest.fixture
def verify(make_user):
    from dosing.services.orders import dose_order_verify

    pharmacist = make_user("pharmacist")
    return lambda order: dose_order_verify(by=pharmacist, order=order)


@pytest.fixture
def verified_order(make_order, verify, frozen_today):
    return verify(make_order())


@pytest.fixture
def book(make_user, make_order, verify, frozen_today):
    """Book a course for a new patient (or the given order) in a chair."""
    nurse = make_user("nurse")

    def plan(order=None, chair=1, cycles=3, first_day=MONDAY, start_time=time(9)):
        if order is None:
            patient = PatientFactory()
            MeasurementFactory(patient=patient, measured_on=date(2026, 11, 20))
            order = verify(make_order(patient=patient))
        return course_plan(
            by=nurse,
            order=order,
            first_day=first_day,
            start_time=start_time,
            chair=chair,
            cycles=cycles,
            today=frozen_today,
        )

    return plan


def first_session(course: Course) -> InfusionSession:
    return InfusionSession.objects.filter(cycle__course=course).order_by("planned_start").first()


def local(session: InfusionSession):
    return session.planned_start.astimezone(NY)


# ----------------------------------------------------------------------- week view


@pytest.mark.django_db
class TestWeekView:
    url = reverse("scheduling:week")

    def test_chips_in_the_right_cell(self, role_client, book):
        course = book(chair=3)
        response = role_client("viewer").get(self.url, {"start": "2026-11-25"})  # a Wednesday: snaps to Monday
        assert response.status_code == 200
        grid = response.context["grid"]
        assert grid.days[0] == MONDAY
        chair, cells = grid.rows[2]
        assert chair == 3
        assert [len(cell) for cell in cells] == [1, 1, 0, 0, 0, 0, 0]
        assert cells[0][0].day_number == 1 and cells[1][0].day_number == 2
        assert all(len(cell) == 0 for _, row in grid.rows if _ != 3 for cell in row)
        html = response.content.decode()
        assert course.patient.mrn in html and course.patient.initials in html
        assert course.patient.family_name not in html  # MRN and initials only on the wall screen
        assert "09:00–14:18" in html

    def test_at_risk_badge(self, role_client, book):
        course = book()
        RiskFlag.objects.create(
            patient=course.patient,
            code="thrombosis_history",
            category=rules.THROMBOSIS,
            severity=rules.HIGH,
            title="Previous thrombosis",
            evidence="DVT 2024",
            mitigation="Lowest rate",
            source="label",
            first_seen_at=local(first_session(course)),
            last_evaluated_at=local(first_session(course)),
        )
        html = role_client("nurse").get(self.url, {"start": "2026-11-23"}).content.decode()
        assert 'title="Previous thrombosis">at risk (1)</span>' in html

    def test_query_count_does_not_grow_with_sessions(self, role_client, book):
        client = role_client("nurse")
        book(chair=1)

        def count():
            with CaptureQueriesContext(connection) as queries:
                assert client.get(self.url, {"start": "2026-11-23"}).status_code == 200
            return len(queries)

        count()  # the first request after login renews the session (a write); later ones read only
        small = count()
        for chair in (2, 3, 4, 5):
            course = book(chair=chair)
            RiskFlag.objects.create(
                patient=course.patient,
                code="renal",
                category=rules.RENAL,
                severity=rules.MODERATE,
                title="Renal risk",
                evidence="eGFR 40",
                mitigation="Slow",
                source="label",
                first_seen_at=local(first_session(course)),
                last_evaluated_at=local(first_session(course)),
            )
        assert InfusionSession.objects.count() == 5 * 6
        assert count() == small

    def test_prev_next_today_and_print_links(self, role_client, book, frozen_today):
        html = role_client("nurse").get(self.url, {"start": "2026-12-02"}).content.decode()
        assert 'href="?start=2026-11-23&amp;chairs_from=1" rel="prev"' in html
        assert 'href="?start=2026-12-07&amp;chairs_from=1" rel="next"' in html
        assert 'href="?start=2026-11-16&amp;chairs_from=1"' in html  # this week (22 Nov is a Sunday)
        assert 'href="?start=2026-11-30&amp;chairs_from=1&amp;print=1"' in html
        assert 'aria-label="Chairs"' not in html  # the unit's chairs fit on one page

    def test_a_large_unit_is_shown_a_bay_of_chairs_at_a_time(self, role_client, book, django_assert_num_queries):
        UnitSettings.objects.update(chairs=40)
        first_bay, third_bay = book(chair=2), book(chair=35)
        client = role_client("nurse")
        client.get(self.url)  # the first request after login renews the session
        with CaptureQueriesContext(connection) as first_page:
            response = client.get(self.url, {"start": "2026-11-23"})
        grid = response.context["grid"]
        assert (grid.chairs, grid.first_chair, grid.last_chair) == (40, 1, 16)
        assert [chair for chair, _ in grid.rows] == list(range(1, 17))
        html = response.content.decode()
        assert first_bay.patient.mrn in html and third_bay.patient.mrn not in html
        assert "40 chairs (showing 1–16)" in html
        assert 'href="?start=2026-11-23&amp;chairs_from=33">Chairs 33–40</a>' in html
        with django_assert_num_queries(len(first_page.captured_queries)):
            response = client.get(self.url, {"start": "2026-11-23", "chairs_from": "33"})
        assert [chair for chair, _ in response.context["grid"].rows] == list(range(33, 41))
        html = response.content.decode()
        assert third_bay.patient.mrn in html and first_bay.patient.mrn not in html
        assert 'href="?start=2026-11-30&amp;chairs_from=33" rel="next"' in html  # the bay stays on next week

    def test_sessions_beyond_the_unit_s_chairs_get_their_own_rows(self, role_client, book):
        UnitSettings.objects.update(chairs=10)
        book(chair=10)
        UnitSettings.objects.update(chairs=4)  # the unit shrank after booking
        grid = role_client("nurse").get(self.url, {"start": "2026-11-23", "chairs_from": "9"}).context["grid"]
        assert grid.chairs == 10 and [chair for chair, _ in grid.rows] == [9, 10]

    @pytest.mark.parametrize("chairs_from", ["0", "x", "-3"])
    def test_a_bad_chair_number_shows_the_first_bay_and_says_so(self, role_client, chairs_from):
        response = role_client("nurse").get(self.url, {"chairs_from": chairs_from})
        assert response.status_code == 400 and response.context["grid"].first_chair == 1
        assert "Showing this week from chair 1." in response.content.decode()

    def test_a_chair_past_the_last_shows_the_last_chair(self, role_client):
        grid = role_client("nurse").get(self.url, {"chairs_from": "9999"}).context["grid"]
        assert [chair for chair, _ in grid.rows] == [grid.chairs] == [UnitSettings.load().chairs]

    def test_print_layout(self, role_client, book):
        response = role_client("nurse").get(self.url, {"start": "2026-11-23", "print": "1"})
        html = response.content.decode()
        assert "data-autoprint" in html and "Print in landscape." in html and 'rel="next"' not in html
        assert "<style" not in html and "style=" not in html and "<script>" not in html  # CSP: no inline

    def test_bad_start_is_a_400_showing_this_week(self, role_client, frozen_today):
        response = role_client("nurse").get(self.url, {"start": "next tuesday"})
        assert response.status_code == 400
        assert response.context["monday"] == date(2026, 11, 16) and response.context["bad_start"]

    def test_cancelled_sessions_are_counted_not_shown(self, role_client, book):
        course = book()
        InfusionSession.objects.filter(cycle__course=course).update(status=SessionStatus.CANCELLED)
        response = role_client("nurse").get(self.url, {"start": "2026-11-23"})
        assert response.context["grid"].cancelled == 2
        assert course.patient.mrn not in response.content.decode()

    def test_no_role_403(self, role_client):
        assert role_client(None).get(self.url).status_code == 403

    def test_post_405(self, role_client):
        assert role_client("nurse").post(self.url).status_code == 405


# ----------------------------------------------------------------------- planning a course


def course_form(**overrides):
    return {
        "first_day": "2026-11-30",
        "start_time": "09:00",
        "chair": "2",
        "cycles": "3",
        "interval_weeks": "4",
        "action": "save",
    } | overrides


@pytest.mark.django_db
class TestCourseCreate:
    def url(self, order):
        return reverse("scheduling:course_create", kwargs={"order_uuid": order.uuid})

    def test_form_shows_the_defaults(self, role_client, verified_order):
        response = role_client("nurse").get(self.url(verified_order))
        assert response.status_code == 200
        form = response.context["form"]
        assert form.initial["interval_weeks"] == 4 and form.initial["first_day"] == date(2026, 11, 22)
        assert '288 <span class="unit">min</span> infusion' in response.content.decode()

    def test_preview_shows_dates_and_writes_nothing(self, role_client, verified_order):
        response = role_client("nurse").post(self.url(verified_order), course_form(action="preview"))
        assert response.status_code == 200
        starts = [cycle.start_date for cycle in response.context["preview"].cycles]
        assert starts == [date(2026, 11, 30), date(2026, 12, 28), date(2027, 1, 25)]
        assert "Mon 2027-01-25 09:00–14:18" in response.content.decode()
        assert not Course.objects.exists()

    def test_open_ended_preview_says_how_far(self, role_client, verified_order):
        response = role_client("nurse").post(self.url(verified_order), course_form(action="preview", cycles=""))
        assert response.context["preview"].booked_until == date(2027, 5, 23)
        assert "Open-ended: cycles are booked up to Sun 2027-05-23" in response.content.decode()

    def test_save_books_and_redirects(self, role_client, verified_order):
        response = role_client("nurse").post(self.url(verified_order), course_form())
        course = Course.objects.get()
        assert response.status_code == 302 and response.url == course.get_absolute_url()
        assert course.cycles.count() == 3 and InfusionSession.objects.filter(cycle__course=course, chair=2).count() == 6

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"first_day": "2026-11-21"}, "first_day"),
            ({"first_day": "tomorrow"}, "first_day"),
            ({"start_time": "25:00"}, "start_time"),
            ({"chair": "7"}, "chair"),
            ({"cycles": "0"}, "cycles"),
            ({"interval_weeks": "0"}, "interval_weeks"),
        ],
    )
    def test_bad_input_at_the_field_writes_nothing(self, role_client, verified_order, overrides, field):
        response = role_client("nurse").post(self.url(verified_order), course_form(**overrides))
        assert response.status_code == 200
        assert field in response.context["form"].errors
        assert not Course.objects.exists()

    def test_double_booked_chair_refused_at_the_field(self, role_client, verified_order, book):
        book(chair=2, first_day=date(2026, 11, 30))
        response = role_client("nurse").post(self.url(verified_order), course_form(start_time="11:00"))
        assert "is already booked" in response.context["form"].errors["chair"][0]
        assert Course.objects.count() == 1

    def test_warnings_must_be_accepted_for_exactly_what_was_shown(self, role_client, verified_order):
        client = role_client("nurse")
        url = self.url(verified_order)
        late = course_form(start_time="14:00")
        response = client.post(url, late)
        form = response.context["form"]
        assert any("would end after closing time" in warning for warning in form.warnings)
        assert "I have read these warnings and accept them" in response.content.decode()
        assert not Course.objects.exists()
        # A tick without the warnings' fingerprint (or for other warnings) accepts nothing.
        response = client.post(url, late | {"accept_warnings": "on", "warnings_shown": "0123456789abcdef"})
        assert response.context["form"].warnings_changed and not Course.objects.exists()
        response = client.post(url, late | {"accept_warnings": "on", "warnings_shown": warnings_digest(form.warnings)})
        assert response.status_code == 302 and Course.objects.count() == 1

    def test_unverified_order_shows_why_and_writes_nothing(self, role_client, make_order, frozen_today):
        order = make_order()
        client = role_client("nurse")
        assert "can be planned only from a verified order" in client.get(self.url(order)).content.decode()
        response = client.post(self.url(order), course_form())
        assert response.status_code == 200 and not Course.objects.exists()

    @pytest.mark.parametrize("role", ["physician", "pharmacist", "viewer"])
    def test_only_nurses_plan(self, role_client, verified_order, role):
        assert role_client(role).post(self.url(verified_order), course_form()).status_code == 403
        assert not Course.objects.exists()

    def test_unknown_order_404(self, role_client):
        assert role_client("nurse").get(reverse("scheduling:course_create", args=[UNKNOWN])).status_code == 404

    def test_put_405(self, role_client, verified_order):
        assert role_client("nurse").put(self.url(verified_order)).status_code == 405


# ----------------------------------------------------------------------- the course


@pytest.mark.django_db
class TestCourseDetail:
    def test_shows_cycles_and_sessions(self, role_client, book):
        course = book(chair=4)
        response = role_client("viewer").get(course.get_absolute_url())
        assert response.status_code == 200
        html = response.content.decode()
        assert "Cycle 3 · from Mon 2027-01-18" in html
        assert "Mon 2026-11-23 09:00–14:40" in html  # first infusion: the first step held twice as long
        assert "Tue 2026-11-24 09:00–14:18" in html
        assert first_session(course).get_absolute_url() in html
        assert reverse("scheduling:session_move", args=[first_session(course).uuid]) not in html  # viewer

    def test_nurse_sees_move_and_status_links(self, role_client, book):
        course = book()
        html = role_client("nurse").get(course.get_absolute_url()).content.decode()
        session = first_session(course)
        assert reverse("scheduling:session_move", args=[session.uuid]) in html
        assert reverse("scheduling:session_status", args=[session.uuid]) in html

    def test_extend_an_open_ended_course(self, role_client, book):
        course = book(cycles=None)
        client = role_client("nurse")
        assert "Book cycles up to 26 weeks ahead" in client.get(course.get_absolute_url()).content.decode()
        response = client.post(course.get_absolute_url(), {"action": "extend"})
        assert response.status_code == 302 and course.cycles.count() == 7  # already booked that far

    def test_viewer_cannot_extend(self, role_client, book):
        course = book(cycles=None)
        assert role_client("viewer").post(course.get_absolute_url()).status_code == 403

    def test_no_role_403(self, role_client, book):
        assert role_client(None).get(book().get_absolute_url()).status_code == 403

    def test_unknown_404(self, role_client):
        assert role_client("nurse").get(reverse("scheduling:course_detail", args=[UNKNOWN])).status_code == 404

    def test_put_405(self, role_client, book):
        assert role_client("nurse").put(book().get_absolute_url()).status_code == 405


# ----------------------------------------------------------------------- moving a session


@pytest.mark.django_db
class TestSessionMove:
    def url(self, session):
        return reverse("scheduling:session_move", kwargs={"session_uuid": session.uuid})

    def form(self, session, **overrides):
        return {
            "new_date": "2026-11-23",
            "new_start": "10:30",
            "chair": "",
            "version": str(session.version),
        } | overrides

    def test_form_starts_from_the_session(self, role_client, book):
        session = first_session(book())
        response = role_client("nurse").get(self.url(session))
        assert response.status_code == 200
        form = response.context["form"]
        assert (form.initial["new_date"], form.initial["new_start"], form.initial["version"]) == (MONDAY, time(9), 1)
        assert 'name="version"' in response.content.decode()

    def test_move_one(self, role_client, book):
        course = book()
        session = first_session(course)
        response = role_client("nurse").post(self.url(session), self.form(session, chair="5"))
        assert response.status_code == 302 and response.url == course.get_absolute_url()
        session.refresh_from_db()
        assert (local(session).time(), session.chair, session.version) == (time(10, 30), 5, 2)

    def test_move_this_and_following(self, role_client, book):
        course = book()
        session = first_session(course)
        role_client("nurse").post(self.url(session), self.form(session, new_date="2026-11-25", following="on"))
        sessions = InfusionSession.objects.filter(cycle__course=course).order_by("planned_start")
        assert [local(s).date() for s in sessions][:3] == [date(2026, 11, 25), date(2026, 11, 26), date(2026, 12, 23)]
        assert {local(s).time() for s in sessions} == {time(10, 30)}

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"new_date": "2026-11-20"}, "new_date"),
            ({"new_date": "not a date"}, "new_date"),
            ({"new_start": "9 o'clock"}, "new_start"),
            ({"chair": "99"}, "chair"),
            ({"new_date": "2026-11-24"}, "new_date"),  # day 2 is already on the 24th
        ],
    )
    def test_bad_input_at_the_field_writes_nothing(self, role_client, book, overrides, field):
        session = first_session(book())
        response = role_client("nurse").post(self.url(session), self.form(session, **overrides))
        assert response.status_code == 400
        assert field in response.context["form"].errors
        session.refresh_from_db()
        assert (local(session).time(), session.version) == (time(9), 1)

    def test_stale_version_writes_nothing(self, role_client, book):
        session = first_session(book())
        response = role_client("nurse").post(self.url(session), self.form(session, version="0"))
        assert response.status_code == 409
        assert "This session was changed by" in str(response.context["form"].non_field_errors())
        session.refresh_from_db()
        assert session.version == 1

    def test_warning_then_accept(self, role_client, book):
        session = first_session(book())
        client = role_client("nurse")
        late = self.form(session, new_start="15:00")
        form = client.post(self.url(session), late).context["form"]
        assert form.warnings and form.fields["accept_warnings"].widget.input_type == "checkbox"
        session.refresh_from_db()
        assert session.version == 1
        accepted = late | {"accept_warnings": "on", "warnings_shown": warnings_digest(form.warnings)}
        assert client.post(self.url(session), accepted).status_code == 302
        session.refresh_from_db()
        assert local(session).time() == time(15)

    def test_a_day_moved_apart_from_its_cycle_is_warned_then_accepted(self, role_client, book):
        day2 = InfusionSession.objects.filter(cycle__course=book()).order_by("planned_start")[1]
        client = role_client("nurse")
        apart = self.form(day2, new_date="2026-11-26", new_start="09:00")
        response = client.post(self.url(day2), apart)
        form = response.context["form"]
        assert any("no longer run on consecutive days" in warning for warning in form.warnings)
        assert "divided over 2–5 consecutive days" in response.content.decode()
        accepted = apart | {"accept_warnings": "on", "warnings_shown": warnings_digest(form.warnings)}
        assert client.post(self.url(day2), accepted).status_code == 302
        day2.refresh_from_db()
        assert local(day2).date() == date(2026, 11, 26)

    def test_a_completed_session_has_no_form(self, role_client, book):
        session = first_session(book())
        session.status = SessionStatus.COMPLETED
        session.save()
        response = role_client("nurse").get(self.url(session))
        assert "only a planned or confirmed session can be moved" in response.content.decode()

    @pytest.mark.parametrize("role", ["physician", "pharmacist", "viewer"])
    def test_403(self, role_client, book, role):
        session = first_session(book())
        assert role_client(role).post(self.url(session), self.form(session)).status_code == 403
        session.refresh_from_db()
        assert session.version == 1

    def test_404(self, role_client):
        assert role_client("nurse").get(reverse("scheduling:session_move", args=[UNKNOWN])).status_code == 404

    def test_405(self, role_client, book):
        assert role_client("nurse").delete(self.url(first_session(book()))).status_code == 405


@pytest.mark.django_db
class TestTwoBrowsersOnOneSession:
    """Two nurses open the same session at version 1: the first save stands, the second is told
    who changed it and answered 409, with nothing of theirs written."""

    @staticmethod
    def browser(user):
        from django.test import Client

        client = Client()
        client.force_login(user)
        return client

    def test_move_then_cancel_from_the_older_page(self, make_user, book):
        session = first_session(book())
        move_url = reverse("scheduling:session_move", kwargs={"session_uuid": session.uuid})
        status_url = reverse("scheduling:session_status", kwargs={"session_uuid": session.uuid})
        mover = self.browser(make_user("nurse", first_name="Ana", last_name="Lima"))
        canceller = self.browser(make_user("nurse"))
        assert mover.get(move_url).context["form"]["version"].value() == 1
        assert canceller.get(status_url).context["form"]["version"].value() == 1

        moved = {"new_date": "2026-11-23", "new_start": "10:30", "chair": "", "version": "1"}
        assert mover.post(move_url, moved).status_code == 302
        response = canceller.post(status_url, {"status": "cancelled", "reason": "Flu", "version": "1"})

        assert response.status_code == 409
        assert response.context["form"].non_field_errors() == [
            "This session was changed by Ana Lima at 2026-11-22 12:00 (now: Planned) after you opened it. "
            "Nothing was saved — review the session as it is now and try again."
        ]
        session.refresh_from_db()
        assert (local(session).time(), session.status, session.version) == (time(10, 30), SessionStatus.PLANNED, 2)
        # The page shows the moved session and posts its version now.
        assert response.context["session"].version == 2 and response.context["form"]["version"].value() == "2"

    def test_a_replayed_move_is_refused(self, role_client, book):
        session = first_session(book())
        client = role_client("nurse")
        url = reverse("scheduling:session_move", kwargs={"session_uuid": session.uuid})
        moved = {"new_date": "2026-11-23", "new_start": "10:30", "chair": "", "version": "1"}
        assert client.post(url, moved).status_code == 302
        assert client.post(url, moved | {"new_start": "11:00"}).status_code == 409
        session.refresh_from_db()
        assert (local(session).time(), session.version) == (time(10, 30), 2)

    def test_a_post_without_a_version_is_refused(self, role_client, book):
        session = first_session(book())
        url = reverse("scheduling:session_status", kwargs={"session_uuid": session.uuid})
        response = role_client("nurse").post(url, {"status": "confirmed"})
        assert response.status_code == 409 and "Nothing was saved" in response.content.decode()
        session.refresh_from_db()
        assert (session.status, session.version) == (SessionStatus.PLANNED, 1)


# ----------------------------------------------------------------------- session status


@pytest.mark.django_db
class TestSessionStatus:
    def url(self, session):
        return reverse("scheduling:session_status", kwargs={"session_uuid": session.uuid})

    def test_confirm(self, role_client, book):
        session = first_session(book())
        client = role_client("nurse")
        assert client.get(self.url(session)).status_code == 200
        response = client.post(self.url(session), {"status": "confirmed", "version": "1"})
        assert response.status_code == 302
        session.refresh_from_db()
        assert session.status == SessionStatus.CONFIRMED

    def test_cancel_needs_a_reason(self, role_client, book):
        session = first_session(book())
        client = role_client("nurse")
        response = client.post(self.url(session), {"status": "cancelled", "reason": "", "version": "1"})
        assert "reason" in response.context["form"].errors
        session.refresh_from_db()
        assert session.status == SessionStatus.PLANNED
        client.post(self.url(session), {"status": "cancelled", "reason": "Admitted to hospital", "version": "1"})
        session.refresh_from_db()
        assert (session.status, session.status_reason) == (SessionStatus.CANCELLED, "Admitted to hospital")

    @pytest.mark.parametrize("status", ["completed", "in_progress", "planned"])
    def test_statuses_of_the_infusion_record_are_not_offered(self, role_client, book, status):
        session = first_session(book())
        response = role_client("nurse").post(self.url(session), {"status": status, "version": "1"})
        assert "status" in response.context["form"].errors
        session.refresh_from_db()
        assert session.status == SessionStatus.PLANNED

    def test_stale_version(self, role_client, book):
        session = first_session(book())
        response = role_client("nurse").post(self.url(session), {"status": "confirmed", "version": "7"})
        assert response.status_code == 409
        assert "This session was changed by" in str(response.context["form"].non_field_errors())

    def test_403(self, role_client, book):
        session = first_session(book())
        assert role_client("viewer").post(self.url(session), {"status": "confirmed", "version": "1"}).status_code == 403

    def test_404(self, role_client):
        assert role_client("nurse").get(reverse("scheduling:session_status", args=[UNKNOWN])).status_code == 404

    def test_405(self, role_client, book):
        assert role_client("nurse").put(self.url(first_session(book()))).status_code == 405


# ----------------------------------------------------------------------- unit settings


@pytest.mark.django_db
class TestUnitSettings:
    url = reverse("scheduling:unit_settings")
    valid = {
        "chairs": "8",
        "opens_at": "07:30",
        "closes_at": "19:00",
        "setup_minutes": "40",
        "upcoming_reminder_days": "2",
        "ladder_tolerance_minutes": "3",
    }

    def test_edit(self, role_client):
        client = role_client("nurse")
        page = client.get(self.url)
        assert page.context["form"].initial["chairs"] == 6
        assert page.context["form"].initial["ladder_tolerance_minutes"] == 5
        assert "Site policy for the rate ladder:</strong> a step may begin 5 <span" in page.content.decode()
        response = client.post(self.url, self.valid)
        assert response.status_code == 302
        unit = UnitSettings.load()
        assert (unit.chairs, unit.opens_at, unit.setup_minutes) == (8, time(7, 30), 40)
        assert unit.ladder_tolerance_minutes == 3

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"closes_at": "07:00"}, "closes_at"),
            ({"chairs": "0"}, "chairs"),
            ({"setup_minutes": "-5"}, "setup_minutes"),
            ({"ladder_tolerance_minutes": "6"}, "ladder_tolerance_minutes"),
            ({"ladder_tolerance_minutes": "-1"}, "ladder_tolerance_minutes"),
        ],
    )
    def test_invalid_writes_nothing(self, role_client, overrides, field):
        response = role_client("nurse").post(self.url, self.valid | overrides)
        assert field in response.context["form"].errors
        assert UnitSettings.load().chairs == 6

    @pytest.mark.parametrize("role", ["physician", "pharmacist", "viewer"])
    def test_403(self, role_client, role):
        assert role_client(role).post(self.url, self.valid).status_code == 403
        assert UnitSettings.load().chairs == 6

    def test_405(self, role_client):
        assert role_client("nurse").delete(self.url).status_code == 405


def test_no_inline_script_or_style_in_the_templates():
    from pathlib import Path

    from django.conf import settings

    names = ["week", "course_form", "course_detail", "session_move", "session_status", "unit_settings_form"]
    partials = ["_board_grid", "_board_orders", "_board_move", "_board_course", "_board_done", "_move_form"]
    for name in [*names, *partials, "_course_form_body", "_board_today"]:
        path = Path(settings.BASE_DIR) / "templates" / "scheduling" / f"{name}.html"
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=", text), path.name
