from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from _pytest.doctest import DoctestModule
from django.contrib.auth.models import Group

from accounts.roles import ROLES
from accounts.transactions import service_transaction
from dosing.tests.factories import DoseOrderFactory
from patients.tests.factories import MeasurementFactory, PatientFactory, UserFactory

TODAY = date(2026, 11, 22)


def pytest_addoption(parser):
    parser.addini(
        "pure_doctest_modules",
        type="paths",
        help="Pure modules (no ORM, no settings) whose docstring examples run as tests.",
        default=[],
    )


def pytest_collect_file(file_path, parent):
    # Only the listed modules, not --doctest-modules over every app: that would import each
    # migration, the settings and every module for nothing. With --doctest-modules on the command
    # line pytest's own plugin collects them already.
    config = parent.config
    if file_path in config.getini("pure_doctest_modules") and not config.option.doctestmodules:
        return DoctestModule.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config, items):
    # A test that commits for real ends in a flush. Without serialized_rollback that flush recreates
    # content types under new ids and leaves no role groups, and the next such test in the same
    # worker fails at setup (only in some orders, so only sometimes): refuse it at collection.
    for item in items:
        for marker in item.iter_markers("django_db"):
            if marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
                raise pytest.UsageError(
                    f"{item.nodeid}: django_db(transaction=True) needs serialized_rollback=True here "
                    "(the migrated rows, role groups among them, must come back after its flush)"
                )


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, django_db_blocker, request):
    """Each test database a copy of one migrated template (ivig_clinic/migrated_template.py says why)."""
    from django.db import connections

    from ivig_clinic import migrated_template

    if not migrated_template.enabled() or request.config.getvalue("nomigrations"):
        return
    with django_db_blocker.unblock():
        for connection in connections.all():
            migrated_template.use_for_tests(connection)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Real hashing is deliberately slow; tests need only that passwords work.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db):
    def make(role: str | None = None, **kwargs):
        user = UserFactory(**kwargs)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def role_client(client, make_user):
    """A test client logged in as a fresh user of the given role."""

    def login(role: str | None):
        client.force_login(make_user(role))
        return client

    return login


@pytest.fixture
def physician(make_user):
    return make_user("physician")


@pytest.fixture
def patient(db):
    return PatientFactory()


@pytest.fixture(params=ROLES)
def any_role(request):
    return request.param


@pytest.fixture
def frozen_today():
    with time_machine.travel(datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York")), tick=False):
        yield TODAY


@pytest.fixture
def dm_indication(db):
    from dosing.models import Indication

    return Indication.objects.select_related("product").get(product__slug="octagam-10", slug="dermatomyositis")


@pytest.fixture
def dm_patient(db):
    """The worked check's patient: 52-year-old woman with DM, 70 kg, 170 cm, no risk factor (saved in one
    service transaction, as registering her would be: her flags worked out once, at its end)."""
    with service_transaction():
        patient = PatientFactory(date_of_birth=date(1974, 2, 3), sex_at_birth="female", diagnosis="adult_dm")
        MeasurementFactory(
            patient=patient, measured_on=date(2026, 11, 20), weight_kg=Decimal("70.0"), height_cm=Decimal("170.0")
        )
    return patient


@pytest.fixture
def make_order(dm_indication, dm_patient):
    """dose_order_create for the worked check's patient (or `patient`) by a new physician (or `by`)."""

    def make(patient=None, by=None, **overrides):
        prescriber = {"prescribed_by": by} if by else {}
        return DoseOrderFactory(patient=patient or dm_patient, indication=dm_indication, **prescriber, **overrides)

    return make


@pytest.fixture
def flag_recomputes(monkeypatch):
    """The patient ids risk.services.flags_recompute is called for, in order (it still runs)."""
    from risk import services, signals

    calls = []
    real = services.flags_recompute

    def counting(*, patient, **kwargs):
        calls.append(patient.pk)
        return real(patient=patient, **kwargs)

    monkeypatch.setattr(services, "flags_recompute", counting)
    monkeypatch.setattr(signals, "flags_recompute", counting)
    return calls
