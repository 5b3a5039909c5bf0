"""The chair API (/api/v1/sessions...): the day's sessions with their ladder, and the start, rates,
vitals and reactions recorded through the same services as the pages. Each write: works, refuses
bad input at the request's own field name with nothing written, 403 for every role but the
nurse, 404 for an unknown session, 422 for a time without an offset.

Time is frozen at 12:00 on 2026-11-22 in New York (the root conftest's frozen_today); the session
is the worked 70 kg dermatomyositis order (Octagam 10 %, 42 -> 84 -> 168 mL/h, steps of 30 and
30 min) planned at 09:00 in chair 2; "started" starts it at 09:00, so with the unit's 5 min
tolerance step 2 may begin from 09:25 and step 3 from 09:55."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils.crypto import get_random_string

from accounts.services import api_token_create
from dosing.tests.factories import site_first_step_factor, verified
from patients.tests.factories import RiskFactorFactory
from scheduling.models import (
    InfusionRecord,
    InfusionSession,
    LotUsage,
    RateChange,
    Reaction,
    SessionStatus,
    UnitSettings,
    VitalSigns,
)
from scheduling.services import records as services
from scheduling.tests.factories import CHECK_ACCEPTED, DAY, fresh_chart, local, make_session


@pytest.fixture(autouse=True)
def usual_first_step(db):
    # The fixture patients are IVIG-naive, so each session here is a first infusion. These tests are
    # about the label's ladder: a site with no slower first step (factor 1). The slower first step
    # is tested in scheduling/tests/test_first_infusion_ladder.py.
    site_first_step_factor(1)


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_today")]

UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
STEPS_70_KG = [
    {"step": 1, "limit_ml_h": "42.0", "from_minute": 0, "minutes": 30},
    {"step": 2, "limit_ml_h": "84.0", "from_minute": 25, "minutes": 30},
    {"step": 3, "limit_ml_h": "168.0", "from_minute": 55, "minutes": None},
]
ACCEPT = {"check_accepted": True, "check_reason": "Labs drawn this morning; physician informed."}
NORMAL_VITALS = {
    "systolic": 124,
    "diastolic": 78,
    "heart_rate": 72,
    "temperature_c": "36.8",
    "spo2": 98,
    "respiratory_rate": 14,
}


def iso(hour: int, minute: int = 0, day: date = DAY) -> str:
    return local(hour, minute, day).isoformat()


@pytest.fixture
def nurse(make_user):
    return make_user("nurse")


def bearer(user) -> dict:
    _, secret = api_token_create(by=user, name="chair tablet")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def tablet(nurse):
    """A client with the nurse's API token and no session: the chair tablet."""
    return Client(enforce_csrf_checks=True, **bearer(nurse))


@pytest.fixture
def order(make_order):
    return verified(make_order())


@pytest.fixture
def session(order, nurse):
    return make_session(order, by=nurse)


@pytest.fixture
def started(session, nurse):
    services.record_start(**CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9), expected_version=None)
    session.refresh_from_db()
    return session


def url(session, action: str) -> str:
    return f"/api/v1/sessions/{session.uuid}/{action}"


def post(client, path: str, body) -> "object":
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, content, content_type="application/json")


def errors_of(response, status: int = 422) -> list[tuple]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"} and body["detail"]
    return [(error["field"], error["message"]) for error in body["errors"]]


def fields_of(response) -> set:
    return {field for field, _ in errors_of(response)}


def state() -> dict:
    """Every row of the session and what is recorded at it, history included."""
    models = [InfusionSession, InfusionRecord, RateChange, VitalSigns, Reaction, LotUsage]
    rows = {}
    for model in models + [model.history.model for model in models]:
        fields = [field.attname for field in model._meta.concrete_fields]
        rows[model._meta.label] = list(model.objects.order_by("pk").values_list(*fields))
    return rows


# ----------------------------------------------------------------------- the day's sessions


def test_the_days_sessions_with_their_ladder(tablet, session, order):
    body = tablet.get("/api/v1/sessions", {"date": "2026-11-22"}).json()
    assert body == [
        {
            "id": str(session.uuid),
            "patient": {"id": str(session.patient.uuid), "mrn": session.patient.mrn},
            "order": str(order.uuid),
            "day_number": 1,
            "chair": 2,
            "status": "confirmed",
            "planned_start": "2026-11-22T09:00:00-05:00",
            "started_at": None,
            "steps": STEPS_70_KG,
            "first_infusion": "First infusion: IVIG-naive: no infusion given before — first step 30 min as usual "
            "(site policy: factor 1)",
        }
    ]


def test_only_sessions_on_that_local_date_in_order(tablet, order, make_order, nurse):
    # 23:30 in New York is already the next day in UTC, and 00:30 the day before: the local date counts.
    late = make_session(order, by=nurse, planned_start=local(23, 30))
    early = make_session(verified(make_order()), by=nurse, planned_start=local(0, 30))
    make_session(verified(make_order()), by=nurse, planned_start=local(23, 30, DAY - timedelta(days=1)))
    make_session(verified(make_order()), by=nurse, planned_start=local(0, 30, DAY + timedelta(days=1)))
    response = tablet.get("/api/v1/sessions", {"date": "2026-11-22"})
    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [str(early.uuid), str(late.uuid)]
    assert tablet.get("/api/v1/sessions", {"date": "2026-11-24"}).json() == []


@pytest.mark.parametrize(("tolerance", "from_minutes"), [(5, [0, 25, 55]), (2, [0, 28, 58]), (0, [0, 30, 60])])
def test_from_minute_follows_the_units_tolerance(tablet, session, tolerance, from_minutes):
    UnitSettings.objects.update(ladder_tolerance_minutes=tolerance)
    (item,) = tablet.get("/api/v1/sessions", {"date": "2026-11-22"}).json()
    assert [step["from_minute"] for step in item["steps"]] == from_minutes


def test_an_at_risk_patients_last_step_is_held_to_the_at_risk_cap(tablet, make_order, dm_patient, nurse):
    RiskFactorFactory(patient=dm_patient, kind="venous_thrombosis", noted_on=date(2024, 5, 1))
    make_session(verified(make_order()), by=nurse)
    (item,) = tablet.get("/api/v1/sessions", {"date": "2026-11-22"}).json()
    assert [step["limit_ml_h"] for step in item["steps"]] == ["42.0", "84.0", "138.6"]


def test_a_started_session_shows_its_start(tablet, started):
    (item,) = tablet.get("/api/v1/sessions", {"date": "2026-11-22"}).json()
    assert (item["status"], item["started_at"]) == ("in_progress", "2026-11-22T09:00:00-05:00")


def test_the_list_takes_the_same_queries_for_one_session_or_five(tablet, order, make_order, nurse, session):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    tablet.get("/api/v1/sessions", {"date": "2026-11-22"})  # notes the token's use, once a minute
    with CaptureQueriesContext(connection) as one:
        tablet.get("/api/v1/sessions", {"date": "2026-11-22"})
    for hour in (10, 11, 12, 13):
        make_session(verified(make_order()), by=nurse, planned_start=local(hour))
    with CaptureQueriesContext(connection) as five:
        assert len(tablet.get("/api/v1/sessions", {"date": "2026-11-22"}).json()) == 5
    assert len(five.captured_queries) == len(one.captured_queries)


@pytest.mark.parametrize("query", [{}, {"date": "22/11/2026"}, {"date": "2026-02-30"}, {"date": "9999-12-31"}])
def test_a_missing_or_bad_date_is_422_at_date(tablet, query):
    assert fields_of(tablet.get("/api/v1/sessions", query)) == {"date"}


@pytest.mark.parametrize("role", ["physician", "pharmacist", "nurse", "viewer"])
def test_every_clinic_role_reads_the_sessions(client, make_user, session, role):
    response = client.get("/api/v1/sessions", {"date": "2026-11-22"}, **bearer(make_user(role)))
    assert response.status_code == 200
    assert len(response.json()) == 1


def test_no_role_no_sessions(client, make_user, session):
    response = client.get("/api/v1/sessions", {"date": "2026-11-22"}, **bearer(make_user(None)))
    assert response.status_code == 403
    assert session.patient.mrn not in response.content.decode()


def test_anonymous_gets_401(client, session):
    assert client.get("/api/v1/sessions", {"date": "2026-11-22"}).status_code == 401
    assert post(client, url(session, "start"), {"at": iso(9), **ACCEPT}).status_code == 401


# ----------------------------------------------------------------------- start


def test_start(tablet, session):
    assert session.version == 1
    response = post(tablet, url(session, "start"), {"at": iso(9, 5), **ACCEPT})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["started_at"]) == (
        str(session.uuid),
        "in_progress",
        "2026-11-22T09:05:00-05:00",
    )
    assert body["steps"] == STEPS_70_KG
    check = body["pre_infusion_check"]
    assert (check["needs_acceptance"], check["accepted"], check["reason"]) == (True, True, ACCEPT["check_reason"])
    assert check["order_weight_kg"] == "70.0"
    assert {item["code"]: item["status"] for item in check["items"]}["creatinine"] == "missing"
    session.refresh_from_db()
    assert (session.status, session.version) == (SessionStatus.IN_PROGRESS, 2)
    assert session.record.started_at == local(9, 5)
    assert session.record.pre_infusion_check["accepted"] is True


def test_start_with_a_fresh_chart_needs_no_acceptance(tablet, session):
    fresh_chart(session.patient)
    response = post(tablet, url(session, "start"), {"at": "2026-11-22T14:05:00Z"})
    assert response.status_code == 200, response.content
    check = response.json()["pre_infusion_check"]
    assert (check["needs_acceptance"], check["accepted"]) == (False, False)
    assert response.json()["started_at"] == "2026-11-22T09:05:00-05:00"


def test_a_stale_check_without_acceptance_is_refused_at_its_fields(tablet, session):
    before = state()
    errors = dict(errors_of(post(tablet, url(session, "start"), {"at": iso(9, 5)})))
    assert set(errors) == {"check_accepted", "check_reason"}
    assert errors["check_accepted"].startswith("Stale or missing before this infusion: ")
    assert errors["check_reason"] == "Say why the infusion starts with a stale or missing item."
    assert state() == before


def test_a_second_start_is_refused_for_the_session_as_a_whole(tablet, started):
    before = state()
    assert errors_of(post(tablet, url(started, "start"), {"at": iso(9, 10), **ACCEPT})) == [
        (None, "This infusion already started at 09:00.")
    ]
    assert state() == before


def test_a_start_on_another_day_is_refused_at_at(tablet, session):
    response = post(tablet, url(session, "start"), {"at": iso(9, day=DAY - timedelta(days=1)), **ACCEPT})
    assert fields_of(response) == {"at"}


# ----------------------------------------------------------------------- rates


@pytest.mark.parametrize(
    ("at", "rate", "step"),
    [
        ((9, 0), "42", 1),
        ((9, 10), "20", 1),
        ((9, 25), "84", 2),
        ((9, 40), "60", 2),
        ((9, 55), "168", 3),
        ((10, 30), "100", 3),
        ((10, 30), "60", 2),  # slowed later: filed under the step it fits
    ],
)
def test_a_rate_is_recorded_at_the_lowest_step_it_fits(tablet, started, at, rate, step):
    response = post(tablet, url(started, "rates"), {"at": iso(*at), "rate_ml_h": rate, "reason": "tolerated"})
    assert response.status_code == 201, response.content
    change = RateChange.objects.get()
    assert response.json() == {
        "id": str(change.uuid),
        "at": iso(*at),
        "rate_ml_h": format(Decimal(rate).quantize(Decimal("0.1")), "f"),
        "step": step,
        "reason": "tolerated",
    }
    assert change.step_number == step


def test_rates_climb_the_ladder_on_time(tablet, started):
    for at, rate in (((9, 0), 42), ((9, 25), 84), ((9, 55), 168)):
        assert post(tablet, url(started, "rates"), {"at": iso(*at), "rate_ml_h": rate}).status_code == 201
    assert list(RateChange.objects.values_list("step_number", "rate_ml_per_h")) == [
        (1, Decimal("42.0")),
        (2, Decimal("84.0")),
        (3, Decimal("168.0")),
    ]


def test_a_rate_too_early_is_refused_at_rate_ml_h_naming_the_limit_in_force(tablet, started):
    before = state()
    response = post(tablet, url(started, "rates"), {"at": iso(9, 10), "rate_ml_h": "84"})
    assert errors_of(response) == [
        (
            "rate_ml_h",
            "84.0 mL/h is above this step's limit of 42.0 mL/h (1 mg/kg/min for 70 kg). Do not exceed the plan. "
            "Limit at 09:10: step 1, 42.0 mL/h. Step 2 may begin from 09:25 (local time).",
        )
    ]
    assert state() == before


def test_a_step_begins_exactly_at_its_minute(tablet, started):
    assert fields_of(post(tablet, url(started, "rates"), {"at": iso(9, 24), "rate_ml_h": 84})) == {"rate_ml_h"}
    assert post(tablet, url(started, "rates"), {"at": iso(9, 25), "rate_ml_h": 84}).status_code == 201


def test_a_rate_above_the_plans_maximum_is_refused(tablet, started):
    before = state()
    response = post(tablet, url(started, "rates"), {"at": iso(10, 30), "rate_ml_h": "168.1"})
    assert errors_of(response) == [
        (
            "rate_ml_h",
            "168.1 mL/h is above this step's limit of 168.0 mL/h (4 mg/kg/min for 70 kg). Do not exceed the plan. "
            "Limit at 10:30: step 3, 168.0 mL/h.",
        )
    ]
    assert state() == before


def test_a_pause_stays_at_the_step_running(tablet, started):
    post(tablet, url(started, "rates"), {"at": iso(9, 55), "rate_ml_h": 168})
    response = post(tablet, url(started, "rates"), {"at": iso(10, 30), "rate_ml_h": 0, "reason": "pump alarm"})
    assert response.status_code == 201, response.content
    assert (response.json()["rate_ml_h"], response.json()["step"]) == ("0.0", 3)


def test_a_negative_rate_is_refused_in_the_services_words(tablet, started):
    assert errors_of(post(tablet, url(started, "rates"), {"at": iso(9, 30), "rate_ml_h": "-1"})) == [
        ("rate_ml_h", "A rate cannot be negative; enter 0 mL/h for a pause.")
    ]


def test_a_rate_before_the_start_is_refused(tablet, session):
    before = state()
    assert errors_of(post(tablet, url(session, "rates"), {"at": iso(9), "rate_ml_h": 42})) == [
        (None, "Record the start of the infusion first.")
    ]
    assert state() == before


def test_a_rate_at_a_time_before_the_start_is_refused_at_at(tablet, started):
    assert fields_of(post(tablet, url(started, "rates"), {"at": iso(8, 59), "rate_ml_h": 42})) == {"at"}


@pytest.mark.parametrize(("written", "stored"), [("42.00", "42.0"), ("4.2E+1", "42.0"), ('"42.00"', "42.0")])
def test_a_rate_with_more_places_than_it_means_is_read_exactly(tablet, started, written, stored):
    body = f'{{"at": "{iso(9, 5)}", "rate_ml_h": {written}}}'
    response = post(tablet, url(started, "rates"), body)
    assert response.status_code == 201, response.content
    assert response.json()["rate_ml_h"] == stored


@pytest.mark.parametrize("rate", ["42.05", 42.05, "100000", "1e999999", "NaN", "42,0", True, None, [42]])
def test_a_rate_the_record_cannot_hold_is_refused_not_rounded(tablet, started, rate):
    body = json.dumps({"at": iso(9, 5), "rate_ml_h": "__R__"}).replace('"__R__"', json.dumps(rate))
    if rate == "1e999999":
        body = body.replace('"1e999999"', "1e999999")
    assert fields_of(post(tablet, url(started, "rates"), body)) == {"rate_ml_h"}
    assert not RateChange.objects.exists()


# ----------------------------------------------------------------------- numbers as text or JSON numbers


@pytest.mark.parametrize(
    "numbers",
    [
        '{"systolic": 124, "diastolic": 78, "heart_rate": 72, "temperature_c": 36.8, "spo2": 98}',
        '{"systolic": "124", "diastolic": "78", "heart_rate": "72", "temperature_c": "36.8", "spo2": "98"}',
        '{"systolic": 124.0, "diastolic": 78, "heart_rate": 72, "temperature_c": 36.80, "spo2": 98}',
    ],
)
def test_decimal_strings_and_json_numbers_are_both_read_exactly(tablet, started, numbers):
    body = numbers[:-1] + f', "at": "{iso(9, 30)}", "phase": "during"}}'
    response = post(tablet, url(started, "vitals"), body)
    assert response.status_code == 201, response.content
    assert response.json()["temperature_c"] == "36.8"
    assert VitalSigns.objects.get().temperature_c == Decimal("36.8")
    rate = post(tablet, url(started, "rates"), f'{{"at": "{iso(9, 30)}", "rate_ml_h": 84.0}}')
    assert (rate.status_code, rate.json()["rate_ml_h"]) == (201, "84.0")


# ----------------------------------------------------------------------- vitals


def test_vitals_before_the_start(tablet, session):
    response = post(tablet, url(session, "vitals"), {"at": iso(8, 50), "phase": "before", **NORMAL_VITALS})
    assert response.status_code == 201, response.content
    vitals = VitalSigns.objects.get()
    assert response.json() == {
        "id": str(vitals.uuid),
        "at": "2026-11-22T08:50:00-05:00",
        "phase": "before",
        "systolic_mmhg": 124,
        "diastolic_mmhg": 78,
        "heart_rate_bpm": 72,
        "temperature_c": "36.8",
        "spo2_percent": 98,
        "respiratory_rate_per_min": 14,
    }
    assert vitals.record.session == session


def test_vitals_without_the_optional_readings(tablet, started):
    body = {key: value for key, value in NORMAL_VITALS.items() if key not in ("spo2", "respiratory_rate")}
    response = post(tablet, url(started, "vitals"), {"at": iso(9, 30), "phase": "during", **body})
    assert response.status_code == 201, response.content
    assert (response.json()["spo2_percent"], response.json()["respiratory_rate_per_min"]) == (None, None)


@pytest.mark.parametrize("diastolic", [124, 130])
def test_a_diastolic_at_or_above_the_systolic_is_refused_at_diastolic(tablet, session, diastolic):
    before = state()
    body = {"at": iso(8, 50), "phase": "before", **NORMAL_VITALS, "diastolic": diastolic}
    assert errors_of(post(tablet, url(session, "vitals"), body)) == [
        ("diastolic", f"{diastolic} mmHg is not below the systolic 124 mmHg.")
    ]
    assert state() == before  # not even the record the 'before' vitals would have opened


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"systolic": 301}, "systolic"),
        ({"heart_rate": 400}, "heart_rate"),
        ({"temperature_c": "29.9"}, "temperature_c"),
        ({"temperature_c": "36.85"}, "temperature_c"),
        ({"spo2": 101}, "spo2"),
        ({"respiratory_rate": 2}, "respiratory_rate"),
        ({"phase": "later"}, "phase"),
    ],
)
def test_out_of_range_vitals_are_refused_at_the_requests_field(tablet, started, changes, field):
    before = state()
    body = {"at": iso(9, 30), "phase": "during", **NORMAL_VITALS, **changes}
    assert fields_of(post(tablet, url(started, "vitals"), body)) == {field}
    assert state() == before


def test_vitals_during_need_the_start(tablet, session):
    assert errors_of(post(tablet, url(session, "vitals"), {"at": iso(9, 30), "phase": "during", **NORMAL_VITALS})) == [
        ("phase", "Record the start of the infusion before vital signs during or after it.")
    ]


# ----------------------------------------------------------------------- reactions


def test_a_reaction(tablet, started):
    body = {"at": iso(9, 40), "reaction": "headache", "severity": "mild", "action": "slowed"}
    response = post(tablet, url(started, "reactions"), body)
    assert response.status_code == 201, response.content
    reaction = Reaction.objects.get()
    assert response.json() == {
        "id": str(reaction.uuid),
        "at": "2026-11-22T09:40:00-05:00",
        "reaction": "headache",
        "severity": "mild",
        "action": "slowed",
        "description": "",
        "resumed_rate_ml_h": None,
    }
    assert (reaction.type, reaction.record.session) == ("headache", started)


def test_a_reaction_after_which_the_infusion_resumed_restarts_the_climb(tablet, started):
    post(tablet, url(started, "rates"), {"at": iso(9, 25), "rate_ml_h": 84})
    body = {"at": iso(9, 40), "reaction": "flushing", "severity": "mild", "action": "resumed", "resumed_rate_ml_h": 42}
    response = post(tablet, url(started, "reactions"), body)
    assert (response.status_code, response.json()["resumed_rate_ml_h"]) == (201, "42.0")
    # The clock starts again at 09:40 from step 1: step 2 from 10:05.
    refused = errors_of(post(tablet, url(started, "rates"), {"at": iso(9, 50), "rate_ml_h": 84}))
    assert refused[0][0] == "rate_ml_h" and refused[0][1].endswith("Step 2 may begin from 10:05 (local time).")
    assert post(tablet, url(started, "rates"), {"at": iso(10, 5), "rate_ml_h": 84}).status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reaction": "other"}, "description"),
        ({"action": "resumed"}, "resumed_rate_ml_h"),
        ({"action": "resumed", "resumed_rate_ml_h": "84.1"}, "resumed_rate_ml_h"),
        ({"resumed_rate_ml_h": 42}, "resumed_rate_ml_h"),
        ({"reaction": "sneezing"}, "reaction"),
        ({"severity": "fatal"}, "severity"),
        ({"at": iso(8, 55)}, "at"),
    ],
)
def test_a_reaction_refused_at_the_requests_field(tablet, started, changes, field):
    post(tablet, url(started, "rates"), {"at": iso(9, 25), "rate_ml_h": 84})
    before = state()
    body = {"at": iso(9, 40), "reaction": "headache", "severity": "mild", "action": "none", **changes}
    assert fields_of(post(tablet, url(started, "reactions"), body)) == {field}
    assert state() == before


def test_a_severe_reaction_that_stopped_the_infusion_stops_it(tablet, started):
    body = {"at": iso(9, 40), "reaction": "dyspnoea", "severity": "severe", "action": "stopped"}
    assert post(tablet, url(started, "reactions"), body).status_code == 201
    assert InfusionRecord.objects.get().stopped_at == local(9, 40)


# ----------------------------------------------------------------------- who, which session, what input

WRITES = {
    "start": {"at": iso(9, 5), **ACCEPT},
    "rates": {"at": iso(9, 5), "rate_ml_h": "42"},
    "vitals": {"at": iso(8, 50), "phase": "before", **NORMAL_VITALS},
    "reactions": {"at": iso(9, 5), "reaction": "headache", "severity": "mild", "action": "none"},
}


@pytest.fixture
def ready(session, nurse):
    """The session as each write needs it: not started for the start, started for the others."""

    def prepare(action: str):
        if action != "start":
            services.record_start(
                **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9), expected_version=None
            )
        return session

    return prepare


@pytest.mark.parametrize("action", WRITES)
def test_a_nurse_writes(tablet, ready, action):
    expected = 200 if action == "start" else 201
    assert post(tablet, url(ready(action), action), WRITES[action]).status_code == expected


@pytest.mark.parametrize("role", ["physician", "pharmacist", "viewer", None])
@pytest.mark.parametrize("action", WRITES)
def test_only_a_nurse_writes(client, make_user, ready, action, role):
    session = ready(action)
    before = state()
    response = client.post(
        url(session, action), json.dumps(WRITES[action]), content_type="application/json", **bearer(make_user(role))
    )
    assert response.status_code == 403
    assert response.json()["detail"]
    assert state() == before


@pytest.mark.parametrize("action", WRITES)
def test_an_unknown_session_is_404(tablet, action):
    response = post(tablet, f"/api/v1/sessions/{UNKNOWN_UUID}/{action}", WRITES[action])
    assert response.status_code == 404
    assert response.json() == {"detail": "No infusion session has this id."}


@pytest.mark.parametrize("action", WRITES)
def test_a_malformed_session_id_is_422_at_session_id(tablet, action):
    assert fields_of(post(tablet, f"/api/v1/sessions/42/{action}", WRITES[action])) == {"session_id"}


@pytest.mark.parametrize("action", WRITES)
@pytest.mark.parametrize("at", ["2026-11-22T09:05:00", "2026-11-22", 1795356300, "09:05", "", None])
def test_a_time_without_an_offset_is_422_at_at(tablet, ready, action, at):
    session = ready(action)
    before = state()
    response = post(tablet, url(session, action), {**WRITES[action], "at": at})
    assert fields_of(response) == {"at"}
    assert state() == before


def test_the_naive_time_message_says_what_is_missing(tablet, started):
    ((field, message),) = errors_of(post(tablet, url(started, "rates"), {"at": "2026-11-22T09:05", "rate_ml_h": 42}))
    assert (field, message) == (
        "at",
        "needs its UTC offset (such as -05:00 or Z): '2026-11-22T09:05' does not say which time zone it is in",
    )


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_no_clock_can_hold_is_422(tablet, started, at):
    assert fields_of(post(tablet, url(started, "rates"), {"at": at, "rate_ml_h": 42})) == {"at"}


@pytest.mark.parametrize("action", WRITES)
def test_an_unknown_field_is_refused_not_ignored(tablet, ready, action):
    response = post(tablet, url(ready(action), action), {**WRITES[action], "step_number": 3})
    assert fields_of(response) == {"step_number"}


@pytest.mark.parametrize("body", ["not json", "[1, 2]", "", '{"at": NaN}'])
def test_a_body_that_is_not_a_json_object_is_422(tablet, started, body):
    response = post(tablet, url(started, "rates"), body)
    assert response.status_code == 422
    assert response.json()["errors"]


def test_text_with_a_nul_character_is_refused(tablet, started):
    body = {"at": iso(9, 5), "rate_ml_h": 42, "reason": "ok\x00"}
    assert fields_of(post(tablet, url(started, "rates"), body)) == {"reason"}


def test_a_browser_session_needs_csrf(nurse, session):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(nurse)
    assert post(browser, url(session, "start"), WRITES["start"]).status_code == 403
    csrf_secret = get_random_string(32)
    browser.cookies[settings.CSRF_COOKIE_NAME] = csrf_secret
    response = browser.post(
        url(session, "start"),
        json.dumps(WRITES["start"]),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf_secret,
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_writes_take_post_only(tablet, started, method):
    assert getattr(tablet, method)(url(started, "rates")).status_code == 405


# ----------------------------------------------------------------------- OpenAPI


def test_the_routes_are_documented(tablet):
    schema = tablet.get("/api/v1/openapi.json").json()
    paths = {
        "/api/v1/sessions": "get",
        "/api/v1/sessions/{session_id}/start": "post",
        "/api/v1/sessions/{session_id}/rates": "post",
        "/api/v1/sessions/{session_id}/vitals": "post",
        "/api/v1/sessions/{session_id}/reactions": "post",
    }
    for path, method in paths.items():
        operation = schema["paths"][path][method]
        assert operation["summary"] and operation["description"], path
        assert {"401", "403", "422"} <= set(operation["responses"]), path
        if method == "post":
            assert "404" in operation["responses"], path
    rates = schema["paths"]["/api/v1/sessions/{session_id}/rates"]["post"]
    assert "201" in rates["responses"]


def test_a_step_above_the_plans_maximum_is_shown_at_the_maximum(tablet, session, order):
    # No plan made today has one (each step is capped when planned); step_limit holds any ladder to
    # the maximum all the same, and the tablet is told that limit, not the step's own rate.
    from dosing.models import DoseOrder

    plan = dict(order.plan, max_rate_ml_per_h="150.0", max_rate_mg_per_kg_min="3.5")
    DoseOrder.objects.filter(pk=order.pk).update(plan=plan)
    (item,) = tablet.get("/api/v1/sessions", {"date": "2026-11-22"}).json()
    assert [step["limit_ml_h"] for step in item["steps"]] == ["42.0", "84.0", "150.0"]


# ----------------------------------------------------------------------- lots, voids, completion

# GS1 prefix 952 is kept for demonstrations: these GTINs are no real product's.
OCTAGAM_30, PRIVIGEN_10 = "09520000000301", "09520000000998"


@pytest.fixture
def on_file(make_user):
    """Octagam 10% 30 g and Privigen 10 g with demo GTINs, as a pharmacist puts them on file."""
    from dosing.models import Product
    from dosing.services.catalog import presentation_gtin_add

    pharmacist = make_user("pharmacist")
    for slug, size, gtin in [("octagam-10", "30", OCTAGAM_30), ("privigen", "10", PRIVIGEN_10)]:
        presentation_gtin_add(
            by=pharmacist, product=Product.objects.get(slug=slug), vial_size_g=size, gtin=gtin, source="test carton"
        )


def scan(gtin: str, lot: str = "A123", expiry: str = "270630") -> str:
    # What a handheld scanner types: symbology prefix, GTIN (01), expiry (17), lot (10) last.
    return f"]d201{gtin}17{expiry}10{lot}"


def test_a_typed_lot(tablet, started):
    response = post(tablet, url(started, "lots"), {"lot": "B42", "expiry": "2027-05-31", "vial_grams": 30, "vials": 2})
    assert response.status_code == 201, response.content
    body = response.json()
    lot = LotUsage.objects.get()
    assert body == {
        "id": str(lot.uuid),
        "lot": "B42",
        "expiry": "2027-05-31",
        "vial_grams": "30.00",
        "vials": 2,
        "grams": "60.00",
        "gtin": "",
        "excess_reason": "",
    }


def test_a_scanned_vial_fills_lot_expiry_and_size(tablet, started, on_file):
    response = post(tablet, url(started, "lots"), {"gs1": scan(OCTAGAM_30)})
    assert response.status_code == 201, response.content
    assert {key: response.json()[key] for key in ("lot", "expiry", "vial_grams", "vials", "gtin")} == {
        "lot": "A123",
        "expiry": "2027-06-30",
        "vial_grams": "30.00",
        "vials": 1,
        "gtin": OCTAGAM_30,
    }


def test_a_vial_of_another_product_is_refused_at_gs1(tablet, started, on_file):
    before = state()
    ((field, message),) = errors_of(post(tablet, url(started, "lots"), {"gs1": scan(PRIVIGEN_10)}))
    assert field == "gs1" and "the order is for Octagam 10%" in message
    assert state() == before


def test_an_expired_typed_lot_is_refused_at_expiry(tablet, started):
    response = post(tablet, url(started, "lots"), {"lot": "B42", "expiry": "2026-11-21", "vial_grams": 30})
    assert errors_of(response) == [
        ("expiry", "This lot expired on 2026-11-21, before the infusion day (2026-11-22). Do not use it.")
    ]


@pytest.mark.parametrize("expiry", ["9999-12-31", "0001-01-01", "2040-01-01"])
def test_an_implausible_expiry_is_refused_at_expiry_with_its_window(tablet, started, expiry):
    before = state()
    response = post(tablet, url(started, "lots"), {"lot": "B42", "expiry": expiry, "vial_grams": 30})
    ((field, message),) = errors_of(response)
    assert field == "expiry" and "a vial's expiry" in message and expiry in message
    assert state() == before


@pytest.mark.parametrize("lot", ["B42\u202e", "B4\r\n2", "B\u200b42"])
def test_a_lot_number_with_a_control_or_format_character_is_refused_at_lot(tablet, started, lot):
    before = state()
    response = post(tablet, url(started, "lots"), {"lot": lot, "expiry": "2027-05-31", "vial_grams": 30})
    ((field, message),) = errors_of(response)
    assert field == "lot" and "printable" in message
    assert state() == before


def test_opening_more_than_planned_needs_a_reason_at_excess_reason(tablet, started):
    post(tablet, url(started, "lots"), {"lot": "B42", "expiry": "2027-05-31", "vial_grams": 30, "vials": 2})
    body = {"lot": "B43", "expiry": "2027-05-31", "vial_grams": 30, "vials": 1}
    assert fields_of(post(tablet, url(started, "lots"), body)) == {"excess_reason"}
    kept = post(tablet, url(started, "lots"), body | {"excess_reason": "a vial cracked on opening"})
    assert kept.status_code == 201 and kept.json()["excess_reason"] == "a vial cracked on opening"


def test_any_entry_is_voided_by_its_id_with_a_reason(tablet, started):
    lot_id = post(tablet, url(started, "lots"), {"lot": "B42", "expiry": "2027-05-31", "vial_grams": 30}).json()["id"]
    rate_id = post(tablet, url(started, "rates"), {"at": iso(9, 5), "rate_ml_h": "42"}).json()["id"]
    start_id = str(InfusionRecord.objects.get().values.get(kind="start").uuid)
    for entry_id, words in ((lot_id, "lot B42 (1 x 30 g)"), (rate_id, "pump rate 42.0 mL/h at 09:05")):
        response = post(tablet, url(started, f"entries/{entry_id}/void"), {"reason": "entered in error"})
        assert response.status_code == 200, response.content
        assert response.json()["entry"] == words and response.json()["void_reason"] == "entered in error"
    assert not LotUsage.objects.live().exists() and LotUsage.objects.count() == 1
    assert post(tablet, url(started, f"entries/{start_id}/void"), {"reason": "wrong session"}).status_code == 200
    started.refresh_from_db()
    assert started.status == SessionStatus.CONFIRMED


def test_a_void_without_a_reason_writes_nothing(tablet, started):
    entry_id = post(tablet, url(started, "rates"), {"at": iso(9, 5), "rate_ml_h": "42"}).json()["id"]
    before = state()
    assert errors_of(post(tablet, url(started, f"entries/{entry_id}/void"), {"reason": " "})) == [
        ("reason", "Say why the pump rate 42.0 mL/h at 09:05 is voided.")
    ]
    assert fields_of(post(tablet, url(started, f"entries/{entry_id}/void"), {})) == {"reason"}
    assert state() == before


def test_an_entry_of_another_session_or_none_is_404(tablet, started, order, nurse):
    other = make_session(order, by=nurse, planned_start=local(13))
    foreign = services.lot_record(
        by=nurse, session=other, lot_number="Z1", vial_size_g=Decimal("30"), vials=1, expiry_date=date(2027, 1, 1)
    )
    for entry_id in (foreign.uuid, UNKNOWN_UUID):
        response = post(tablet, url(started, f"entries/{entry_id}/void"), {"reason": "x"})
        assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.voided_at is None


def chair_run(tablet, session):
    """Vitals before, two 30 g vials and a 10 g vial, the climb (09:00 start), vitals after."""
    post(tablet, url(session, "vitals"), {"at": iso(8, 50), "phase": "before", **NORMAL_VITALS})
    for lot, size, vials in (("B30", 30, 2), ("B10", 10, 1)):
        post(tablet, url(session, "lots"), {"lot": lot, "expiry": "2027-05-31", "vial_grams": size, "vials": vials})
    for at, rate in ((iso(9, 0), "42"), (iso(9, 25), "84"), (iso(9, 55), "168")):
        assert post(tablet, url(session, "rates"), {"at": at, "rate_ml_h": rate}).status_code == 201
    post(tablet, url(session, "vitals"), {"at": iso(11, 40), "phase": "after", **NORMAL_VITALS})


def test_complete_answers_the_summary(tablet, started):
    chair_run(tablet, started)
    # 09:00 to 11:30 at the rates recorded: 17.5 + 42 + 266 = 325.5 mL.
    response = post(tablet, url(started, "complete"), {"at": iso(11, 30), "volume_ml": "320", "confirm": True})
    assert response.status_code == 200, response.content
    body = response.json()
    assert {key: body[key] for key in ("grams_planned", "grams_opened", "grams_given", "grams_wasted")} == {
        "grams_planned": "70.00",
        "grams_opened": "70.00",
        "grams_given": "32.00",
        "grams_wasted": "0.00",
    }
    assert (body["volume_planned_ml"], body["volume_given_ml"], body["minutes"]) == ("700.0", "320.0", 150)
    assert body["started_at"] == iso(9) and body["stopped_at"] == iso(11, 30)
    started.refresh_from_db()
    assert started.status == SessionStatus.COMPLETED
    # Stopped early: the prescriber is told.
    from scheduling.models import Reminder

    assert Reminder.objects.filter(session=started, kind="infusion_incomplete").exists()


def test_complete_without_confirm_is_refused_at_confirm(tablet, started):
    chair_run(tablet, started)
    before = state()
    response = post(tablet, url(started, "complete"), {"at": iso(11, 30), "volume_ml": "320"})
    assert errors_of(response) == [("confirm", "Check the summary (grams, volume, time) and confirm it to complete.")]
    assert state() == before


def test_a_volume_the_rates_cannot_deliver_is_refused_at_volume_ml_with_the_figure(tablet, started):
    chair_run(tablet, started)
    before = state()
    response = post(tablet, url(started, "complete"), {"at": iso(11, 30), "volume_ml": "700", "confirm": True})
    assert errors_of(response) == [
        (
            "volume_ml",
            "700.0 mL cannot have been given between 09:00 and 11:30: the recorded pump rates deliver 325.5 mL in "
            "that time (at most 332.0 mL with the 2 % tolerance). Check the volume read from the pump, or record "
            "the rate changes that are missing first.",
        )
    ]
    assert state() == before


@pytest.mark.parametrize("role", ["physician", "pharmacist", "viewer"])
@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("lots", {"lot": "B42", "expiry": "2027-05-31", "vial_grams": 30}),
        ("complete", {"at": iso(11, 30), "volume_ml": "450", "confirm": True}),
        (f"entries/{UNKNOWN_UUID}/void", {"reason": "x"}),
    ],
)
def test_only_a_nurse_records_lots_voids_and_completes(client, make_user, started, role, action, body):
    before = state()
    response = client.post(
        url(started, action), json.dumps(body), content_type="application/json", **bearer(make_user(role))
    )
    assert response.status_code == 403
    assert state() == before


@pytest.mark.parametrize(
    ("action", "body"),
    [("lots", {"lot": "B42", "expiry": "2027-05-31", "vial_grams": 30}), ("complete", {"confirm": True})],
)
def test_lots_and_complete_of_an_unknown_session_are_404(tablet, action, body):
    assert post(tablet, f"/api/v1/sessions/{UNKNOWN_UUID}/{action}", body).status_code == 404
