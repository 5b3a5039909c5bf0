"""Courses, cycles, sessions, infusion records and reminders, written with the ORM (not the
planning service) so a test can put a session exactly where it needs one.

    InfusionSessionFactory()                           # day 1 of cycle 1 of a verified order, 09:00 NY
    make_session(order, by=nurse)                      # the same for a given order
    book_course(order, nurse, date(2026, 11, 26), cycles=3)
    ReminderFactory(kind="venous_check", role="nurse")
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory

from accounts.transactions import service
from dosing.tests.factories import DoseOrderFactory
from patients.tests.factories import LabResultFactory, PatientFactory, UserFactory
from scheduling.models import Course, Cycle, InfusionRecord, InfusionSession, Reminder, SessionStatus
from scheduling.services.sweep import reminders_reconcile, reminders_sweep

NY = ZoneInfo("America/New_York")
# The day the root conftest's frozen_today fixture freezes (a Sunday).
DAY = date(2026, 11, 22)


# A start in a test that is not about the pre-infusion check accepts its stale or missing items
# (the fixtures' patients have no labs, blood group or IgA status on record).
CHECK_ACCEPTED = {"check_accepted": True, "check_reason": "Not what this test is about."}
CHECK_ACCEPTED_POST = {"check_accepted": "on", "check_reason": "Not what this test is about."}


@service
def fresh_chart(patient, day: date = DAY, *, skip: tuple[str, ...] = ()) -> None:
    """Creatinine, eGFR and haemoglobin drawn two days before `day`, blood group O and IgA normal:
    with a weight as recent, every item of the pre-infusion check is ok. Tests not in `skip`.
    One service transaction, as a service would write them (the flags worked out once, at its end)."""
    for test, value, unit in (
        ("creatinine", "0.9", "mg/dL"),
        ("egfr", "85", "mL/min/1.73 m²"),
        ("haemoglobin", "13.1", "g/dL"),
    ):
        if test not in skip:
            LabResultFactory(
                patient=patient,
                test=test,
                collected_on=day - timedelta(days=2),
                value=Decimal(value),
                unit=unit,
                upper_limit_normal=None,
            )
    patient.blood_group, patient.iga_status = "O", "normal"
    patient.save(update_fields=["blood_group", "iga_status"])


def local(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    """`hour`:`minute` on `day` in the clinic's time zone (New York in the tests)."""
    return datetime.combine(day, time(hour, minute), tzinfo=NY)


def vitals(phase: str, at: datetime, **overrides) -> dict:
    """Normal adult vital signs, as vitals_record takes them."""
    return {
        "phase": phase,
        "at": at,
        "systolic_mmhg": 124,
        "diastolic_mmhg": 78,
        "heart_rate_bpm": 72,
        "temperature_c": Decimal("36.8"),
        "spo2_percent": 98,
        "respiratory_rate": 14,
    } | overrides


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course

    order = factory.SubFactory(DoseOrderFactory, verified=True)
    patient = factory.SelfAttribute("order.patient")
    interval_weeks = 4
    days_per_cycle = factory.SelfAttribute("order.days")
    first_day = DAY
    created_by = factory.SubFactory(UserFactory, role="nurse")


class CycleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cycle

    course = factory.SubFactory(CourseFactory)
    number = 1
    start_date = factory.SelfAttribute("course.first_day")


class InfusionSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InfusionSession

    cycle = factory.SubFactory(CycleFactory)
    patient = factory.SelfAttribute("cycle.course.patient")
    day_number = 1
    chair = 2
    planned_start = factory.LazyAttribute(lambda session: local(9, day=session.cycle.start_date))
    # The plan's infusion time plus the unit's default 30 minutes of set-up.
    expected_minutes = factory.LazyAttribute(lambda session: session.cycle.course.order.plan["infusion_minutes"] + 30)
    status = SessionStatus.CONFIRMED


class InfusionRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InfusionRecord

    session = factory.SubFactory(InfusionSessionFactory, status=SessionStatus.COMPLETED)
    started_at = factory.SelfAttribute("session.planned_start")


class ReminderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reminder

    kind = "thrombosis_check"
    subject_key = factory.Sequence(lambda n: f"thrombosis_check:cycle-{n}:2026-11-22")
    patient = factory.SubFactory(PatientFactory)
    due_at = local(11)
    message = "Arterial and early venous thrombosis symptoms within 72 h of the cycle's last infusion."
    role = "nurse"


@service
def make_session(order, *, by, planned_start=None, status=SessionStatus.CONFIRMED) -> InfusionSession:
    """A session of `order` on day 1 of cycle 1 (09:00 on the frozen day unless `planned_start`), in one
    service transaction (the patient's flags and reminders worked out once, at its end)."""
    planned_start = planned_start or local(9)
    course = CourseFactory(order=order, created_by=by, first_day=planned_start.date())
    return InfusionSessionFactory(cycle__course=course, planned_start=planned_start, status=status)


@service
def book_course(order, by, first_day: date, *, cycles=1, days=2, interval_weeks=4, hour=9, minutes=300):
    """A course of `cycles` cycles of `days` sessions at `hour` local in chair 1, every `interval_weeks`
    (one service transaction, as booking is: the patient's flags and reminders worked out once)."""
    course = CourseFactory(
        order=order,
        created_by=by,
        interval_weeks=interval_weeks,
        days_per_cycle=days,
        planned_cycles=cycles,
        first_day=first_day,
    )
    for number in range(cycles):
        cycle = CycleFactory(
            course=course, number=number + 1, start_date=first_day + timedelta(weeks=interval_weeks * number)
        )
        for day in range(days):
            InfusionSessionFactory(
                cycle=cycle,
                day_number=day + 1,
                chair=1,
                planned_start=local(hour, day=cycle.start_date + timedelta(days=day)),
                expected_minutes=minutes,
                status=SessionStatus.PLANNED,
            )
    return course


def remind(*, now):
    """Every patient's reminders as the triggers and the nightly run leave them at `now`
    (scheduling.services.sweep.reminders_reconcile), then the periodic sweep: the counts of both,
    "due_ids" among them. For tests that travel in time without committing."""
    return reminders_reconcile(now=now) | reminders_sweep(now=now)
