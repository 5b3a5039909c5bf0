"""The treatment pathway (issue 15): a physician opens a dermatomyositis patient's treatment
course from the chart, holds a stewardship review (TIS trend, grams given per cycle, risk flags,
prednisone-equivalent dose), steps down to 1 g/kg every 6 weeks, which moves the booked cycles,
then adds Estradiol under "Other" and is steered to the estrogen category that the thrombosis
flag counts.

The data is set up with the services, as in the closed-loop journey: the verified order starts
the treatment course today; a 3-cycle course is booked from two weeks ago (``course_plan`` as of
that day) and cycle 1's two days are recorded through the chair's services at their planned
times. The live server runs in real time, so every date is computed from today."""

import re
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from dosing.authorisation import first_window, renewed_window
from dosing.models import SiteSettings, TreatmentCourse
from e2e.conftest import field_feedback, login, says, screenshot
from pathway.models import Review
from patients.models import Medication, MedicationCategory
from patients.services import medication_category_proposal, medication_record
from risk.models import RiskFlag
from scheduling.models import Cycle, SessionStatus
from scheduling.services import records
from scheduling.services.booking import clinic_zone
from scheduling.services.courses import course_plan

pytestmark = pytest.mark.e2e

JOURNEY = "pathway"
MRN = "E2E-0001"
STEP_DOWN = "Step down (lower dose or longer interval)"
REASON = "Stable 6 months, TIS major improvement: ProDERM extension dose"
# Cycle 1 began two weeks ago: cycle 2 (week 4) is still ahead, so the step down moves it.
CYCLE_1_DAYS_AGO = 14
VITALS = {"systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "temperature_c": Decimal("36.8")}


def give(session, nurse) -> None:
    """One infusion day recorded at its planned time through the chair's services: start (labs
    missing: the check accepted with a reason), vital signs, the plan's vials, each step of the
    ladder the session runs (a first infusion's slower first step on day 1), stop, the full
    volume, completion; entered that evening."""
    session.refresh_from_db()
    start = session.planned_start
    evening = datetime.combine(start.astimezone(clinic_zone()).date(), time(20), tzinfo=clinic_zone())
    records.record_start(
        by=nurse,
        session=session,
        started_at=start,
        expected_version=session.version,
        check_accepted=True,
        check_reason="Labs from the referring hospital, on paper",
        now=start,
    )
    records.vitals_record(by=nurse, session=session, phase="before", at=start, now=evening, **VITALS)
    plan = records.plan_of(session)
    for vial in plan["vials_per_day"]:
        records.lot_record(
            by=nurse,
            session=session,
            lot_number=f"L{vial['size_g']}",
            vial_size_g=Decimal(vial["size_g"]),
            vials=vial["count"],
            expiry_date=start.date() + timedelta(days=400),
            now=evening,
        )
    for number, step in enumerate(plan["rate_steps"], start=1):
        records.rate_change_record(
            by=nurse,
            session=session,
            at=start + timedelta(minutes=step["start_min"]),
            rate_ml_per_h=Decimal(step["rate_ml_per_h"]),
            step_number=number,
            now=evening,
        )
    stop = start + timedelta(minutes=plan["infusion_minutes"])
    records.vitals_record(by=nurse, session=session, phase="after", at=stop, now=evening, **VITALS)
    record = session.record
    record.refresh_from_db()
    record = records.record_update(
        by=nurse,
        session=session,
        stopped_at=stop,
        volume_given_ml=Decimal(plan["daily_volume_ml"]),
        grams_wasted=Decimal("0"),
        notes="",
        expected_version=record.version,
        now=evening,
    )
    records.record_complete(by=nurse, session=session, expected_version=record.version, confirm=True, now=evening)


@pytest.fixture
def booked(verified_order, nurse_user, today):
    """Three cycles every 4 weeks at 09:00 in chair 1 from two weeks ago, cycle 1 given."""
    nurse = get_user_model().objects.get(username=nurse_user.username)
    first_day = today - timedelta(days=CYCLE_1_DAYS_AGO)
    course = course_plan(
        by=nurse,
        order=verified_order,
        first_day=first_day,
        start_time=time(9),
        chair=1,
        cycles=3,
        today=first_day,  # booked on that day
    )
    for session in Cycle.objects.get(course=course, number=1).sessions.order_by("day_number"):
        give(session, nurse)
    return course


@pytest.fixture
def on_prednisone(alice_martin, physician_user, today):
    """Prednisone 20 mg/day for two months."""
    return medication_record(
        by=get_user_model().objects.get(username=physician_user.username),
        patient=alice_martin,
        category=MedicationCategory.GLUCOCORTICOID,
        name="Prednisone",
        daily_dose_mg=Decimal("20"),
        started_on=today - timedelta(days=60),
    )


def cycle_heading(page, number: int, day):
    return page.get_by_role("heading", name=f"Cycle {number} · from {day:%a %Y-%m-%d}", exact=True)


def test_course_review_step_down_and_estrogen_recognised(
    page, physician_user, alice_martin, verified_order, booked, on_prednisone, today
):
    course = TreatmentCourse.objects.get(patient=alice_martin)
    site = SiteSettings.load()
    until = first_window(today, site.review_first_months)
    assert course.started_on == today and course.authorised_until == course.next_review_due == until
    cycle_1 = today - timedelta(days=CYCLE_1_DAYS_AGO)
    assert list(booked.cycles.order_by("number").values_list("start_date", flat=True)) == [
        cycle_1,
        cycle_1 + timedelta(weeks=4),
        cycle_1 + timedelta(weeks=8),
    ]

    # 1. The chart lists the treatment course with its window; the course page shows it too.
    login(page, physician_user.username)
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Martin, Alice").click()
    expect(page.get_by_role("heading", name="Martin, Alice")).to_be_visible()
    courses = page.get_by_role("region", name="Treatment courses")
    expect(courses).to_contain_text(
        f"(active): authorised until {until:%Y-%m-%d}, review due {until:%Y-%m-%d} · stewardship review"
    )
    screenshot(page, JOURNEY, "01-chart-courses")
    courses.get_by_role("link", name=re.compile(rf"since {today:%Y-%m-%d}$")).click()
    expect(page.get_by_role("heading", name=re.compile(r"^Treatment course: "))).to_be_visible()
    authorisation = page.locator("#authorisation")
    facts = {
        "Authorised until": f"{until:%Y-%m-%d}",
        "Next review due": re.compile(rf"^{until:%Y-%m-%d} "),
        "Authorised maximum": re.compile(r"^2\s*g/kg per cycle every 4\s*weeks$"),
        "Next orders": re.compile(r"^2\s*g/kg per cycle every 4\s*weeks "),
    }
    for term, value in facts.items():
        definition = authorisation.locator(f"dt:text-is('{term}') + dd")
        expect(definition).to_have_text(value)
    expect(page.get_by_role("row").filter(has_text="No review yet.")).to_be_visible()
    screenshot(page, JOURNEY, "02-course")

    # 2. The stewardship review: the evidence, each figure with its unit.
    page.get_by_role("link", name="Stewardship review").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Stewardship review: "))).to_be_visible()
    expect(page.locator("#tis-trend")).to_contain_text("No scored visit yet.")
    expect(page.locator("#deterioration")).to_have_text("No confirmed deterioration (ProDERM rule).")
    # 70 kg × 2 g/kg = 140 g a cycle: two days of 700 mL of Octagam 10 % (100 mg/mL), as recorded.
    grams = page.locator("#grams tbody tr")
    expect(grams).to_have_count(1)
    expect(grams.locator("td")).to_have_text(["1", f"{cycle_1:%Y-%m-%d}", "2", re.compile(r"^140\s*g\s*\(recorded\)$")])
    # Octagam at 2 g/kg with no blood group on file: the rule's one active flag, and no estrogen yet.
    flags = page.locator("#flags li")
    expect(flags.filter(has_text="Blood group not known at a high dose")).to_have_text(
        f"Active since {today:%Y-%m-%d}: Blood group not known at a high dose (other, info): "
        "Blood group not recorded with 2 g/kg per cycle"
    )
    expect(flags.filter(has_text=re.compile(r"^Active"))).to_have_count(
        RiskFlag.objects.filter(patient=alice_martin, resolved_at__isnull=True).count()
    )
    expect(flags.filter(has_text="Estrogen use")).to_have_count(0)
    expect(page.locator("#prednisone li")).to_have_text([re.compile(rf"^From {today:%Y-%m-%d}: 20\s*mg/day$")])
    screenshot(page, JOURNEY, "03-review-evidence")

    # Step down to 1 g/kg every 6 weeks, first without a reason: refused at the field, nothing written.
    page.get_by_label(STEP_DOWN).check()
    page.get_by_label("New dose (g/kg per cycle), for a step down").fill("1")
    page.get_by_label("New interval (weeks), for a step down").fill("6")
    page.get_by_role("button", name="Record the review").click()
    expect(field_feedback(page, re.compile(r"^\s*Reason\W*$"))).to_have_text("This field is required.")
    expect(page.get_by_label(STEP_DOWN)).to_be_checked()
    expect(page.get_by_label("New dose (g/kg per cycle), for a step down")).to_have_value("1")
    expect(page.get_by_label("New interval (weeks), for a step down")).to_have_value("6")
    screenshot(page, JOURNEY, "04-review-needs-reason")
    assert not Review.objects.exists()
    course.refresh_from_db()
    assert (course.version, course.current_dose_g_per_kg, course.current_interval_weeks) == (1, Decimal("2"), 4)
    assert list(booked.cycles.order_by("number").values_list("start_date", flat=True))[1] == cycle_1 + timedelta(
        weeks=4
    )

    page.get_by_label(re.compile(r"^\s*Reason\W*$")).fill(REASON)
    page.get_by_role("button", name="Record the review").click()
    says(page, "Review recorded: step down (lower dose or longer interval).")
    # The next cycle moves from week 4 to week 6 after the cycle given; cycle 3 follows, 6 weeks on.
    cycle_2, cycle_3 = cycle_1 + timedelta(weeks=6), cycle_1 + timedelta(weeks=12)
    moved = [
        f"Cycle 2 moved from {cycle_1 + timedelta(weeks=4):%Y-%m-%d} to {cycle_2:%Y-%m-%d}.",
        f"Cycle 3 moved from {cycle_1 + timedelta(weeks=8):%Y-%m-%d} to {cycle_3:%Y-%m-%d}.",
    ]
    for change in moved:
        says(page, change)
    renewed = renewed_window(today, site.review_every_months)
    expect(authorisation.locator("dt:text-is('Authorised until') + dd")).to_have_text(f"{renewed:%Y-%m-%d}")
    expect(authorisation.locator("dt:text-is('Next orders') + dd")).to_have_text(
        re.compile(r"^1\s*g/kg per cycle every 6\s*weeks ")
    )
    reviews = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Window after"))
    row = reviews.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text(f"{today:%Y-%m-%d}")
    expect(row.locator("td").nth(1)).to_have_text(f"{physician_user.full_name} (physician)")
    expect(row.locator("td").nth(2)).to_contain_text(re.compile(rf"^{re.escape(STEP_DOWN)}: 1\s*g/kg, every 6\s*weeks"))
    expect(row.locator("td").nth(2).locator("small")).to_have_text(moved)
    expect(row.locator("td").nth(3)).to_have_text(REASON)
    expect(row.locator("td").nth(4)).to_have_text(f"until {renewed:%Y-%m-%d}; review {renewed:%Y-%m-%d}")
    screenshot(page, JOURNEY, "05-course-reviewed")

    # The booked course shows the cycles on their new days.
    page.get_by_role("link", name=f"From {cycle_1:%Y-%m-%d}").click()
    expect(cycle_heading(page, 1, cycle_1)).to_be_visible()
    expect(cycle_heading(page, 2, cycle_2)).to_be_visible()
    expect(cycle_heading(page, 3, cycle_3)).to_be_visible()
    screenshot(page, JOURNEY, "06-cycles-moved")

    review = Review.objects.get()
    assert (review.decision, review.dose_g_per_kg, review.interval_weeks, review.reason) == (
        "step_down",
        Decimal("1"),
        6,
        REASON,
    )
    assert review.by.username == physician_user.username
    assert review.evidence["grams_per_cycle"][0]["grams"] == "140"
    assert review.evidence["prednisone"] == [
        {"on": f"{today:%Y-%m-%d}", "prednisone_mg_per_day": "20", "unconverted": []}
    ]
    course.refresh_from_db()
    assert (course.current_dose_g_per_kg, course.current_interval_weeks, course.authorised_until) == (
        Decimal("1"),
        6,
        renewed,
    )
    assert list(booked.cycles.order_by("number").values_list("start_date", flat=True)) == [cycle_1, cycle_2, cycle_3]
    second = Cycle.objects.get(course=booked, number=2).sessions.order_by("day_number")
    assert [s.planned_start.astimezone(clinic_zone()).date() for s in second] == [cycle_2, cycle_2 + timedelta(1)]
    assert {s.status for s in second} == {SessionStatus.PLANNED}
    verified_order.refresh_from_db()
    assert verified_order.dose_g_per_kg == Decimal("2") and verified_order.status == "verified"

    # 3. Estradiol filed under "Other" is refused at the category, with the estrogen category proposed.
    page.get_by_role("link", name="Alice Martin", exact=True).click()
    page.get_by_role("link", name="Add medication").click()
    category = re.compile(r"^\s*Category\W*$")
    page.get_by_label(category).select_option(label="Other")
    page.get_by_label(re.compile(r"^\s*Name\W*$")).fill("Estradiol")
    page.get_by_label("Started on").fill(f"{today - timedelta(days=30):%Y-%m-%d}")
    page.get_by_role("button", name="Save").click()
    proposal = medication_category_proposal("Estradiol", MedicationCategory.OTHER)
    assert proposal and "Estrogen-containing (boxed-warning thrombosis risk)" in proposal
    expect(field_feedback(page, category)).to_have_text(proposal)
    expect(page.get_by_label("Keep the category as entered")).not_to_be_checked()
    screenshot(page, JOURNEY, "07-estradiol-refused")
    assert not Medication.objects.filter(patient=alice_martin, name="Estradiol").exists()

    page.get_by_label(category).select_option(label="Estrogen-containing (boxed-warning thrombosis risk)")
    page.get_by_role("button", name="Save").click()
    says(page, "Added medication: Estradiol.")
    medication = page.locator("#medications tbody tr").filter(has_text="Estradiol")
    expect(medication.locator("td").first).to_have_text("Estrogen-containing (boxed-warning thrombosis risk)")
    chart_flags = page.get_by_role("region", name=re.compile("^Risk flags"))
    flag = chart_flags.get_by_role("row").filter(has_text="Estrogen use")
    expect(flag).to_contain_text("Current: Estradiol")
    screenshot(page, JOURNEY, "08-estrogen-flag")
    saved = Medication.objects.get(patient=alice_martin, name="Estradiol")
    assert saved.category == MedicationCategory.ESTROGEN
    assert RiskFlag.objects.filter(patient=alice_martin, code="thrombosis_estrogen", resolved_at__isnull=True).exists()
