"""One submission, one result (accounts/submissions.py), across the apps: a form sent twice, at
once or one after the other, makes one row and both sendings get the same redirect; an API
write with the same Idempotency-Key makes one row and gets the same answer; every POST form
carries the one-time token. Here in ivig_clinic/ because it drives forms of every app."""

import json
import re
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, CalendarFeed, FormSubmission
from accounts.services import api_token_create
from accounts.submissions import FIELD_NAME, REPEATED, REPEATED_CHANGED
from dosing.models import DoseOrder
from dosing.tests.factories import site_first_step_factor, verified
from patients.models import BodyMeasurement, LabResult
from scheduling.models import VitalSigns
from scheduling.tests.factories import local, make_session

KEY = "5b0a3c2e-2f7e-4c55-9f3a-2d1c0e9b7a11"
MEASUREMENT = {"measured_on": "2026-11-20", "weight_kg": "70.0", "height_cm": "170.0"}
NORMAL_VITALS = {
    "systolic": 124,
    "diastolic": 78,
    "heart_rate": 72,
    "temperature_c": "36.8",
    "spo2": 98,
    "respiratory_rate": 14,
}
LAB = {"test": "ck", "collected_on": "2026-11-20", "value": "3000", "upper_limit_normal": "180"}


@pytest.fixture(autouse=True)
def usual_first_step(db, frozen_today):
    site_first_step_factor(1)


def add_url(patient, kind: str) -> str:
    return reverse("patients:record_add", kwargs={"patient_uuid": patient.uuid, "kind_slug": kind})


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# ------------------------------------------------------------------ forms, one after the other


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "data", "model"), [("measurements", MEASUREMENT, BodyMeasurement), ("labs", LAB, LabResult)]
)
def test_a_chart_entry_sent_twice_is_saved_once(role_client, dm_patient, kind, data, model):
    client = role_client("nurse" if kind == "measurements" else "physician")
    before = model.objects.count()
    first = client.post(add_url(dm_patient, kind), data | {FIELD_NAME: KEY})
    second = client.post(add_url(dm_patient, kind), data | {FIELD_NAME: KEY})
    assert first.status_code == second.status_code == 302 and first.url == second.url
    assert model.objects.count() == before + 1
    assert REPEATED in messages_of(second)


@pytest.mark.django_db
def test_without_the_token_the_same_entry_twice_is_two_rows(role_client, dm_patient):
    """The control: what double submission did before the token (and still does without it)."""
    client = role_client("nurse")
    before = BodyMeasurement.objects.count()
    client.post(add_url(dm_patient, "measurements"), MEASUREMENT)
    client.post(add_url(dm_patient, "measurements"), MEASUREMENT)
    assert BodyMeasurement.objects.count() == before + 2


def order_form(indication, client, url, key):
    data = {"indication": indication.pk, "dose_g_per_kg": "2", "days": "2", "weight_basis": "auto"}
    preview = client.post(url, data | {"action": "preview", FIELD_NAME: key})
    assert preview.status_code == 200 and not FormSubmission.objects.exists()  # a preview claims nothing
    return data | {"action": "place", "plan_digest": preview.context["form"]["plan_digest"].value(), FIELD_NAME: key}


@pytest.mark.django_db
def test_place_order_sent_twice_places_one_order_and_both_see_it(role_client, dm_patient, dm_indication):
    client = role_client("physician")
    url = reverse("dosing:order_create", kwargs={"patient_uuid": dm_patient.uuid})
    data = order_form(dm_indication, client, url, KEY)
    first, second = client.post(url, data), client.post(url, data)
    order = DoseOrder.objects.get()
    assert first.status_code == second.status_code == 302
    assert first.url == second.url == order.get_absolute_url()


@pytest.mark.django_db
def test_a_form_with_errors_gives_its_token_back(role_client, dm_patient):
    client = role_client("nurse")
    wrong = client.post(add_url(dm_patient, "measurements"), MEASUREMENT | {"weight_kg": "0", FIELD_NAME: KEY})
    assert wrong.status_code == 200 and not FormSubmission.objects.exists()
    right = client.post(add_url(dm_patient, "measurements"), MEASUREMENT | {FIELD_NAME: KEY})
    assert right.status_code == 302 and FormSubmission.objects.get().result_url == right.url


@pytest.mark.django_db
def test_the_same_token_with_other_values_saves_nothing_and_says_so(role_client, dm_patient):
    client = role_client("nurse")
    before = BodyMeasurement.objects.count()
    first = client.post(add_url(dm_patient, "measurements"), MEASUREMENT | {FIELD_NAME: KEY})
    again = client.post(add_url(dm_patient, "measurements"), MEASUREMENT | {"weight_kg": "71.0", FIELD_NAME: KEY})
    assert again.status_code == 302 and again.url == first.url
    assert BodyMeasurement.objects.count() == before + 1
    assert REPEATED_CHANGED in messages_of(again)


@pytest.mark.django_db
def test_tokens_are_per_user(client, make_user, dm_patient):
    for _ in range(2):
        client.force_login(make_user("nurse"))
        assert client.post(add_url(dm_patient, "measurements"), MEASUREMENT | {FIELD_NAME: KEY}).status_code == 302
    assert FormSubmission.objects.count() == 2


@pytest.mark.django_db
def test_an_api_token_made_twice_is_made_once_and_its_secret_shown_once(role_client):
    client = role_client("nurse")
    data = {"name": "pharmacy script", "lifetime_days": "30", "scope": "read-only", FIELD_NAME: KEY}
    first = client.post(reverse("accounts:tokens"), data)
    second = client.post(reverse("accounts:tokens"), data)
    assert first.status_code == 200 and "secret" in first.context
    assert second.status_code == 302 and second.url == reverse("accounts:tokens")
    assert ApiToken.objects.count() == 1


def test_a_calendar_feed_link_made_twice_is_made_once_and_its_secret_shown_once(role_client):
    client = role_client("nurse")
    data = {"feed-name": "ward tablet calendar", FIELD_NAME: KEY}
    first = client.post(reverse("accounts:feed_create"), data)
    second = client.post(reverse("accounts:feed_create"), data)
    assert first.status_code == 200 and "link" in first.context
    assert second.status_code == 302 and second.url == reverse("accounts:tokens")
    assert CalendarFeed.objects.count() == 1


# ------------------------------------------------------------------ the JSON API


@pytest.fixture
def tablet(make_user):
    nurse = make_user("nurse")
    _, secret = api_token_create(by=nurse, name="chair tablet")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def session(make_order, make_user):
    return make_session(verified(make_order()), by=make_user("nurse"))


def vitals(client, session, key=None, **changes):
    body = {"at": local(8, 50).isoformat(), "phase": "before", **NORMAL_VITALS} | changes
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(
        f"/api/v1/sessions/{session.uuid}/vitals", json.dumps(body), content_type="application/json", **headers
    )


@pytest.mark.django_db
def test_an_api_write_retried_with_its_key_is_done_once_and_answered_the_same(tablet, session):
    first = vitals(tablet, session, key="retry-1")
    again = vitals(tablet, session, key="retry-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert VitalSigns.objects.count() == 1


@pytest.mark.django_db
def test_an_api_write_without_a_key_is_done_each_time(tablet, session):
    vitals(tablet, session)
    vitals(tablet, session)
    assert VitalSigns.objects.count() == 2


@pytest.mark.django_db
def test_a_key_reused_for_another_body_is_refused(tablet, session):
    assert vitals(tablet, session, key="k").status_code == 201
    refused = vitals(tablet, session, key="k", systolic=130)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert VitalSigns.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", " ", "x" * 256])
def test_an_unusable_key_is_refused(tablet, session, key):
    assert vitals(tablet, session, key=key).status_code == 422
    assert VitalSigns.objects.count() == 0


@pytest.mark.django_db
def test_a_refused_write_gives_its_key_back(tablet, session):
    assert vitals(tablet, session, key="k", systolic=400).status_code == 422
    assert vitals(tablet, session, key="k").status_code == 201


# ------------------------------------------------------------------ truly at once (PostgreSQL)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two connections racing need PostgreSQL")
def test_two_sendings_at_once_make_one_row(make_user, dm_patient):
    """Two threads, two connections, the same submission: the second insert of the claim waits
    on the unique index until the first commits, then answers with the first's redirect."""
    nurse = make_user("nurse")
    before = BodyMeasurement.objects.count()
    barrier, answers = threading.Barrier(2), []

    def send():
        client = Client()
        client.force_login(nurse)
        barrier.wait()
        try:
            answers.append(client.post(add_url(dm_patient, "measurements"), MEASUREMENT | {FIELD_NAME: KEY}))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [302, 302]
    assert answers[0].url == answers[1].url
    assert BodyMeasurement.objects.count() == before + 1


# ------------------------------------------------------------------ every form carries the token

EXEMPT = {
    # Signing in, out and changing one's password create nothing a second sending could repeat.
    "registration/login.html",
    "registration/password_change_form.html",
    "base.html",  # the sign-out button
}
POST_FORM = re.compile(r"<form\b[^>]*method=\"post\"[^>]*>(.*?)</form>", re.I | re.S)


def post_forms():
    for directory in settings.TEMPLATES[0]["DIRS"]:
        for path in sorted(Path(directory).rglob("*.html")):
            name = str(path.relative_to(directory))
            for number, form in enumerate(POST_FORM.findall(path.read_text())):
                yield name, number, form


def test_every_post_form_carries_the_one_time_token():
    forms = list(post_forms())
    assert len(forms) > 30  # the walk finds the forms
    missing = [
        (name, number) for name, number, form in forms if name not in EXEMPT and "{% submission_token %}" not in form
    ]
    assert missing == []


def test_the_middleware_guards_every_view():
    assert "accounts.submissions.SubmissionOnceMiddleware" in settings.MIDDLEWARE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "page"),
    [
        ("physician", lambda patient: reverse("dosing:order_create", kwargs={"patient_uuid": patient.uuid})),
        ("nurse", lambda patient: add_url(patient, "measurements")),
        ("physician", lambda patient: add_url(patient, "labs")),
        ("physician", lambda patient: reverse("patients:create")),
        ("nurse", lambda patient: patient.get_absolute_url()),
        ("nurse", lambda patient: reverse("accounts:tokens")),
    ],
)
def test_create_pages_draw_a_fresh_token_each_time(role_client, dm_patient, role, page):
    client = role_client(role)
    drawn = [
        re.findall(rf'name="{FIELD_NAME}" value="([0-9a-f-]{{36}})"', client.get(page(dm_patient)).content.decode())
        for _ in range(2)
    ]
    assert drawn[0] and drawn[1] and not set(drawn[0]) & set(drawn[1])


@pytest.mark.django_db
def test_the_admins_add_form_carries_the_token(admin_client):
    html = admin_client.get(reverse("admin:patients_patient_add")).content.decode()
    assert html.count(f'name="{FIELD_NAME}"') == 1
