"""The demo clinic loader: safe to run twice, never with known passwords outside DEBUG,
and its personas cover the cases the app must handle."""

from datetime import date, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from clinic.management.commands.seed_demo import DEMO_USERS, demo_password
from patients.models import BodyMeasurement, LabResult, Medication, Patient, RiskFactor

TODAY = date(2026, 11, 22)
RECORD_MODELS = (Patient, BodyMeasurement, LabResult, Medication, RiskFactor)


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
FROZEN_AT = datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(FROZEN_AT, tick=False):
        yield


def _seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _counts() -> dict:
    counts = {model.__name__: model.objects.count() for model in RECORD_MODELS}
    counts |= {f"{model.__name__} history": model.history.count() for model in RECORD_MODELS}
    return counts | {"users": get_user_model().objects.count()}


@pytest.fixture
def seeded(db, settings):
    settings.DEBUG = True
    return _seed()


@pytest.mark.django_db
def test_running_twice_adds_nothing(seeded):
    before = _counts()
    assert "0 patient(s) added, 8 already there" in _seed()
    assert _counts() == before


@pytest.mark.django_db
def test_refused_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        _seed()
    assert not get_user_model().objects.exists()
    assert not Patient.objects.exists()


@pytest.mark.django_db
def test_forced_with_debug_off_prints_no_password_and_sets_none_known(settings):
    settings.DEBUG = False
    out = _seed("--force")
    assert Patient.objects.count() == 8
    assert "ivig-demo-" not in out
    for username, _, _, _ in DEMO_USERS:
        user = get_user_model().objects.get(username=username)
        assert user.has_usable_password()
        assert not user.check_password(demo_password(username))


@pytest.mark.django_db
def test_forcing_later_replaces_the_known_demo_passwords(seeded, settings):
    settings.DEBUG = False
    _seed("--force")
    assert not get_user_model().objects.get(username="physician").check_password(demo_password("physician"))


def _patients():
    return list(Patient.objects.with_current_measurements().prefetch_related("lab_results", "risk_factors"))


def _latest(patient, test):
    results = [r for r in patient.lab_results.all() if r.test == test]
    return max(results, key=lambda r: r.collected_on).value if results else None


# --- The demo clinic as it is after one run, seeded once for the tests that only read it


@pytest.fixture(scope="class")
def demo_clinic(django_db_setup, django_db_blocker):
    """seed_demo's output, with the clinic it made in the database until the class's last test.

    Seeding takes about a second; the tests below only read what it made, so they share one run.
    The rows live in a transaction that is rolled back afterwards; each test runs in a savepoint
    inside it, so the tests after the class start from an empty database as before."""
    with (
        django_db_blocker.unblock(),
        override_settings(DEBUG=True, PASSWORD_HASHERS=FAST_HASHERS),
        time_machine.travel(FROZEN_AT, tick=False),
        transaction.atomic(),
    ):
        yield _seed()
        transaction.set_rollback(True)


@pytest.mark.django_db
class TestTheSeededDemoClinic:
    @pytest.fixture
    def seeded(self, demo_clinic):
        return demo_clinic

    def test_creates_a_user_per_role_and_the_demo_patients(self, seeded):
        users = get_user_model().objects.prefetch_related("groups")
        assert {user.username: [group.name for group in user.groups.all()] for user in users} == {
            "physician": ["physician"],
            "pharmacist": ["pharmacist"],
            "nurse": ["nurse"],
            "viewer": ["viewer"],
        }
        assert Patient.objects.count() == 8
        assert "8 patient(s) added, 0 already there" in seeded
        for username, _, _, _ in DEMO_USERS:
            assert f"{username} / {demo_password(username)}" in seeded
            assert get_user_model().objects.get(username=username).check_password(demo_password(username))

    def test_an_obese_patient_by_latest_weight_and_height(self, seeded):
        assert any(
            p.current_weight_kg / (p.current_height_cm / 100) ** 2 >= 30
            for p in _patients()
            if p.current_weight_kg is not None and p.current_height_cm is not None
        )

    def test_an_older_patient_with_low_egfr(self, seeded):
        assert any(
            p.age_on(TODAY) >= 65 and (egfr := _latest(p, "egfr")) is not None and egfr < 60 for p in _patients()
        )

    def test_a_child_with_juvenile_dermatomyositis(self, seeded):
        assert any(p.diagnosis == "juvenile_dm" and p.age_on(TODAY) < 18 for p in _patients())

    def test_prior_venous_thrombosis_on_an_estrogen(self, seeded):
        on_estrogen = set(
            Medication.objects.current_on(TODAY).filter(category="estrogen").values_list("patient_id", flat=True)
        )
        with_dvt = set(
            RiskFactor.objects.active().filter(kind="venous_thrombosis").values_list("patient_id", flat=True)
        )
        assert on_estrogen & with_dvt

    @pytest.mark.parametrize(
        "facts",
        [
            {"iga_status": "deficient_anti_iga", "hypersensitivity_to_immunoglobulin": True},
            {"corn_allergy": True},
        ],
    )
    def test_immunoglobulin_safety_personas(self, seeded, facts):
        assert Patient.objects.filter(**facts).exists()

    def test_a_spread_of_antibodies(self, seeded):
        antibodies = {code for p in Patient.objects.all() for code in p.antibodies}
        assert len(antibodies) >= 6

    def test_every_demo_patient_has_a_current_weight_and_height(self, seeded):
        assert all(p.current_weight_kg is not None and p.current_height_cm is not None for p in _patients())
