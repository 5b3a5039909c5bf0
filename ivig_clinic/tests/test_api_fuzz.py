"""Schemathesis over the published OpenAPI document: every operation, fuzzed, answers
without a server error, and what it answers matches what the document declares.

Requests go through Django's real WSGI handler in-process (middleware, login check, Ninja),
authenticated with a real API token of a nurse: every role reads what the other operations serve,
and only a nurse gets past the chair API's role check into its services. A generated session id
that is a well-formed UUID is pointed at a real session of the frozen day (a planned one for
``/start``, one started at 09:00 for the others), so the fuzzed bodies reach the record services
instead of stopping at 404; malformed ids are sent as generated. They run inside the test's transaction,
so the handler's per-request connection recycling is off meanwhile, as in Django's own test
client: closing the connection mid-transaction would break the test's rollback.

The document is built at import from the app (``api.get_openapi_schema``) because serving it
needs a login and collection has no database; a test below checks that
``/api/v1/openapi.json`` serves that same document. (Schemathesis' ``from_fixture`` loader,
which could fetch it per test, fails on pytest 9: it writes ``Function._nodeid``.)
"""

import uuid

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_create
from dosing.tests.factories import verified
from ivig_clinic.tests.fuzz_examples import examples
from ivig_clinic.urls import api
from patients.tests.factories import MeasurementFactory, PatientFactory
from scheduling.services.records import record_start
from scheduling.tests.factories import fresh_chart, local, make_session

OPENAPI_PATH = "/api/v1/openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/v1/"))
# A fixed seed: without one schemathesis draws a fresh seed per run for its coverage phase, and
# CI would not see the same requests twice.
schema.config.seed = 20261122


@pytest.fixture
def wsgi_app():
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(make_user):
    # Something for the read operations to find, with and without a current weight.
    MeasurementFactory(patient=PatientFactory())
    PatientFactory()
    _, secret = api_token_create(by=make_user("nurse"), name="schemathesis")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def chair_sessions(make_user, make_order, frozen_today):
    """The session ids the chair operations act on: planned (for /start) and started, both at
    09:00, so the document's example time (09:05 on the frozen day) is one they accept."""
    nurse = make_user("nurse")
    planned = make_session(verified(make_order()), by=nurse)
    started = make_session(verified(make_order()), by=nurse)
    fresh_chart(started.patient)
    record_start(by=nurse, session=started, started_at=local(9), expected_version=None)
    return {"start": str(planned.uuid), "others": str(started.uuid)}


def _point_at_real_session(case, chair_sessions) -> None:
    generated = (case.path_parameters or {}).get("session_id")
    try:
        uuid.UUID(str(generated))
    except ValueError:
        return
    case.path_parameters["session_id"] = chair_sessions["start" if case.path.endswith("/start") else "others"]


def test_the_fuzzed_document_is_the_one_served(client, bearer):
    response = client.get(OPENAPI_PATH, headers=bearer)
    assert response.status_code == 200
    assert response.json() == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=examples(60),  # fewer in CI's second pass (fuzz_examples.py)
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_operation_answers_without_server_error_and_as_documented(case, wsgi_app, bearer, chair_sessions):
    _point_at_real_session(case, chair_sessions)
    case.call_and_validate(app=wsgi_app, headers=bearer, checks=CHECKS)
