"""The reminder inbox and its read/done actions: works, invalid input, someone else's
reminder → 404, read-only user → 403, wrong method → 405."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.roles import ROLES
from patients.tests.factories import PatientFactory
from scheduling.context_processors import reminders as reminders_context
from scheduling.models import Reminder, ReminderStatus
from scheduling.tests.factories import ReminderFactory

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=NY)
INBOX = reverse("scheduling:inbox")


@pytest.fixture(autouse=True)
def clinic_time(settings, frozen_today):
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def patient(db):
    return PatientFactory(mrn="MRN777001", given_name="Zenobia", family_name="Quackenbush")


@pytest.fixture
def make_reminder(patient):
    def make(kind="thrombosis_check", role="nurse", **fields):
        values = {
            "subject_key": f"{kind}:x-{Reminder.objects.count() + 1}:2026-11-22",
            "kind": kind,
            "patient": patient,
            "due_at": NOW - timedelta(hours=1),
            "message": f"Message for {kind}.",
            "role": role,
        } | fields
        return ReminderFactory(**values)

    return make


def action_url(reminder, action):
    return reverse("scheduling:reminder_action", args=[reminder.uuid, action])


def shown(response) -> set[str]:
    return {reminder.message for reminder in response.context["page"]}


# --------------------------------------------------------------------------- the inbox


@pytest.mark.django_db
def test_nurse_sees_her_roles_due_reminders_with_patient_link_and_local_time(role_client, make_reminder, patient):
    make_reminder()
    make_reminder("upcoming_infusion", due_at=NOW + timedelta(minutes=1), message="Not yet due.")
    make_reminder("tis_assessment", role="physician")
    make_reminder("venous_check", status=ReminderStatus.SENT, emailed_at=NOW)
    make_reminder("haemolysis_check", status=ReminderStatus.CANCELLED)

    response = role_client("nurse").get(INBOX)
    assert response.status_code == 200
    assert shown(response) == {"Message for thrombosis_check.", "Message for venous_check."}
    html = response.content.decode()
    assert f'href="{patient.get_absolute_url()}"><bdi>MRN777001</bdi></a>' in html
    assert "Thrombosis check (72 h)" in html
    assert "Sun 2026-11-22 11:00" in html  # 16:00 UTC shown as New York time
    assert "Quackenbush" not in html


@pytest.mark.django_db
def test_physician_sees_assessments_and_the_nurses_lab_reminders(role_client, make_reminder):
    make_reminder("tis_assessment", role="physician")
    make_reminder("labs_creatinine_bun")
    make_reminder("thrombosis_check")
    response = role_client("physician").get(INBOX)
    assert shown(response) == {"Message for tis_assessment.", "Message for labs_creatinine_bun."}


@pytest.mark.django_db
def test_personal_reminders_are_their_users_only(client, make_user, make_reminder):
    me, colleague = make_user("nurse"), make_user("nurse")
    make_reminder("tis_assessment", role="", user=me, message="Mine.")
    make_reminder("tis_assessment", role="", user=colleague, message="Theirs.")
    client.force_login(me)
    assert shown(client.get(INBOX)) == {"Mine."}


@pytest.mark.django_db
def test_tabs(role_client, make_reminder, make_user):
    make_reminder(message="Unread.")
    make_reminder(message="Read.", read_at=NOW)
    make_reminder(message="Done.", status=ReminderStatus.DONE, done_at=NOW, done_by=make_user("nurse"))
    client = role_client("nurse")
    assert shown(client.get(INBOX, {"tab": "all"})) == {"Unread.", "Read."}
    assert shown(client.get(INBOX, {"tab": "unread"})) == {"Unread."}
    done = client.get(INBOX, {"tab": "done"})
    assert shown(done) == {"Done."}
    assert done.context["counts"] == {"all": 2, "unread": 1, "done": 1}


@pytest.mark.django_db
def test_unknown_tab_is_not_found(role_client):
    assert role_client("nurse").get(INBOX, {"tab": "archive"}).status_code == 404


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.django_db
def test_every_role_can_open_the_inbox(role_client, role):
    assert role_client(role).get(INBOX).status_code == 200


@pytest.mark.django_db
def test_inbox_needs_a_role_and_a_login(role_client, client):
    assert client.get(INBOX).status_code == 302
    assert role_client(None).get(INBOX).status_code == 403


@pytest.mark.django_db
def test_inbox_is_get_only(role_client):
    assert role_client("nurse").post(INBOX).status_code == 405


@pytest.mark.django_db
def test_viewer_gets_no_action_buttons_and_the_page_has_no_inline_code(client, make_reminder, make_user):
    nurse, viewer = make_user("nurse"), make_user("viewer")
    make_reminder(message="For the nurses.")
    make_reminder(role="", user=viewer, message="For the viewer.")
    client.force_login(nurse)
    html = client.get(INBOX).content.decode()
    assert "Mark read" in html and "<script>" not in html and "style=" not in html
    client.force_login(viewer)
    response = client.get(INBOX)
    assert shown(response) == {"For the viewer."} and "Mark read" not in response.content.decode()


@pytest.mark.django_db
def test_inbox_shows_delivery_trouble(role_client, make_reminder):
    from scheduling.services.delivery import INTERRUPTED_DELIVERY

    make_reminder(
        last_error=INTERRUPTED_DELIVERY,
        delivery_claimed_at=NOW - timedelta(hours=1),
        email_uncertain_at=NOW - timedelta(minutes=40),
    )
    make_reminder(last_error="SMTPServerDisconnected: gone")
    html = role_client("nurse").get(INBOX).content.decode()
    assert "uncertain" in html and "not sent" in html
    assert "It arrived" in html and "Resend e-mail" in html


def email_action_url(reminder, action):
    return reverse("scheduling:reminder_email_action", args=[reminder.uuid, action])


def uncertain(make_reminder, **fields):
    return make_reminder(
        last_error="uncertain",
        delivery_claimed_at=NOW - timedelta(hours=1),
        delivery_attempts=1,
        email_uncertain_at=NOW - timedelta(hours=1),
        **fields,
    )


@pytest.mark.django_db
def test_confirm_an_uncertain_email_counts_it_sent(role_client, make_reminder):
    reminder = uncertain(make_reminder)
    response = role_client("nurse").post(email_action_url(reminder, "confirm"), {"tab": "all"})
    assert response.status_code == 302 and response["Location"] == f"{INBOX}?tab=all"
    reminder.refresh_from_db()
    assert reminder.emailed_at is not None and reminder.email_uncertain_at is None
    assert reminder.status == ReminderStatus.SENT and reminder.last_error == ""
    assert reminder.history.first().history_user.groups.filter(name="nurse").exists()


@pytest.mark.django_db
def test_resend_an_uncertain_email_releases_it_and_queues_one_delivery(
    role_client, make_reminder, monkeypatch, django_capture_on_commit_callbacks
):
    from scheduling import tasks

    queued = []
    monkeypatch.setattr(tasks.deliver_reminder, "delay", queued.append)
    reminder = uncertain(make_reminder)
    with django_capture_on_commit_callbacks(execute=True):
        response = role_client("nurse").post(email_action_url(reminder, "resend"))
    assert response.status_code == 302
    reminder.refresh_from_db()
    assert reminder.delivery_claimed_at is None and reminder.email_uncertain_at is None
    assert reminder.delivery_attempts == 0 and queued == [reminder.pk]


@pytest.mark.django_db
def test_email_actions_refuse_a_reminder_that_is_not_uncertain(role_client, make_reminder):
    reminder = make_reminder()
    response = role_client("nurse").post(email_action_url(reminder, "resend"), follow=True)
    assert "not uncertain" in response.content.decode()
    reminder.refresh_from_db()
    assert reminder.emailed_at is None and reminder.delivery_attempts == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "action", "status"), [("get", "confirm", 405), ("post", "shout", 404)])
def test_email_actions_wrong_method_or_action(role_client, make_reminder, method, action, status):
    reminder = uncertain(make_reminder)
    assert getattr(role_client("nurse"), method)(email_action_url(reminder, action)).status_code == status


# --------------------------------------------------------------------------- read and done


@pytest.mark.django_db
def test_mark_read(role_client, make_reminder):
    reminder = make_reminder()
    response = role_client("nurse").post(action_url(reminder, "read"), {"tab": "unread"})
    assert response.status_code == 302 and response.url == f"{INBOX}?tab=unread"
    reminder.refresh_from_db()
    assert reminder.read_at == timezone.now() and reminder.status == ReminderStatus.PENDING


@pytest.mark.django_db
def test_mark_done_records_who_and_when_in_the_history(client, make_user, make_reminder):
    nurse = make_user("nurse")
    reminder = make_reminder()
    client.force_login(nurse)
    response = client.post(action_url(reminder, "done"), {"tab": "nonsense"})
    assert response.status_code == 302 and response.url == f"{INBOX}?tab=all"
    reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.DONE and reminder.done_by == nurse
    assert reminder.done_at == timezone.now() and reminder.read_at == timezone.now()
    assert reminder.history.latest().history_user == nurse


@pytest.mark.django_db
def test_done_twice_keeps_the_first_and_a_cancelled_reminder_stays_cancelled(client, make_user, make_reminder):
    first, second = make_user("nurse"), make_user("nurse")
    reminder = make_reminder()
    cancelled = make_reminder(status=ReminderStatus.CANCELLED)
    client.force_login(first)
    client.post(action_url(reminder, "done"))
    client.force_login(second)
    assert client.post(action_url(reminder, "done")).status_code == 302
    assert client.post(action_url(cancelled, "done")).status_code == 302
    reminder.refresh_from_db()
    cancelled.refresh_from_db()
    assert reminder.done_by == first and cancelled.status == ReminderStatus.CANCELLED


@pytest.mark.parametrize("role", ["physician", "pharmacist", "nurse"])
@pytest.mark.django_db
def test_roles_with_the_permission_may_act_on_their_reminders(role_client, make_reminder, role):
    reminder = make_reminder(role=role)
    assert role_client(role).post(action_url(reminder, "done")).status_code == 302


@pytest.mark.parametrize("action", ["read", "done"])
@pytest.mark.django_db
def test_viewer_may_not_act(client, make_user, make_reminder, action):
    viewer = make_user("viewer")
    reminder = make_reminder(role="", user=viewer)
    client.force_login(viewer)
    assert client.post(action_url(reminder, action)).status_code == 403
    reminder.refresh_from_db()
    assert reminder.read_at is None and reminder.status == ReminderStatus.PENDING


@pytest.mark.django_db
def test_someone_elses_reminder_is_not_found(client, make_user, make_reminder):
    me = make_user("nurse")
    personal = make_reminder(role="", user=make_user("nurse"))
    physicians = make_reminder("tis_assessment", role="physician")
    client.force_login(me)
    assert client.post(action_url(personal, "done")).status_code == 404
    assert client.post(action_url(physicians, "read")).status_code == 404
    personal.refresh_from_db()
    assert personal.status == ReminderStatus.PENDING


@pytest.mark.django_db
def test_unknown_action_and_unknown_reminder_are_not_found(role_client, make_reminder):
    client = role_client("nurse")
    reminder = make_reminder()
    assert client.post(action_url(reminder, "delete")).status_code == 404
    assert client.post(reverse("scheduling:reminder_action", args=[Reminder().uuid, "done"])).status_code == 404


@pytest.mark.django_db
def test_actions_are_post_only(role_client, make_reminder):
    reminder = make_reminder()
    assert role_client("nurse").get(action_url(reminder, "done")).status_code == 405
    reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.PENDING


# --------------------------------------------------------------------------- navbar count


@pytest.mark.django_db
def test_context_processor_counts_unread_due_reminders_lazily(make_user, make_reminder, django_assert_num_queries):
    nurse = make_user("nurse")
    make_reminder()
    make_reminder(read_at=NOW)
    make_reminder(due_at=NOW + timedelta(hours=1))
    request = RequestFactory().get("/")
    request.user = nurse
    with django_assert_num_queries(0):
        context = reminders_context(request)
    assert context["inbox_unread_count"] == 1


@pytest.mark.django_db
def test_context_processor_for_anonymous_users():
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    assert reminders_context(request) == {"inbox_unread_count": 0}
