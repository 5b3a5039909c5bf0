"""A course played forward day by day through the services: the order in use follows the chart
(issue: orders that follow the chart). Each test travels through at least two cycles.

The patient is the worked check's (70 kg, 170 cm, DM, Octagam 10 %, 2 g/kg over 2 days):
verified 42 -> 84 -> 168 mL/h (288 min); at risk 42 -> 84 -> 138.6 mL/h (336 min)."""

from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from dosing.models import DoseOrder, OrderStatus
from dosing.services.orders import dose_order_cancel, dose_order_verify
from dosing.tests.factories import site_first_step_factor
from patients import services as patient_services
from risk.models import RiskFlag
from scheduling.models import CourseStatus, InfusionSession, Reminder, ReminderStatus, SessionStatus, UnitSettings
from scheduling.services.courses import course_extend, course_plan
from scheduling.services.records import (
    lot_record,
    rate_change_record,
    record_complete,
    record_start,
    record_update,
    vitals_record,
)
from scheduling.tests.factories import CHECK_ACCEPTED, remind


@pytest.fixture(autouse=True)
def usual_first_step(db):
    # The fixture patients are IVIG-naive, so each session here is a first infusion. These tests are
    # about the label's ladder: a site with no slower first step (factor 1). The slower first step
    # is tested in scheduling/tests/test_first_infusion_ladder.py.
    site_first_step_factor(1)


NY = ZoneInfo("America/New_York")
ORDERED = date(2026, 12, 7)  # Monday: ordered, verified and booked
FIRST_DAY = date(2026, 12, 14)  # cycle 1: Mon 14 and Tue 15 Dec; cycle 2: 11-12 Jan; cycle 3: 8-9 Feb


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NY)


@contextmanager
def on(day: date, hour: int = 7):
    with time_machine.travel(local(day, hour), tick=False):
        yield


@pytest.fixture
def course(make_order, dm_patient, staff):
    """Verified on 7 Dec, booked 4-weekly from 14 Dec at 09:00 in chair 1 (open-ended unless a
    test books its own)."""
    with on(ORDERED, 10):
        order = make_order(by=staff.physician)
        dose_order_verify(by=staff.pharmacist, order=order)
        return course_plan(
            by=staff.nurse,
            order=order,
            first_day=FIRST_DAY,
            start_time=time(9, 0),
            chair=1,
            cycles=None,
            today=ORDERED,
            accept_warnings=True,
        )


def sessions(course) -> list[InfusionSession]:
    return list(InfusionSession.objects.filter(cycle__course=course).order_by("planned_start"))


def session_on(course, day: date) -> InfusionSession:
    return next(s for s in sessions(course) if s.planned_start.astimezone(NY).date() == day)


def overdue_reported(*, by: datetime):
    """Live overdue-cycle reminders due by `by` (one may exist ahead of its day, not yet due)."""
    return Reminder.objects.filter(
        kind="cycle_overdue", status__in=[ReminderStatus.PENDING, ReminderStatus.SENT], due_at__lte=by
    )


def order_of(course) -> DoseOrder:
    return DoseOrder.objects.get(pk=course.order_id)


def lab(patient, by, day: date, test: str, value: str):
    with on(day, 18):
        patient_services.lab_result_record(by=by, patient=patient, test=test, collected_on=day, value=Decimal(value))


def give(session, nurse, *, top_rate: str | None = None) -> None:
    """The whole record of one infusion day at its planned time, through the chair's services:
    start, vitals, the lots of the plan, the ladder up to ``top_rate`` (else the plan's top), stop,
    volume, completion."""
    day = session.planned_start.astimezone(NY).date()
    start = session.planned_start
    evening = local(day, 20)
    session.refresh_from_db()
    record_start(
        **CHECK_ACCEPTED, by=nurse, session=session, started_at=start, expected_version=session.version, now=start
    )
    vitals = {"systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "temperature_c": Decimal("36.8")}
    vitals_record(by=nurse, session=session, phase="before", at=start, now=evening, **vitals)
    plan = session.cycle.course.order.administration_plan
    for vial in plan["vials_per_day"]:
        lot_record(
            by=nurse,
            session=session,
            lot_number=f"L{vial['size_g']}",
            vial_size_g=Decimal(vial["size_g"]),
            vials=vial["count"],
            expiry_date=date(2028, 1, 1),
            now=evening,
        )
    for number, step in enumerate(plan["rate_steps"], start=1):
        rate = top_rate if (top_rate and number == len(plan["rate_steps"])) else step["rate_ml_per_h"]
        at = start + timedelta(minutes=step["start_min"])
        rate_change_record(
            by=nurse, session=session, at=at, rate_ml_per_h=Decimal(rate), step_number=number, now=evening
        )
    stop = start + timedelta(minutes=plan["infusion_minutes"])
    vitals_record(by=nurse, session=session, phase="after", at=stop, now=evening, **vitals)
    record = session.record
    record.refresh_from_db()
    record = record_update(
        by=nurse,
        session=session,
        stopped_at=stop,
        volume_given_ml=Decimal(plan["daily_volume_ml"]),
        grams_wasted=Decimal("0"),
        notes="",
        expected_version=record.version,
        now=evening,
    )
    record_complete(by=nurse, session=session, expected_version=record.version, confirm=True, now=evening)


# --------------------------------------------------------------------------- 1. a flag lowers the cap in use


@pytest.mark.django_db
def test_a_renal_flag_raised_between_two_days_of_a_cycle_caps_the_order_in_use_at_once(
    course, dm_patient, staff, client
):
    """Day 1 runs at 168 mL/h. That evening creatinine 1.5 and eGFR 52 open renal flags: on day 2
    and in the next cycle the chair refuses 168 and accepts 138.6, the sheet and the session
    page say 138.6 with the renal warning, the pharmacist is asked to verify again, and the
    booked sessions lengthen to the capped infusion time. Nothing waits for a person."""
    day1, day2 = session_on(course, FIRST_DAY), session_on(course, FIRST_DAY + timedelta(days=1))
    with on(FIRST_DAY, 8):
        give(day1, staff.nurse, top_rate="168.0")
    lab(dm_patient, staff.nurse, FIRST_DAY, "creatinine", "1.5")
    lab(dm_patient, staff.nurse, FIRST_DAY, "egfr", "52")

    order = order_of(course)
    assert order.status == OrderStatus.REVIEW
    assert "Now at risk" in order.status_reason
    plan = order.administration_plan
    assert plan["max_rate_ml_per_h"] == "138.6"
    assert [step["rate_ml_per_h"] for step in plan["rate_steps"]] == ["42.0", "84.0", "138.6"]
    assert plan["infusion_minutes"] == 336
    assert "renal" in plan["chart_limit"]["reason"].lower()
    setup = UnitSettings.load().setup_minutes
    day2.refresh_from_db()
    assert day2.expected_minutes == 336 + setup

    with on(FIRST_DAY + timedelta(days=1), 20):
        start = day2.planned_start
        record_start(
            **CHECK_ACCEPTED, by=staff.nurse, session=day2, started_at=start, expected_version=day2.version, now=start
        )
        with pytest.raises(ValidationError) as refused:
            rate_change_record(
                by=staff.nurse, session=day2, at=start + timedelta(hours=1), rate_ml_per_h="168.0", step_number=3
            )
        assert "above this step's limit of 138.6 mL/h (3.3 mg/kg/min for 70 kg)" in str(refused.value)
        rate_change_record(
            by=staff.nurse, session=day2, at=start + timedelta(hours=1), rate_ml_per_h="138.6", step_number=3
        )

        client.force_login(staff.nurse)
        page = client.get(day2.get_absolute_url()).content.decode()
        assert "never above <strong>138.6" in page and "168.0 <span" not in page.split('id="ladder"')[1]
        assert "Rate lowered by today&#x27;s chart" in page or "Rate lowered by today's chart" in page
        sheet = client.get(reverse("dosing:order_sheet", args=[order.uuid, 2])).content.decode()
        assert "Never run faster than <strong>138.6 mL/h</strong>" in sheet
        assert "Renal risk: creatinine and BUN" in sheet

    # Cycle 2, still before the pharmacist has looked: the cap holds.
    cycle2 = session_on(course, date(2027, 1, 11))
    assert cycle2.expected_minutes == 336 + setup
    with on(date(2027, 1, 11), 20):
        start = cycle2.planned_start
        record_start(
            **CHECK_ACCEPTED,
            by=staff.nurse,
            session=cycle2,
            started_at=start,
            expected_version=cycle2.version,
            now=start,
        )
        with pytest.raises(ValidationError):
            rate_change_record(
                by=staff.nurse, session=cycle2, at=start + timedelta(hours=1), rate_ml_per_h="168.0", step_number=3
            )


@pytest.mark.django_db
def test_verification_after_the_flag_keeps_the_cap_and_a_closed_flag_raises_it_only_when_verified(
    course, dm_patient, staff
):
    lab(dm_patient, staff.nurse, date(2026, 12, 20), "egfr", "52")
    with on(date(2026, 12, 21), 10):
        dose_order_verify(by=staff.pharmacist, order=order_of(course))
    order = order_of(course)
    assert order.status == OrderStatus.VERIFIED
    assert order.plan["max_rate_ml_per_h"] == "138.6" and order.chart_replan == {}
    assert order.administration_plan["chart_limit"] is None

    # eGFR back to 75 before cycle 2: the chart would allow 168, but that waits for the pharmacist.
    lab(dm_patient, staff.nurse, date(2027, 1, 5), "egfr", "75")
    order = order_of(course)
    assert order.status == OrderStatus.REVIEW
    assert order.chart_replan["plan"]["max_rate_ml_per_h"] == "168.0"
    assert order.administration_plan["max_rate_ml_per_h"] == "138.6"
    cycle2 = session_on(course, date(2027, 1, 11))
    with on(date(2027, 1, 11), 20):
        start = cycle2.planned_start
        record_start(
            **CHECK_ACCEPTED,
            by=staff.nurse,
            session=cycle2,
            started_at=start,
            expected_version=cycle2.version,
            now=start,
        )
        with pytest.raises(ValidationError):
            rate_change_record(
                by=staff.nurse, session=cycle2, at=start + timedelta(hours=1), rate_ml_per_h="150", step_number=3
            )
    with on(date(2027, 1, 20), 10):
        dose_order_verify(by=staff.pharmacist, order=order_of(course))
    assert order_of(course).administration_plan["max_rate_ml_per_h"] == "168.0"
    cycle3 = session_on(course, date(2027, 2, 8))
    assert cycle3.expected_minutes == 288 + UnitSettings.load().setup_minutes


@pytest.mark.django_db
def test_a_thrombosis_risk_factor_lowers_every_open_order_and_a_contraindication_stops_it(course, dm_patient, staff):
    with on(date(2026, 12, 20), 10):
        patient_services.risk_factor_record(
            by=staff.physician, patient=dm_patient, kind="central_catheter", noted_on=date(2026, 12, 20)
        )
    assert order_of(course).administration_plan["max_rate_ml_per_h"] == "138.6"
    with on(date(2026, 12, 22), 10):
        dm_patient.refresh_from_db()
        patient_services.patient_update(by=staff.physician, patient=dm_patient, iga_status="deficient_anti_iga")
    order = order_of(course)
    assert order.status == OrderStatus.REVERIFY
    assert "Contraindicated: IgA deficiency" in order.status_reason
    cycle2 = session_on(course, date(2027, 1, 11))
    with on(date(2027, 1, 11), 8), pytest.raises(ValidationError) as refused:
        record_start(
            **CHECK_ACCEPTED,
            by=staff.nurse,
            session=cycle2,
            started_at=cycle2.planned_start,
            expected_version=cycle2.version,
        )
    assert refused.value.messages[0].startswith(
        "The dose order needs verification again: a pharmacist must verify it before the infusion starts."
    )
    with on(date(2027, 1, 5), 10), pytest.raises(ValidationError, match="Contraindicated since the order"):
        dose_order_verify(by=staff.pharmacist, order=order_of(course))


# --------------------------------------------------------------------------- 2. re-verification re-plans


@pytest.mark.django_db
def test_a_weight_gain_stops_the_order_and_verification_plans_from_the_new_weight(course, dm_patient, staff, client):
    with on(FIRST_DAY, 8):
        give(session_on(course, FIRST_DAY), staff.nurse)
        give(session_on(course, FIRST_DAY + timedelta(days=1)), staff.nurse)
    with on(date(2027, 1, 4), 10):
        patient_services.measurement_record(
            by=staff.nurse, patient=dm_patient, measured_on=date(2027, 1, 4), weight_kg=Decimal("78.4")
        )
    order = order_of(course)
    assert order.status == OrderStatus.REVERIFY
    assert "Weight changed from 70.0 kg to 78.4 kg on 2027-01-04 (12.0 %)" in order.status_reason

    # The week view marks the booked sessions whose order waits for the pharmacist.
    with on(date(2027, 1, 4), 11):
        client.force_login(staff.nurse)
        week = client.get(reverse("scheduling:week"), {"start": "2027-01-11"}).content.decode()
    assert week.count('data-order-pending="reverify"') == 2

    # The pharmacist sees what changed, then verifies the plan from today's chart.
    with on(date(2027, 1, 5), 10):
        client.force_login(staff.pharmacist)
        page = client.get(reverse("dosing:order_verify", args=[order.uuid]))
        rows = {row["label"]: row for row in page.context["changes"]}
        assert rows["Weight"]["changed"] and "78.4 kg" in rows["Weight"]["after"]
        assert rows["Daily dose"]["before"].startswith("70 g") and rows["Daily dose"]["changed"]
        digest = page.context["verify_form"]["plan_digest"].value()
        response = client.post(
            reverse("dosing:order_verify", args=[order.uuid]),
            {"action": "verify", "checked": "on", "version": order.version, "plan_digest": digest},
        )
        assert response.status_code == 302
    order = order_of(course)
    assert order.status == OrderStatus.VERIFIED
    assert order.inputs["weight_kg"] == "78.4"
    assert Decimal(order.plan["daily_dose_g"]) != Decimal("70")
    assert order.plan["max_rate_ml_per_h"] == "188.1"  # 4 mg/kg/min at 78.4 kg, rounded down
    history_reasons = [row.history_change_reason for row in order.history.all()]
    assert any(
        reason and reason.startswith("verified; changed since last checked: weight") for reason in history_reasons
    )
    # The six booked sessions follow the new plan without re-booking.
    setup = UnitSettings.load().setup_minutes
    booked = [s for s in sessions(course) if s.status == SessionStatus.PLANNED]
    assert booked and {s.expected_minutes for s in booked} == {order.plan["infusion_minutes"] + setup}
    with on(date(2027, 1, 11), 8):
        give(session_on(course, date(2027, 1, 11)), staff.nurse)


@pytest.mark.django_db
def test_a_verify_page_opened_before_the_chart_changed_verifies_nothing(course, dm_patient, staff, client):
    with on(date(2026, 12, 20), 10):
        patient_services.measurement_record(
            by=staff.nurse, patient=dm_patient, measured_on=date(2026, 12, 20), weight_kg=Decimal("80")
        )
    order = order_of(course)
    with on(date(2026, 12, 21), 10):
        client.force_login(staff.pharmacist)
        page = client.get(reverse("dosing:order_verify", args=[order.uuid]))
        digest = page.context["verify_form"]["plan_digest"].value()
        lab(dm_patient, staff.nurse, date(2026, 12, 21), "egfr", "40")
        order.refresh_from_db()
        response = client.post(
            reverse("dosing:order_verify", args=[order.uuid]),
            {"action": "verify", "checked": "on", "version": order.version, "plan_digest": digest},
        )
    assert response.status_code == 409
    assert "The patient&#x27;s chart changed" in response.content.decode()
    assert order_of(course).status == OrderStatus.REVERIFY


# --------------------------------------------------------------------------- 3. missed cycles are overdue


@pytest.mark.django_db
def test_a_missed_cycle_is_reported_overdue_once_although_later_cycles_are_booked(course, staff):
    with on(FIRST_DAY, 8):
        give(session_on(course, FIRST_DAY), staff.nurse)
        give(session_on(course, FIRST_DAY + timedelta(days=1)), staff.nurse)
    # Cycle 2 (11-12 Jan) passes with nothing recorded; cycle 3 (8 Feb) is booked.
    assert session_on(course, date(2027, 2, 8)).status == SessionStatus.PLANNED
    remind(now=local(date(2027, 1, 12), 20))
    assert not overdue_reported(by=local(date(2027, 1, 12), 20)).exists()  # made ahead, not yet due
    for day in (date(2027, 1, 13), date(2027, 1, 14), date(2027, 1, 25)):
        with on(day, 9):
            remind(now=local(day, 9))
    overdue = overdue_reported(by=local(date(2027, 1, 25), 9)).get()
    assert overdue.subject_key.endswith(":2027-01-13")
    assert overdue.cycle.number == 2
    assert "Cycle 2, booked for 2027-01-11 to 2027-01-12, passed with no infusion recorded" in overdue.message
    # Cycle 3 given: no further overdue for cycle 2's course.
    with on(date(2027, 2, 8), 8):
        give(session_on(course, date(2027, 2, 8)), staff.nurse)
        give(session_on(course, date(2027, 2, 9)), staff.nurse)
        remind(now=local(date(2027, 2, 9), 18))  # what the triggers of these writes do after commit
    with on(date(2027, 2, 15), 9):
        remind(now=local(date(2027, 2, 15), 9))
    # Cycle 3's own "missed" reminder, made ahead, went when it was given.
    assert overdue_reported(by=local(date(2027, 2, 15), 9)).get() == overdue


# --------------------------------------------------------------------------- 4. courses end


@pytest.mark.django_db
def test_a_course_is_completed_by_its_last_cycle_and_then_never_overdue(make_order, staff):
    with on(ORDERED, 10):
        order = make_order(by=staff.physician)
        dose_order_verify(by=staff.pharmacist, order=order)
        course = course_plan(
            by=staff.nurse,
            order=order,
            first_day=FIRST_DAY,
            start_time=time(9, 0),
            chair=1,
            cycles=2,
            today=ORDERED,
            accept_warnings=True,
        )
    for day in (FIRST_DAY, date(2027, 1, 11)):
        with on(day, 8):
            remind(now=local(day, 8))
            give(session_on(course, day), staff.nurse)
            course.refresh_from_db()
            assert course.status == CourseStatus.ACTIVE
            give(session_on(course, day + timedelta(days=1)), staff.nurse)
    course.refresh_from_db()
    assert (course.status, course.status_reason) == (CourseStatus.COMPLETED, "all 2 cycles given")
    for day in (date(2027, 1, 13), date(2027, 2, 20), date(2027, 4, 1)):
        with on(day, 9):
            remind(now=local(day, 9))
    # Each cycle's "missed" reminder, made ahead, was cancelled when the cycle was given.
    assert not overdue_reported(by=local(date(2027, 4, 1), 9)).exists()
    assert set(Reminder.objects.filter(kind="cycle_overdue").values_list("status", flat=True)) <= {"cancelled"}
    # The thrombosis check after the last cycle still stands.
    assert Reminder.objects.filter(kind="thrombosis_check", cycle__number=2).exists()


@pytest.mark.django_db
def test_cancelling_the_order_closes_its_course_with_its_sessions_and_reminders(course, staff):
    with on(FIRST_DAY, 8):
        give(session_on(course, FIRST_DAY), staff.nurse)
        give(session_on(course, FIRST_DAY + timedelta(days=1)), staff.nurse)
    with on(date(2027, 1, 9), 9):
        remind(now=local(date(2027, 1, 9), 9))
        upcoming = Reminder.objects.get(kind="upcoming_infusion", session=session_on(course, date(2027, 1, 11)))
        assert upcoming.status in (ReminderStatus.PENDING, ReminderStatus.SENT)
        dose_order_cancel(by=staff.physician, order=order_of(course), reason="Switched to SCIg")
    course.refresh_from_db()
    assert (course.status, course.status_reason) == (CourseStatus.STOPPED, "order cancelled: Switched to SCIg")
    upcoming.refresh_from_db()
    assert upcoming.status == ReminderStatus.CANCELLED
    ahead = [s for s in sessions(course) if s.planned_start > local(date(2027, 1, 9))]
    assert ahead and {s.status for s in ahead} == {SessionStatus.CANCELLED}
    assert {s.status for s in sessions(course) if s not in ahead} == {SessionStatus.COMPLETED}
    for day in (date(2027, 2, 1), date(2027, 3, 15)):
        with on(day, 9):
            remind(now=local(day, 9))
    assert not Reminder.objects.filter(kind__in=["cycle_overdue", "upcoming_infusion"], status="pending").exists()
    with on(date(2027, 1, 10), 9), pytest.raises(ValidationError):
        course_extend(by=staff.nurse, course=course, today=date(2027, 1, 10))


@pytest.mark.django_db
def test_a_course_from_a_new_order_replaces_the_active_one(course, make_order, staff):
    with on(FIRST_DAY, 8):
        give(session_on(course, FIRST_DAY), staff.nurse)
        give(session_on(course, FIRST_DAY + timedelta(days=1)), staff.nurse)
    with on(date(2027, 1, 4), 10):
        new_order = make_order(by=staff.physician, days=3)
        dose_order_verify(by=staff.pharmacist, order=new_order)
        booking = {"by": staff.nurse, "order": new_order, "first_day": date(2027, 1, 11), "start_time": time(9, 0)}
        booking |= {"chair": 2, "cycles": 3, "today": date(2027, 1, 4)}
        with pytest.raises(ValidationError, match="replaces the active course from 2026-12-14"):
            course_plan(**booking)
        replacement = course_plan(**booking, accept_warnings=True)
    course.refresh_from_db()
    assert course.status == CourseStatus.STOPPED
    assert course.status_reason == "replaced by the course from 2027-01-11"
    assert replacement.status == CourseStatus.ACTIVE
    with on(date(2027, 2, 20), 9):
        remind(now=local(date(2027, 2, 20), 9))
    assert not Reminder.objects.filter(kind="cycle_overdue", cycle__course=course).exists()


# --------------------------------------------------------------------------- 6. the creatinine flag


@pytest.mark.django_db
def test_the_missing_creatinine_flag_is_judged_on_each_cycles_first_day(course, dm_patient, staff):
    """Creatinine 9 Dec covers cycle 1 (14-15 Dec) on both days. The flag opens 7 days before
    cycle 2 (4 Jan: 9 Dec is older than 30 days before 11 Jan), closes when blood is drawn, and
    stays closed over both days of cycle 2: once per cycle at most, and only when due."""
    lab(dm_patient, staff.nurse, date(2026, 12, 9), "creatinine", "0.8")

    def flag_open() -> bool:
        return RiskFlag.objects.active().filter(patient=dm_patient, code="info_no_recent_creatinine").exists()

    with on(FIRST_DAY, 8):
        give(session_on(course, FIRST_DAY), staff.nurse)
    assert not flag_open()
    with on(FIRST_DAY + timedelta(days=1), 8):
        give(session_on(course, FIRST_DAY + timedelta(days=1)), staff.nurse)
    assert not flag_open()
    for day in (date(2026, 12, 16), date(2027, 1, 3)):
        with on(day, 23):
            from risk.services import flags_recompute

            flags_recompute(patient=dm_patient)
        assert not flag_open(), day
    with on(date(2027, 1, 4), 2):
        from risk.services import flags_recompute

        flags_recompute(patient=dm_patient)
    assert flag_open()
    lab(dm_patient, staff.nurse, date(2027, 1, 5), "creatinine", "0.8")
    assert not flag_open()
    for day in (date(2027, 1, 11), date(2027, 1, 12)):
        with on(day, 8):
            give(session_on(course, day), staff.nurse)
        assert not flag_open()
    # Once per cycle, each closed by the blood drawn for it: at booking (7 days before cycle 1,
    # closed on 9 Dec) and 7 days before cycle 2 (closed on 5 Jan).
    flags = RiskFlag.objects.filter(patient=dm_patient, code="info_no_recent_creatinine").order_by("first_seen_at")
    assert [(flag.first_seen_at.astimezone(NY).date(), flag.resolved_at.astimezone(NY).date()) for flag in flags] == [
        (ORDERED, date(2026, 12, 9)),
        (date(2027, 1, 4), date(2027, 1, 5)),
    ]
