"""The benchmark's synthetic clinic: rows the services would have left, deterministic and additive."""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from clinic.synthetic import EXPECTED_COUNTS, bench_mrn, seed_synthetic_clinic
from dosing.models import DoseOrder, OrderStatus, TreatmentCourse
from pathway.models import Review
from patients.models import BodyMeasurement, LabResult, Patient
from risk.models import RiskFlag
from risk.services import flags_recompute
from scheduling.models import OPEN_SESSION_STATUSES, Course, InfusionSession, SessionStatus, UnitSettings
from scheduling.services.records import first_infusion_keep
from visits.models import Visit

pytestmark = pytest.mark.django_db

PATIENTS = 6


@pytest.fixture
def clinic(frozen_today):
    return seed_synthetic_clinic(patients=PATIENTS, today=frozen_today)


def _fingerprint() -> dict:
    """The clinic without database keys, to compare two seedings."""
    tz = timezone.get_default_timezone()
    shape = defaultdict(list)
    for patient in Patient.objects.order_by("mrn"):
        shape[patient.mrn] = [
            (patient.given_name, patient.family_name, patient.date_of_birth, patient.diagnosis),
            sorted(
                (s.planned_start.astimezone(tz).isoformat(), s.chair, s.status, s.expected_minutes)
                for s in patient.infusion_sessions.all()
            ),
            sorted((r.test, r.collected_on, r.value) for r in patient.lab_results.all()),
            sorted((v.visit_date, v.physician_global_cm, v.mmt_score) for v in patient.visits.all()),
            sorted((o.status, o.days, o.plan["daily_dose_g"]) for o in patient.dose_orders.all()),
            sorted(f.code for f in patient.risk_flags.all()),
        ]
    return dict(shape)


def test_counts_are_the_rows_written_and_mrns_run_from_one(clinic):
    assert clinic == {model.__name__: model.objects.count() for model in EXPECTED_COUNTS}
    assert clinic["Patient"] == PATIENTS
    assert sorted(Patient.objects.values_list("mrn", flat=True)) == [bench_mrn(i) for i in range(PATIENTS)]
    assert bench_mrn(0) == "BENCH-000001"
    for model in ("BodyMeasurement", "LabResult", "Visit", "Cycle", "InfusionSession", "InfusionRecord", "Reminder"):
        assert clinic[model] > PATIENTS, model


def test_every_cycle_is_2_to_5_consecutive_days_in_one_chair_without_overlaps(clinic, frozen_today):
    tz = timezone.get_default_timezone()
    by_cycle = defaultdict(list)
    for session in InfusionSession.objects.select_related("cycle__course"):
        by_cycle[session.cycle].append(session)
    assert by_cycle
    for cycle, sessions in by_cycle.items():
        sessions.sort(key=lambda s: s.day_number)
        days = [s.planned_start.astimezone(tz).date() for s in sessions]
        assert 2 <= len(sessions) <= 5
        assert len(sessions) == cycle.course.days_per_cycle
        assert [s.day_number for s in sessions] == list(range(1, len(sessions) + 1))
        assert days == [days[0] + timedelta(days=n) for n in range(len(days))]
        assert days[0] == cycle.start_date
        assert all(day.weekday() < 5 for day in days), "infusions on working days"
        assert len({s.chair for s in sessions}) == 1
    booked = sorted(InfusionSession.objects.all(), key=lambda s: (s.chair, s.planned_start))
    for earlier, later in zip(booked, booked[1:], strict=False):
        if earlier.chair == later.chair:
            assert earlier.planned_end <= later.planned_start, (earlier, later)
    assert UnitSettings.load().chairs >= max(s.chair for s in booked)


def test_past_sessions_were_given_and_future_ones_are_booked(clinic, frozen_today):
    now = timezone.now()
    sessions = list(InfusionSession.objects.select_related("record"))
    for session in sessions:
        if session.planned_end <= now:
            assert session.status in (SessionStatus.COMPLETED, SessionStatus.MISSED, SessionStatus.CANCELLED)
        elif session.planned_start > now:
            assert session.status in (SessionStatus.PLANNED, SessionStatus.CONFIRMED)
        if session.status == SessionStatus.COMPLETED:
            assert session.record.stopped_at > session.record.started_at >= session.planned_start
    assert any(s.status in OPEN_SESSION_STATUSES and s.planned_start > now for s in sessions), "upcoming cycles"


def test_each_course_comes_from_a_verified_order_whose_plan_sets_the_session_length(clinic):
    setup = UnitSettings.load().setup_minutes
    for course in Course.objects.select_related("order"):
        order = course.order
        assert order.status == OrderStatus.VERIFIED
        assert order.verified_by_id != order.prescribed_by_id
        assert order.verified_at > order.prescribed_at
        assert order.days == course.days_per_cycle
        assert Decimal(order.inputs["weight_kg"]) > 0 and order.plan["days"] == order.days
        minutes = {s.expected_minutes for s in InfusionSession.objects.filter(cycle__course=course)}
        assert minutes == {order.plan["infusion_minutes"] + setup}
    for order in DoseOrder.objects.all():
        assert order.prescribed_at.date() <= timezone.localdate()


def test_records_pass_the_models_validation(clinic):
    for visit in Visit.objects.all():
        visit.full_clean()
    assert Visit.objects.filter(is_baseline=True).count() <= PATIENTS
    for record in [*BodyMeasurement.objects.all()[:40], *LabResult.objects.all()[:80]]:
        record.full_clean()


def test_every_order_belongs_to_its_patients_treatment_course_reviewed_on_time(clinic, frozen_today):
    orders = DoseOrder.objects.select_related("treatment_course")
    assert orders.exists()
    for order in orders:
        course = order.treatment_course
        assert course is not None and course.patient_id == order.patient_id, order.pk
        course.full_clean()
        # Reviews held a week before each due date: the authorisation still covers today.
        assert course.authorised_until >= frozen_today and course.next_review_due == course.authorised_until
        for review in course.reviews.all():
            review.full_clean()
            assert review.decision == "continue" and review.reviewed_on < course.authorised_until
    started = TreatmentCourse.objects.filter(started_on__lte=frozen_today - timedelta(days=200))
    assert not started.exists() or Review.objects.filter(course__in=started).exists()


def test_the_verdict_is_the_one_flags_recompute_keeps(clinic):
    before = {p.pk: p.risk_verdict for p in Patient.objects.all()}
    for patient in Patient.objects.all():
        flags_recompute(patient=patient)
    assert {p.pk: p.risk_verdict for p in Patient.objects.all()} == before


def test_first_infusion_kept_as_the_services_keep_it(clinic):
    for patient in Patient.objects.all():
        expected, given = patient.first_infusion_on, patient.infusions_given
        assert first_infusion_keep(patient=patient) == expected, patient.mrn
        assert patient.infusions_given == given, patient.mrn
    assert Patient.objects.filter(first_infusion_on__isnull=False).exists()
    assert Patient.objects.exclude(infusions_given=[]).exists()


def test_flags_are_what_the_rules_give_for_the_chart(clinic, frozen_today):
    assert RiskFlag.objects.exists()
    before = {(f.patient_id, f.code): (f.evidence, f.severity, f.evidence_on) for f in RiskFlag.objects.all()}
    for patient in Patient.objects.all():
        result = flags_recompute(patient=patient)
        assert result["opened"] == [] and result["resolved"] == [], (patient.mrn, result)
    after = {(f.patient_id, f.code): (f.evidence, f.severity, f.evidence_on) for f in RiskFlag.objects.all()}
    assert after == before


def test_seeding_is_deterministic_and_additive(frozen_today):
    with transaction.atomic():
        seed_synthetic_clinic(patients=PATIENTS, today=frozen_today)
        at_once = _fingerprint()
        transaction.set_rollback(True)
    assert not Patient.objects.exists()
    seed_synthetic_clinic(patients=3, today=frozen_today)
    seed_synthetic_clinic(patients=PATIENTS - 3, start_index=3, today=frozen_today)
    assert _fingerprint() == at_once


def test_a_different_seed_gives_a_different_clinic(frozen_today):
    with transaction.atomic():
        seed_synthetic_clinic(patients=2, today=frozen_today, seed=1)
        other = _fingerprint()
        transaction.set_rollback(True)
    seed_synthetic_clinic(patients=2, today=frozen_today)
    assert _fingerprint() != other


def test_a_negative_number_of_patients_is_refused(frozen_today):
    with pytest.raises(ValueError, match="patients"):
        seed_synthetic_clinic(patients=-1, today=frozen_today)


def test_the_bulk_foreign_key_check_finds_a_row_pointing_at_nothing(frozen_today):
    from django.db import IntegrityError

    from clinic.synthetic import _check_foreign_keys

    seed_synthetic_clinic(patients=2, today=frozen_today)
    first = LabResult.objects.order_by("pk").first()
    _check_foreign_keys({LabResult: first.pk, BodyMeasurement: 0})
    with transaction.atomic():
        LabResult.objects.filter(pk=first.pk).update(patient_id=10**9)
        with pytest.raises(IntegrityError, match="LabResult rows point at no patient"):
            _check_foreign_keys({LabResult: first.pk})
        transaction.set_rollback(True)
    # Only rows from the first key given on are checked: those the seeding wrote.
    with transaction.atomic():
        LabResult.objects.filter(pk=first.pk).update(patient_id=10**9)
        _check_foreign_keys({LabResult: first.pk + 1})
        transaction.set_rollback(True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_on_postgresql_seed_the_clinic_one_would(frozen_today, monkeypatch):
    from django.db import connection

    from clinic import synthetic

    if connection.vendor != "postgresql":
        pytest.skip("seeding in several processes is PostgreSQL's (SQLite takes one writer)")
    monkeypatch.setattr(synthetic, "BLOCKS_PER_CHUNK", 1)  # 60 patients: two chunks, one per worker
    with transaction.atomic():  # inside a transaction: one process
        seed_synthetic_clinic(patients=60, today=frozen_today, workers=2)
        one = _fingerprint()
        transaction.set_rollback(True)
    counts = seed_synthetic_clinic(patients=60, today=frozen_today, workers=2)
    assert _fingerprint() == one
    assert counts == {model.__name__: model.objects.count() for model in EXPECTED_COUNTS}


@pytest.mark.parametrize(
    ("workers", "chunks", "vendor", "pooled", "in_transaction", "processes"),
    [
        (2, 53, "postgresql", False, False, 2),
        # psycopg's pool (production settings): forked workers would inherit its connections and
        # threads and fail with "can't change autocommit now" (commit c7049c4): one process.
        (2, 53, "postgresql", True, False, 1),
        (2, 53, "postgresql", False, True, 1),  # a transaction's rows are this connection's
        (2, 1, "postgresql", False, False, 1),  # one chunk: nothing to share
        (1, 53, "postgresql", False, False, 1),
        (2, 53, "sqlite", False, False, 1),  # SQLite takes one writer
    ],
)
def test_seeding_forks_workers_only_where_they_can_use_their_own_connection(
    workers, chunks, vendor, pooled, in_transaction, processes
):
    from clinic.synthetic import seeding_processes

    assert (
        seeding_processes(workers=workers, chunks=chunks, vendor=vendor, pooled=pooled, in_transaction=in_transaction)
        == processes
    )


def test_seeding_asks_whether_the_connection_is_pooled(frozen_today, monkeypatch):
    from django.db import connection

    from clinic import synthetic

    asked, looked_at = [], []
    real = synthetic.seeding_processes

    def spy(**kwargs):
        asked.append(kwargs)
        return real(**kwargs)

    def pooled(settings_dict):
        # The pool itself cannot be switched on under a test's open connection: say it is on.
        looked_at.append(settings_dict)
        return True

    monkeypatch.setattr(synthetic, "seeding_processes", spy)
    monkeypatch.setattr(synthetic, "connection_pooled", pooled)
    seed_synthetic_clinic(patients=1, today=frozen_today, workers=2)
    assert looked_at == [connection.settings_dict]
    assert asked and asked[0]["pooled"] is True and asked[0]["workers"] == 2


def test_connection_pooled_reads_the_pool_option():
    from clinic.synthetic import connection_pooled

    assert connection_pooled({"OPTIONS": {"pool": {"max_size": 2}}}) is True
    assert connection_pooled({"OPTIONS": {}}) is False
    assert connection_pooled({}) is False
