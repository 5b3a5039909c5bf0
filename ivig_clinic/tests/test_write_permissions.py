"""Who may write, through every URL that accepts a write.

The test walks every URL pattern (as test_urls.py does), finds those that accept POST, PUT,
PATCH or DELETE from the views' own method decorators, and reverses each with real objects:
a viewer is refused (403) at every one of them and nothing in the database changes; a nurse is
refused at every URL the README's role matrix keeps from nurses, verifying and rejecting orders
first. A write URL the test does not know fails `test_every_write_url_is_covered`, so a new one
cannot be added without saying who may use it.
"""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.services import api_token_create
from dosing.models import OrderStatus, ProductPresentation
from dosing.services.orders import dose_order_verify
from fhir_api.bulk import bulk_export_request
from pathway.services import review_record
from patients.tests.factories import LabResultFactory, MedicationFactory, RiskFactorFactory
from patients.views import RECORD_KINDS
from risk.models import RiskFlag
from scheduling.models import Reminder
from scheduling.services.records import lot_record
from scheduling.tests.factories import CHECK_ACCEPTED_POST, make_session
from scheduling.views.records import RECORD_PARTS
from scheduling.views.reminders import ACTIONS as REMINDER_ACTIONS
from scheduling.views.reminders import EMAIL_ACTIONS as REMINDER_EMAIL_ACTIONS
from visits.models import Visit

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
ANY_METHOD = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# Writes every signed-in person may make, each for a reason; not part of the refusal sweep.
OPEN_TO_EVERY_ROLE = {
    "login": "public: logging in",
    "logout": "everyone may log out",
    "password_change": "everyone changes their own password",
    "accounts:tokens": "everyone creates their own API tokens (README)",
    "accounts:token_revoke": "everyone revokes their own API tokens; another's answers 404",
    "accounts:feed_create": "everyone makes their own calendar feed links, like API tokens",
    "accounts:feed_revoke": "everyone revokes their own calendar feed links; another's answers 404",
    "api-v1:calculate_dose_plan": "a calculation: nothing is stored (README: the calculator is for every role)",
    "api-v1:calculate_tis": "a calculation: nothing is stored",
}
# Views with no method decorator that only ever read (ninja's schema pages, health check, icon).
READ_ONLY_ANY_METHOD = {"api-v1:openapi-json", "api-v1:openapi-view", "api-v1:api-root", "healthz", "favicon"}
# Not part of the world's state: login sessions and throttling, and token use bookkeeping.
NOT_COMPARED = {"sessions.session", "axes.accessattempt", "axes.accesslog", "axes.accessfailurelog"}
NOT_COMPARED_FIELDS = {"accounts.apitoken": {"last_used_at"}}


# ----------------------------------------------------------------------- discovering write URLs


def _walk(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace or "") if part)
            yield from _walk(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield (f"{namespace}:{entry.name}" if namespace else entry.name), entry.callback


def _methods(callback) -> set[str]:
    """The HTTP methods a view accepts, read from its decorators (require_http_methods and
    friends keep the list in a closure), a class-based view's handlers, or a Ninja path's
    operations. A view without any of these accepts every method."""
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        return {name.upper() for name in view_class.http_method_names if hasattr(view_class, name)}
    function = callback
    while function is not None:
        function = getattr(function, "func", function)  # functools.partial
        cells = dict(zip(function.__code__.co_freevars, function.__closure__ or (), strict=True))
        if "request_method_list" in cells:
            return set(cells["request_method_list"].cell_contents)
        path_view = cells["self"].cell_contents if "self" in cells else None
        if hasattr(path_view, "operations"):
            return {method for operation in path_view.operations for method in operation.methods}
        function = getattr(function, "__wrapped__", None)
    return ANY_METHOD


def discovered_write_urls() -> set[str]:
    return {
        name
        for name, callback in _walk(get_resolver().url_patterns)
        if not name.startswith("admin:") and _methods(callback) & WRITE_METHODS
    }


def admin_url_names() -> set[str]:
    return {name for name, _ in _walk(get_resolver().url_patterns) if name.startswith("admin:")}


# ----------------------------------------------------------------------- a clinic with one of everything


@dataclass
class World:
    physician: object
    pharmacist: object
    nurse: object
    viewer: object
    patient: object
    records: dict
    pending_order: object
    verified_order: object
    session: object
    visit: object
    flag: object
    reminder: object
    viewer_token: object
    viewer_secret: str
    others_token: object
    lot: object
    review: object = None
    export_job: object = None


@pytest.fixture
def world(make_user, make_order, dm_patient, frozen_today) -> World:
    physician, pharmacist, nurse, viewer = (make_user(role) for role in ("physician", "pharmacist", "nurse", "viewer"))
    records = {
        "measurements": dm_patient.measurements.first(),
        "labs": LabResultFactory(patient=dm_patient),
        "medications": MedicationFactory(patient=dm_patient),
        "risk-factors": RiskFactorFactory(patient=dm_patient),
    }
    pending = make_order(by=physician)
    verified = dose_order_verify(by=pharmacist, order=make_order(by=physician))
    session = make_session(verified, by=nurse)
    lot = lot_record(
        by=nurse, session=session, lot_number="W1", vial_size_g=Decimal("30"), vials=1, expiry_date=date(2027, 1, 1)
    )
    now = datetime(2026, 11, 22, 17, tzinfo=UTC)
    flag = RiskFlag.objects.create(
        patient=dm_patient,
        code="thrombosis_test",
        category="thrombosis",
        severity="high",
        title="Test flag",
        evidence="for the permission sweep",
        mitigation="none",
        source="test",
        first_seen_at=now,
        last_evaluated_at=now,
    )
    reminder = Reminder.objects.create(
        subject_key=f"upcoming_infusion:{session.uuid}:2026-11-20",
        kind="upcoming_infusion",
        patient=dm_patient,
        session=session,
        due_at=now,
        message="Infusion on Monday",
        role="viewer",
    )
    visit = Visit.objects.create(
        patient=dm_patient, visit_date=date(2026, 11, 20), assessor=physician, recorded_by=physician
    )
    viewer_token, viewer_secret = api_token_create(by=viewer, name="viewer's script")
    others_token, _ = api_token_create(by=nurse, name="nurse's script")
    review = review_record(
        by=physician, course=pending.treatment_course, expected_version=None, decision="continue", reason="improving"
    )
    export_job = bulk_export_request(
        by=physician,
        request_url="http://testserver/fhir/$export",
        types=("Patient",),
        since=None,
        output_format="application/fhir+ndjson",
        now=now,
    )
    return World(
        physician, pharmacist, nurse, viewer, dm_patient, records, pending, verified, session, visit, flag,
        reminder, viewer_token, viewer_secret, others_token, lot, review, export_job,
    )  # fmt: skip


def _url(name: str, **kwargs) -> str:
    return reverse(name, kwargs=kwargs)


def _post(client, url: str, data: dict):
    """A page's form post, or for the JSON API the same data as a JSON body (Ninja reads the body
    before the route runs: a form-encoded one would be refused as unreadable, not as forbidden)."""
    if url.startswith("/api/"):
        return client.post(url, json.dumps(data), content_type="application/json")
    if url.startswith("/fhir"):
        return client.post(url, json.dumps(data), content_type="application/fhir+json")
    return client.post(url, data)


def _fhir_creatinine(patient) -> dict:
    """A creatinine of 97 umol/L as an EHR would POST it (stored as 1.097 mg/dL)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "14682-9"}]},
        "subject": {"reference": f"Patient/{patient.uuid}"},
        "effectiveDateTime": "2026-11-21",
        "valueQuantity": {"value": 97, "unit": "umol/L", "system": "http://unitsofmeasure.org", "code": "umol/L"},
    }


def _fhir_transaction(patient) -> dict:
    entry = {"resource": _fhir_creatinine(patient), "request": {"method": "POST", "url": "Observation"}}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}


# The chair API's writes, in the order a nurse makes them (start first): the frozen day's session at 09:00.
CHAIR_WRITES = {
    "api-v1:start_infusion": {
        "at": "2026-11-22T09:05:00-05:00",
        "check_accepted": True,
        "check_reason": "Not what this test is about.",
    },
    "api-v1:add_rate": {"at": "2026-11-22T09:10:00-05:00", "rate_ml_h": "42"},
    "api-v1:add_vitals": {
        "at": "2026-11-22T08:50:00-05:00",
        "phase": "before",
        "systolic": 124,
        "diastolic": 78,
        "heart_rate": 72,
        "temperature_c": "36.8",
    },
    "api-v1:add_reaction": {
        "at": "2026-11-22T09:15:00-05:00",
        "reaction": "headache",
        "severity": "mild",
        "action": "none",
    },
}


def _write_cases(w: World) -> dict[str, list[tuple[str, str, dict]]]:
    """Every write URL refused to viewers: name → [(case id, URL, plausible POST data)].

    The data would be accepted from someone allowed, so a missing permission check would
    write, and the snapshot would show it."""
    patient, order, session = w.patient.uuid, w.pending_order.uuid, w.session.uuid
    course = w.review.course.uuid
    kinds = {
        "measurements": {"measured_on": "2026-11-22", "weight_kg": "71", "height_cm": "170"},
        "labs": {"test": "creatinine", "collected_on": "2026-11-21", "value": "0.9", "upper_limit_normal": ""},
        "medications": {"category": "other", "name": "Aspirin", "daily_dose_mg": "81", "started_on": "2026-01-01"},
        "risk-factors": {"kind": "prior_thrombosis", "noted_on": "2026-11-01", "comment": "DVT 2019"},
    }
    return {
        "patients:create": [("", _url("patients:create"), {"mrn": "NEW1", "first_name": "A", "last_name": "B"})],
        "patients:edit": [("", _url("patients:edit", patient_uuid=patient), {"first_name": "Changed"})],
        "patients:archive": [("", _url("patients:archive", patient_uuid=patient), {"reason": "duplicate"})],
        "patients:record_add": [
            (slug, _url("patients:record_add", patient_uuid=patient, kind_slug=slug), data)
            for slug, data in kinds.items()
        ],
        "patients:record_edit": [
            (
                slug,
                _url("patients:record_edit", patient_uuid=patient, kind_slug=slug, record_uuid=w.records[slug].uuid),
                data,
            )
            for slug, data in kinds.items()
        ],
        "patients:record_delete": [
            (
                slug,
                _url("patients:record_delete", patient_uuid=patient, kind_slug=slug, record_uuid=w.records[slug].uuid),
                {"reason": "entered in error"},
            )
            for slug in kinds
        ],
        "dosing:site_settings": [("", _url("dosing:site_settings"), {"rounding_tolerance_percent": "5"})],
        "dosing:product_stock": [
            ("", _url("dosing:product_stock", slug="octagam-10"), {"vial_sizes_in_stock_g": "10"})
        ],
        "dosing:presentation_add": [
            (
                "",
                _url("dosing:presentation_add", slug="octagam-10"),
                {"vial_size_g": "10", "gtin": "09520000000103", "source": "carton in stock"},
            )
        ],
        "dosing:presentation_withdraw": [
            (
                "",
                _url(
                    "dosing:presentation_withdraw",
                    slug="octagam-10",
                    presentation_id=ProductPresentation.objects.exclude(gtin="").get(product__slug="octagam-10").pk,
                ),
                {"reason": "read from the wrong carton"},
            )
        ],
        "dosing:order_create": [
            (
                "",
                _url("dosing:order_create", patient_uuid=patient),
                {"indication": w.pending_order.indication_id, "dose_g_per_kg": "2", "days": "2", "action": "place"}
                | {"weight_basis": "auto"},
            )
        ],
        "dosing:order_verify": [
            (
                "verify",
                _url("dosing:order_verify", order_uuid=order),
                {"action": "verify", "checked": "on", "version": "1"},
            ),
            (
                "reject",
                _url("dosing:order_verify", order_uuid=order),
                {"action": "reject", "reject-reason": "no", "reject-version": "1"},
            ),
        ],
        "dosing:order_cancel": [("", _url("dosing:order_cancel", order_uuid=order), {"reason": "no", "version": "1"})],
        "visits:create": [("", _url("visits:create", patient_uuid=patient), {"visit_date": "2026-11-21"})],
        "visits:edit": [("", _url("visits:edit", visit_uuid=w.visit.uuid), {"visit_date": "2026-11-19"})],
        "visits:set_baseline": [("", _url("visits:set_baseline", visit_uuid=w.visit.uuid), {})],
        "risk:acknowledge": [("", _url("risk:acknowledge", flag_uuid=w.flag.uuid), {"comment": "seen"})],
        "scheduling:unit_settings": [("", _url("scheduling:unit_settings"), {"chairs": "3"})],
        "scheduling:course_create": [
            ("", _url("scheduling:course_create", order_uuid=w.verified_order.uuid), {"first_day": "2026-11-30"})
        ],
        "scheduling:course_detail": [
            ("extend", _url("scheduling:course_detail", course_uuid=w.session.cycle.course.uuid), {"action": "extend"})
        ],
        "scheduling:session_move": [
            (
                "",
                _url("scheduling:session_move", session_uuid=session),
                {"new_date": "2026-11-23", "new_start": "10:00", "chair": "", "version": "1"},
            )
        ],
        "scheduling:session_status": [
            (
                "",
                _url("scheduling:session_status", session_uuid=session),
                {"status": "cancelled", "reason": "x", "version": "1"},
            )
        ],
        "scheduling:record_edit": [
            (
                "start",
                _url("scheduling:record_edit", session_uuid=session),
                {**CHECK_ACCEPTED_POST, "stage": "start", "started_at": "2026-11-22T09:05", "expected_version": "1"},
            )
        ],
        "scheduling:record_add_part": [
            (part, _url("scheduling:record_add_part", session_uuid=session, part=part), {}) for part in RECORD_PARTS
        ],
        "scheduling:record_complete": [
            ("", _url("scheduling:record_complete", session_uuid=session), {"expected_version": "1"})
        ],
        "scheduling:entry_void": [
            (
                "",
                _url("scheduling:entry_void", session_uuid=session, entry_uuid=w.lot.uuid),
                {"reason": "wrong lot scanned"},
            )
        ],
        "scheduling:reminder_action": [
            (action, _url("scheduling:reminder_action", reminder_uuid=w.reminder.uuid, action=action), {})
            for action in REMINDER_ACTIONS
        ],
        "scheduling:reminder_email_action": [
            (action, _url("scheduling:reminder_email_action", reminder_uuid=w.reminder.uuid, action=action), {})
            for action in REMINDER_EMAIL_ACTIONS
        ],
        **{name: [("", _url(name, session_id=session), data)] for name, data in CHAIR_WRITES.items()},
        "api-v1:add_lot": [
            ("", _url("api-v1:add_lot", session_id=session), {"lot": "W2", "expiry": "2027-01-01", "vial_grams": 10})
        ],
        "api-v1:void_entry": [
            ("", _url("api-v1:void_entry", session_id=session, entry_id=w.lot.uuid), {"reason": "wrong lot scanned"})
        ],
        "pathway:course_edit": [
            (
                "",
                _url("pathway:course_edit", course_uuid=course),
                {
                    "authorised_until": "2027-12-01",
                    "next_review_due": "2027-12-01",
                    "max_dose_g_per_kg": "2",
                    "interval_weeks": "4",
                    "objective_measures": ["mmt", "haq"],
                    "reason": "renewed by the board",
                    "version": str(w.review.course.version),
                },
            )
        ],
        "pathway:review": [
            (
                "",
                _url("pathway:review", course_uuid=course),
                {"decision": "continue", "reason": "stable", "version": str(w.review.course.version)},
            )
        ],
        "pathway:review_void": [("", _url("pathway:review_void", review_uuid=w.review.uuid), {"reason": "wrong"})],
        "api-v1:review_create": [
            ("", _url("api-v1:review_create", course_id=course), {"decision": "continue", "reason": "stable"})
        ],
        # DELETE cancels a bulk export or deletes its files: physicians (fhir.export_bulk) only, and
        # only their own (fhir_api/tests/test_bulk_export.py); every other method is refused too.
        "fhir-export-status": [("", _url("fhir-export-status", job_uuid=w.export_job.uuid), {})],
        # FHIR: POST /fhir/Observation (the type's URL also searches) and a transaction at the base.
        "fhir-search": [("Observation", "/fhir/Observation", _fhir_creatinine(w.patient))],
        "fhir-system": [("", "/fhir/", _fhir_transaction(w.patient))],
        "fhir-base": [("", "/fhir", _fhir_transaction(w.patient))],
        # Refused to everyone but a nurse; a nurse's would need the whole record first (test_chair_api).
        "api-v1:complete_infusion": [
            (
                "",
                _url("api-v1:complete_infusion", session_id=session),
                {"at": "2026-11-22T11:00:00-05:00", "volume_ml": "100", "confirm": True},
            )
        ],
    }


# What a nurse may not write (README role matrix): (URL name, case id) pairs of _write_cases.
NURSE_REFUSED = {
    ("dosing:order_verify", "verify"),
    ("dosing:order_verify", "reject"),
    ("dosing:order_create", ""),
    ("dosing:order_cancel", ""),
    ("dosing:site_settings", ""),
    ("dosing:product_stock", ""),
    ("dosing:presentation_add", ""),
    ("dosing:presentation_withdraw", ""),
    ("patients:create", ""),
    ("patients:edit", ""),
    ("patients:archive", ""),
    ("patients:record_add", "medications"),
    ("patients:record_add", "risk-factors"),
    ("patients:record_edit", "labs"),
    ("patients:record_edit", "medications"),
    ("patients:record_edit", "risk-factors"),
    ("patients:record_delete", "labs"),
    ("patients:record_delete", "medications"),
    ("patients:record_delete", "risk-factors"),
    ("visits:create", ""),
    ("visits:edit", ""),
    ("visits:set_baseline", ""),
    ("pathway:course_edit", ""),
    ("pathway:review", ""),
    ("pathway:review_void", ""),
    ("api-v1:review_create", ""),
    ("fhir-export-status", ""),
}


def snapshot() -> dict:
    """Every row of every model (history tables included), to compare before and after."""
    state = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in NOT_COMPARED:
            continue
        skip = NOT_COMPARED_FIELDS.get(label, set())
        fields = [field.attname for field in model._meta.concrete_fields if field.name not in skip]
        state[label] = list(model._base_manager.order_by("pk").values_list(*fields))
    return state


def changed(before: dict, after: dict) -> list[str]:
    return [label for label in before if before[label] != after[label]]


# ----------------------------------------------------------------------- tests


@pytest.mark.django_db
def test_every_write_url_is_covered(world):
    known = set(_write_cases(world)) | set(OPEN_TO_EVERY_ROLE)
    discovered = discovered_write_urls() - READ_ONLY_ANY_METHOD
    assert discovered == known, (
        "Write URLs differ from those this test knows. New: "
        f"{sorted(discovered - known)}; gone: {sorted(known - discovered)}. "
        "Add each new one to _write_cases (or OPEN_TO_EVERY_ROLE with the reason), and to NURSE_REFUSED "
        "if the README's role matrix keeps nurses from it."
    )
    cases = _write_cases(world)
    # Every kind of record, part of the infusion record and reminder action is swept.
    assert {case for case, _, _ in cases["patients:record_add"]} == set(RECORD_KINDS)
    assert {case for case, _, _ in cases["scheduling:record_add_part"]} == set(RECORD_PARTS)
    assert {case for case, _, _ in cases["scheduling:reminder_action"]} == set(REMINDER_ACTIONS)
    assert {(name, case) for name, items in cases.items() for case, _, _ in items} >= NURSE_REFUSED


@pytest.mark.django_db
def test_the_discovery_sees_methods():
    # Guards the walk itself: if decorators change shape, the sweep must not silently find nothing.
    assert {"patients:create", "dosing:order_verify", "scheduling:record_complete"} <= discovered_write_urls()
    assert "patients:list" not in discovered_write_urls()
    assert "api-v1:calculate_dose_plan" in discovered_write_urls()


@pytest.mark.django_db
def test_a_viewer_writes_nothing_through_any_url(client, world):
    client.force_login(world.viewer)
    before = snapshot()
    refused = []
    for name, cases in _write_cases(world).items():
        for case, url, data in cases:
            response = _post(client, url, data)
            if response.status_code != 403:
                refused.append(f"{name} {case} {url}: {response.status_code}")
    assert refused == [], "A viewer was not refused (403) at:\n" + "\n".join(refused)
    assert changed(before, snapshot()) == []


@pytest.mark.django_db
def test_a_viewer_token_calculates_and_writes_nothing(client, world):
    # A viewer's token runs the calculations any role may run (README), nothing is stored, and the
    # chair's writes are refused. No API route takes PUT, PATCH or DELETE.
    before = snapshot()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world.viewer_secret}"}
    dose = {
        "product": "octagam-10",
        "indication": "dermatomyositis",
        "weight_kg": "70",
        "height_cm": "170",
        "sex": "female",
        "dose_g_per_kg": "2",
        "days": 2,
    }
    response = client.post(_url("api-v1:calculate_dose_plan"), dose, content_type="application/json", **auth)
    assert response.status_code == 200
    assert client.post(_url("api-v1:calculate_tis"), {}, content_type="application/json", **auth).status_code == 422
    for name, data in CHAIR_WRITES.items():
        url = _url(name, session_id=world.session.uuid)
        assert client.post(url, json.dumps(data), content_type="application/json", **auth).status_code == 403, name
    for name in ("api-v1:list_patients",):
        for method in (client.put, client.patch, client.delete):
            assert method(_url(name), **auth).status_code == 405
    assert changed(before, snapshot()) == []


@pytest.mark.django_db
def test_a_viewer_cannot_revoke_another_persons_token(client, world):
    client.force_login(world.viewer)
    response = client.post(_url("accounts:token_revoke", token_id=world.others_token.pk))
    assert response.status_code == 404
    world.others_token.refresh_from_db()
    assert world.others_token.revoked_at is None


@pytest.mark.django_db
def test_a_viewer_is_sent_to_the_admin_login(client, world):
    # Admin pages are for staff accounts only; no clinic role is staff.
    client.force_login(world.viewer)
    before = snapshot()
    assert {"admin:index", "admin:auth_user_password_change"} <= admin_url_names()
    samples = [
        "/admin/",
        "/admin/patients/patient/add/",
        "/admin/dosing/doseorder/1/change/",
        "/admin/auth/user/1/password/",
    ]
    for path in samples:
        response = client.post(path, {})
        assert response.status_code == 302 and response.url.startswith("/admin/login/"), path
    assert changed(before, snapshot()) == []


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["verify", "reject"])
def test_a_nurse_cannot_verify_or_reject_an_order(client, world, action):
    client.force_login(world.nurse)
    before = snapshot()
    url = _url("dosing:order_verify", order_uuid=world.pending_order.uuid)
    data = {
        "verify": {"action": "verify", "checked": "on", "version": "1"},
        "reject": {"action": "reject", "reject-reason": "no", "reject-version": "1"},
    }[action]
    assert client.get(url).status_code == 403
    assert client.post(url, data).status_code == 403
    world.pending_order.refresh_from_db()
    assert (world.pending_order.status, world.pending_order.version) == (OrderStatus.AWAITING_VERIFICATION, 1)
    assert changed(before, snapshot()) == []


@pytest.mark.django_db
def test_a_nurse_writes_nothing_the_role_matrix_keeps_from_nurses(client, world):
    client.force_login(world.nurse)
    before = snapshot()
    refused = []
    for name, cases in _write_cases(world).items():
        for case, url, data in cases:
            if (name, case) in NURSE_REFUSED and (status := _post(client, url, data).status_code) != 403:
                refused.append(f"{name} {case} {url}: {status}")
    assert refused == [], "A nurse was not refused (403) at:\n" + "\n".join(refused)
    assert changed(before, snapshot()) == []


@pytest.mark.django_db
def test_the_data_would_be_written_by_someone_allowed(client, world):
    """The sweep's data is not empty noise: the same POSTs from the right roles do write."""
    cases = {(name, case): (url, data) for name, items in _write_cases(world).items() for case, url, data in items}
    client.force_login(world.pharmacist)
    url, data = cases[("dosing:order_verify", "verify")]
    assert client.post(url, data).status_code == 302
    world.pending_order.refresh_from_db()
    assert world.pending_order.status == OrderStatus.VERIFIED
    client.force_login(world.nurse)
    url, data = cases[("patients:record_add", "measurements")]
    assert client.post(url, data).status_code == 302
    assert world.patient.measurements.filter(weight_kg=Decimal("71")).exists()
    for name in ("fhir-search", "fhir-system"):
        ((case, url, data),) = [(c, u, d) for c, u, d in _write_cases(world)[name]]
        assert _post(client, url, data).status_code in (200, 201), name
    assert world.patient.lab_results.filter(test="creatinine", value=Decimal("1.097")).count() == 1
    for name in CHAIR_WRITES:
        url, data = cases[(name, "")]
        response = _post(client, url, data)
        assert response.status_code in (200, 201), (name, response.content)
    record = world.session.record
    assert (record.rate_changes.count(), record.vitals.count(), record.reactions.count()) == (1, 1, 1)
