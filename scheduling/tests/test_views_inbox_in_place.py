"""Marking a reminder read or done in place (htmx): the inbox list, the header's unread count and
the message come back as one fragment; without htmx the same post redirects, as before."""

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from patients.tests.factories import PatientFactory
from scheduling.models import Reminder, ReminderStatus
from scheduling.tests.factories import ReminderFactory

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=NY)
INBOX = reverse("scheduling:inbox")
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/scheduling/inbox/?tab=all"}


@pytest.fixture(autouse=True)
def clinic_time(settings, frozen_today):
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def make_reminder(db):
    patient = PatientFactory(mrn="MRN777002")

    def make(**fields):
        number = Reminder.objects.count() + 1
        values = {
            "subject_key": f"thrombosis_check:x-{number}:2026-11-22",
            "kind": "thrombosis_check",
            "patient": patient,
            "due_at": NOW - timedelta(hours=number),
            "message": f"Reminder {number}.",
            "role": "nurse",
        } | fields
        return ReminderFactory(**values)

    return make


def action_url(reminder, action):
    return reverse("scheduling:reminder_action", args=[reminder.uuid, action])


def unread_badge(html: str) -> str:
    match = re.search(r'<span id="unread-reminders" hx-swap-oob="true">(.*?)</span>\s*$', html, re.S)
    assert match, "the header's unread count comes out of band"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


@pytest.mark.django_db
def test_mark_read_in_place_answers_the_list_the_header_count_and_the_message(role_client, make_reminder):
    first, second = make_reminder(), make_reminder()
    client = role_client("nurse")
    assert "2 unread" in re.sub(r"<[^>]+>", "", client.get(INBOX).content.decode())

    response = client.post(action_url(first, "read"), {"tab": "all", "page": "1"}, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div id="inbox-list">')
    assert unread_badge(html) == "1 unread"
    assert re.search(r'<div id="messages" aria-live="polite" hx-swap-oob="innerHTML">\s*<div [^>]*role="status"', html)
    assert "Marked as read." in html
    # Still listed (To do), without its Mark read button; focus goes to its Done button.
    read_form = reverse("scheduling:reminder_action", args=[first.uuid, "read"])
    assert read_form not in html and reverse("scheduling:reminder_action", args=[second.uuid, "read"]) in html
    done = re.search(rf'action="{action_url(first, "done")}".*?<button ([^>]*)>Done', html, re.S).group(1)
    assert "autofocus" in done
    assert html.count("autofocus") == 1
    first.refresh_from_db()
    assert first.read_at is not None and first.status == ReminderStatus.PENDING


@pytest.mark.django_db
def test_mark_done_in_place_drops_it_from_the_list_and_counts_the_tabs(role_client, make_reminder):
    first, _second = make_reminder(), make_reminder()
    response = role_client("nurse").post(action_url(first, "done"), {"tab": "unread"}, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Reminder 1." not in html and "Reminder 2." in html
    assert [page.message for page in response.context["page"]] == ["Reminder 2."]
    assert response.context["counts"]["done"] == 1 and response.context["tab"] == "unread"
    assert unread_badge(html) == "1 unread" and "Marked as done." in html
    first.refresh_from_db()
    assert first.status == ReminderStatus.DONE


@pytest.mark.django_db
def test_the_last_one_done_in_place_shows_nothing_to_do_and_no_badge(role_client, make_reminder):
    only = make_reminder()
    html = role_client("nurse").post(action_url(only, "done"), {"tab": "all"}, headers=HTMX).content.decode()
    assert "Nothing to do." in html and unread_badge(html) == ""


@pytest.mark.django_db
def test_the_list_stays_on_the_page_it_was_posted_from(role_client, make_reminder, monkeypatch):
    from scheduling.views import reminders

    monkeypatch.setattr(reminders, "REMINDERS_PER_PAGE", 2)
    made = [make_reminder() for _ in range(5)]
    response = role_client("nurse").post(action_url(made[0], "read"), {"tab": "all", "page": "2"}, headers=HTMX)
    assert response.context["page"].number == 2


@pytest.mark.django_db
def test_without_htmx_the_same_post_redirects_with_the_message(role_client, make_reminder):
    reminder = make_reminder()
    response = role_client("nurse").post(action_url(reminder, "done"), {"tab": "all"}, follow=True)
    assert response.redirect_chain == [(f"{INBOX}?tab=all", 302)]
    assert "Marked as done." in response.content.decode()


@pytest.mark.django_db
def test_the_same_in_place_post_sent_twice_sends_the_page_to_the_first_result(role_client, make_reminder):
    reminder = make_reminder()
    client = role_client("nurse")
    data = {"tab": "all", "submission_id": str(uuid.uuid4())}
    assert client.post(action_url(reminder, "done"), data, headers=HTMX).status_code == 200
    repeat = client.post(action_url(reminder, "done"), data, headers=HTMX)
    assert repeat.status_code == 200 and repeat["HX-Redirect"] == f"{INBOX}?tab=all"
    assert Reminder.history.filter(id=reminder.id, status=ReminderStatus.DONE).count() == 1


@pytest.mark.django_db
def test_someone_elses_reminder_in_place_is_not_found(role_client, make_reminder):
    theirs = make_reminder(role="physician")
    assert role_client("nurse").post(action_url(theirs, "done"), headers=HTMX).status_code == 404
