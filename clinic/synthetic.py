"""A synthetic clinic for the benchmark: fictional patients with two years of history.

Every patient gets weights and a height, labs before each cycle, concomitant drugs, boxed-warning
risk factors for some, visits with the six core set measures, verified dose orders computed by
the real dose engine (a few awaiting verification), 4-weekly courses of 2–5 consecutive
infusion days in the unit's chairs (past sessions completed with an infusion record, the next
weeks booked), the reminders older sweeps left behind, and the risk flags the rules give.

Rows are built in memory and written in bulk (_RowWriter: COPY on PostgreSQL, from two processes
there), a chunk of patients per transaction: no per-row save, no signal, no audit history (the
history tables stay empty for synthetic data). The rows are the ones the services would have left: order snapshots from
dosing.planning, session times from the course's chair and clock, reminder keys from
scheduling.timing and flags from risk.rules over the same chart (a test recomputes them with
risk.services.flags_recompute and finds nothing to change).

Deterministic: patient `index` draws from random.Random(f"{seed}:{index}"), so the same
arguments give the same clinic, and additive: seeding 0–999 and then 1000–9999 gives the clinic
that seeding 0–9999 at once would (MRNs BENCH-000001 onwards).
"""

from __future__ import annotations

import multiprocessing
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from time import perf_counter
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, connections, models, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.roles import NURSE, PHARMACIST, PHYSICIAN
from dosing.authorisation import first_window, renewed_window
from dosing.models import DoseOrder, Indication, OrderStatus, SiteSettings, TreatmentCourse, WeightBasis
from dosing.planning import LABELLED_FOR_DIAGNOSES, facts_snapshot, juvenile_dermatomyositis, label_info, plan_for
from pathway.models import Decision, Review
from patients.labs import LAB_CATALOG
from patients.models import (
    AntiphospholipidScreen,
    BloodGroup,
    BodyMeasurement,
    Diagnosis,
    IgAStatus,
    LabResult,
    Medication,
    MedicationCategory,
    Patient,
    RiskFactor,
    RiskFactorKind,
    SexAtBirth,
)
from risk import rules
from risk.models import RiskFlag
from risk.services import LAB_TESTS_READ, bmi_and_date, flag_summaries_rebuild, patient_snapshot_fields, verdict_of
from scheduling import timing
from scheduling.models import (
    Course,
    CourseStatus,
    Cycle,
    InfusionRecord,
    InfusionSession,
    RecordValue,
    Reminder,
    ReminderStatus,
    SessionStatus,
    UnitSettings,
)
from scheduling.services.inbox import KIND_ROLES
from visits.models import HaqInstrument, MmtScale, Visit
from visits.scoring import patient_response

MRN_PREFIX = "BENCH-"
# Logins the benchmark uses; they get no usable password (force_login only).
BENCH_USERS = {PHYSICIAN: "bench-physician", PHARMACIST: "bench-pharmacist", NURSE: "bench-nurse"}

HISTORY_DAYS = 730
INTERVAL_WEEKS = 4  # 13 cycles a year
BOOKED_AHEAD_DAYS = 42  # the next cycles are booked about six weeks ahead
# Reminders the sweep created and the team closed, for cycles this old: past every look-back of
# the sweep (a month), so the first sweep of the benchmark sees them as history, not as its own.
REMINDER_HISTORY = (timedelta(days=112), timedelta(days=42))

# Chairs: the schedule repeats every 4 weeks, so each block of patients shares a set of chairs
# laid out over one 28-day rotation (packed from opening time, never overlapping). A block is
# planned from its own patients only, which keeps seeding additive.
PATIENTS_PER_BLOCK = 48
CHAIRS_PER_BLOCK = 6
ROTATION_DAYS = INTERVAL_WEEKS * 7
ROTATION_EPOCH = date(2024, 1, 1)  # a Monday
SLOT_MINUTES = 15

BLOCKS_PER_CHUNK = 4  # patients written per transaction: 4 blocks of 48
BATCH_SIZE = 2000  # rows per INSERT

GIVEN = [
    ("female", "Ada Bea Cora Dina Edith Fay Gwen Hana Ines Jana Kira Lena Mara Nora Olga Pia Rosa Sara Tess Una "
     "Vera Wren Yara Zoe Alba Cleo Dora Elsa Flora Greta Hilda Iris Joan Lara Mina Nina Opal Ruth Sonia Thea"),
    ("male", "Abel Bram Cyril Dario Emil Felix Gus Hugo Ivo Jonas Kai Leon Milo Nils Otto Pavel Quinn Rafe Sami Teo "
     "Umar Vito Wim Xavi Yuri Zane Arlo Bruno Cato Dirk Egon Finn Gael Hans Igor Jan Karl Lars Mats Noel"),
]  # fmt: skip
FAMILY_STEMS = "Ash Birch Cedar Dale Elm Fen Glen Heath Ivy Juniper Kestrel Larch Moss Nettle Oak Pine Reed Sorrel"
FAMILY_ENDINGS = "ford wood field brook well ton ley more gate holm"
FAMILY_NAMES = [stem + ending for stem in FAMILY_STEMS.split() for ending in FAMILY_ENDINGS.split()]

# (diagnosis, other diagnosis text, (product, indication) choices, weight in the mix)
DIAGNOSES = [
    (Diagnosis.ADULT_DM, "", [("octagam-10", "dermatomyositis")], 52),
    (Diagnosis.AMYOPATHIC_DM, "", [("octagam-10", "dermatomyositis")], 6),
    (Diagnosis.JUVENILE_DM, "", [("octagam-10", "dermatomyositis")], 5),
    (Diagnosis.POLYMYOSITIS, "", [("octagam-10", "dermatomyositis")], 8),
    (Diagnosis.IMNM, "", [("octagam-10", "dermatomyositis")], 7),
    (
        Diagnosis.OTHER,
        "Chronic inflammatory demyelinating polyneuropathy",
        [("privigen", "cidp"), ("gamunex-c", "cidp"), ("panzyga", "cidp")],
        14,
    ),
    (Diagnosis.OTHER, "Multifocal motor neuropathy", [("gammagard-liquid", "mmn")], 4),
    (Diagnosis.OTHER, "Chronic immune thrombocytopenia", [("panzyga", "chronic-itp"), ("privigen", "chronic-itp")], 4),
]
ANTIBODIES = {
    Diagnosis.ADULT_DM: ["tif1g", "nxp2", "mda5", "sae", "mi2"],
    Diagnosis.AMYOPATHIC_DM: ["mda5", "tif1g", "sae"],
    Diagnosis.JUVENILE_DM: ["nxp2", "tif1g", "mda5"],
    Diagnosis.POLYMYOSITIS: ["jo1"],
    Diagnosis.IMNM: ["hmgcr", "srp"],
}
DM_DIAGNOSES = (Diagnosis.ADULT_DM, Diagnosis.AMYOPATHIC_DM, Diagnosis.JUVENILE_DM)
DAYS_PER_CYCLE = ((2, 35), (3, 15), (4, 10), (5, 40))  # (days, weight)
# Cardiovascular and thrombosis risk factors: (kind, chance); about one patient in five has one.
RISK_FACTOR_CHANCES = [
    (RiskFactorKind.HYPERTENSION, 0.07),
    (RiskFactorKind.DIABETES, 0.03),
    (RiskFactorKind.HYPERLIPIDAEMIA, 0.03),
    (RiskFactorKind.SMOKING, 0.03),
    (RiskFactorKind.VENOUS_THROMBOSIS, 0.025),
    (RiskFactorKind.ARTERIAL_THROMBOSIS, 0.01),
    (RiskFactorKind.CORONARY_DISEASE, 0.02),
    (RiskFactorKind.CENTRAL_CATHETER, 0.015),
    (RiskFactorKind.ACTIVE_MALIGNANCY, 0.01),
]
SESSION_CHANCES = {"missed": 0.01, "cancelled": 0.01}
REVIEW_AHEAD = timedelta(days=7)  # stewardship reviews are held a week before they fall due
ACKNOWLEDGEMENT = "Reviewed with the team; hydration and the at-risk rate in the plan."
EXPECTED_COUNTS = (
    Patient,
    BodyMeasurement,
    LabResult,
    Medication,
    RiskFactor,
    Visit,
    TreatmentCourse,
    Review,
    DoseOrder,
    Course,
    Cycle,
    InfusionSession,
    InfusionRecord,
    RecordValue,
    Reminder,
    RiskFlag,
)


def bench_mrn(index: int) -> str:
    """The MRN of synthetic patient `index` (0-based). Example: bench_mrn(0) == "BENCH-000001"."""
    return f"{MRN_PREFIX}{index + 1:06d}"


def bench_patients():
    return Patient.objects.filter(mrn__startswith=MRN_PREFIX)


# ----------------------------------------------------------------------------- the context


@dataclass
class _Context:
    today: date
    now: datetime
    tz: ZoneInfo
    users: dict[str, object]
    indications: dict[tuple[str, str], Indication]
    site: SiteSettings
    policy: rules.SitePolicy
    setup_minutes: int
    upcoming_days: int
    plans: dict = field(default_factory=dict)  # plan_for results by their inputs: many patients share them
    facts: dict = field(default_factory=dict)  # an order's facts snapshot, per indication

    def facts_for(self, indication: Indication) -> dict:
        if indication.pk not in self.facts:
            facts = facts_snapshot(indication.product, indication, self.site)
            facts["label"] = label_info(indication.product, indication)
            self.facts[indication.pk] = facts
        return self.facts[indication.pk]

    def plan(self, indication: Indication, **inputs):
        key = (indication.pk, *sorted(inputs.items()))
        if key not in self.plans:
            self.plans[key] = plan_for(
                product=indication.product,
                indication=indication,
                site=self.site,
                weight_basis=WeightBasis.AUTO,
                iga_deficient_with_anti_iga=False,
                **inputs,
            )
        return self.plans[key]


def bench_users() -> dict[str, object]:
    """The benchmark's users, one per role (created once, without a usable password)."""
    users = {}
    for role, username in BENCH_USERS.items():
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"first_name": "Bench", "last_name": role.capitalize()}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            user.groups.set([Group.objects.get(name=role)])
        users[role] = user
    return users


# ----------------------------------------------------------------------------- one patient


@dataclass
class _CoursePlan:
    order: DoseOrder
    days: int
    minutes: int  # expected minutes per session (plan's infusion time + set-up)
    starts: list[date]
    status: str
    daily_volume_ml: Decimal
    infusion_minutes: int
    chair: int = 0
    clock: time = time(8, 0)


@dataclass
class _Chart:
    """One patient as unsaved model instances (parents are instances, so bulk_create fills the keys)."""

    index: int
    patient: Patient
    measurements: list[_Row] = field(default_factory=list)  # BodyMeasurement
    labs: list[_Row] = field(default_factory=list)  # LabResult
    medications: list[Medication] = field(default_factory=list)
    risk_factors: list[RiskFactor] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    orders: list[DoseOrder] = field(default_factory=list)
    courses: list[_CoursePlan] = field(default_factory=list)
    haemolysis_risk: bool = False
    treatment_course: TreatmentCourse | None = None
    reviews: list[Review] = field(default_factory=list)
    considerations: list = field(default_factory=list)  # rules.prophylaxis_consideration, for the verdict


def _d(value: float, places: str = "0.1") -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(places), ROUND_HALF_UP)


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz)


def _weighted(rng: random.Random, choices: list[tuple[object, int]]):
    return rng.choices([value for value, _ in choices], weights=[weight for _, weight in choices])[0]


def _generate(index: int, seed: int, ctx: _Context) -> _Chart:
    """Draw one patient and everything under them, as of ctx.today."""
    rng = random.Random(f"{seed}:{index}")
    today = ctx.today
    diagnosis, diagnosis_other, products, _ = rng.choices(DIAGNOSES, weights=[d[-1] for d in DIAGNOSES])[0]
    juvenile = diagnosis == Diagnosis.JUVENILE_DM
    sex = SexAtBirth.FEMALE if rng.random() < (0.68 if diagnosis in DM_DIAGNOSES else 0.5) else SexAtBirth.MALE
    age = rng.randint(12, 17) if juvenile else max(19, min(88, round(rng.gauss(49, 12))))
    born = today - timedelta(days=round(age * 365.25) + rng.randrange(360))
    untreated = rng.random() < 0.004  # IgA deficiency with anti-IgA and anaphylaxis: never given IVIG
    corn_allergy = not untreated and diagnosis == Diagnosis.OTHER and rng.random() < 0.05
    if corn_allergy:
        products = [p for p in products if p[0] != "octagam-10"] or [("privigen", "cidp")]
    product_slug, indication_slug = rng.choice(products)
    indication = ctx.indications[(product_slug, indication_slug)]

    # When IVIG started: most two years ago, some later, a few starting in the coming weeks.
    draw = rng.random()
    if draw < 0.02:
        started = today + timedelta(days=rng.randint(3, 20))
    elif draw < 0.25:
        started = today - timedelta(days=rng.randint(21, HISTORY_DAYS - 30))
    else:
        started = today - timedelta(days=rng.randint(HISTORY_DAYS - 30, HISTORY_DAYS))
    days = _weighted(rng, [d for d in DAYS_PER_CYCLE if indication.days_min <= d[0] <= indication.days_max])
    weekday = rng.randint(0, 5 - days)  # the whole cycle on working days
    first_day = started + timedelta(days=(weekday - started.weekday()) % 7)
    order_day = min(first_day - timedelta(days=rng.randint(3, 10)), today)
    antibodies = [rng.choice(ANTIBODIES[diagnosis])] if diagnosis in ANTIBODIES and rng.random() < 0.8 else []
    iga_draw = rng.random()
    patient = Patient(
        mrn=bench_mrn(index),
        given_name=rng.choice(GIVEN[0 if sex == SexAtBirth.FEMALE else 1][1].split()),
        family_name=rng.choice(FAMILY_NAMES),
        date_of_birth=born,
        sex_at_birth=sex,
        diagnosis=diagnosis,
        diagnosis_other=diagnosis_other,
        diagnosis_date=max(born + timedelta(days=365), order_day - timedelta(days=rng.randint(20, 500))),
        antibodies=antibodies,
        iga_status=IgAStatus.DEFICIENT_ANTI_IGA
        if untreated
        else IgAStatus.DEFICIENT
        if iga_draw < 0.03
        else IgAStatus.UNKNOWN
        if iga_draw < 0.25
        else IgAStatus.NORMAL,
        hypersensitivity_to_immunoglobulin=untreated,
        corn_allergy=corn_allergy,
        allergies="Corn (urticaria)" if corn_allergy else "",
        blood_group=rng.choices(
            [BloodGroup.O, BloodGroup.A, BloodGroup.B, BloodGroup.AB, BloodGroup.UNKNOWN], weights=[42, 36, 9, 3, 10]
        )[0],
        cancer_screen_on=(today - timedelta(days=rng.randint(20, 600)))
        if "tif1g" in antibodies and rng.random() < 0.85
        else None,
        ivig_started_on=None if untreated or first_day > today else first_day,
        # Screened before the first cycle (site policy after the ProDERM editorial), one in ten not
        # yet: deterministic by index so the other draws stay as they were.
        antiphospholipid_screen="" if index % 10 == 0 else AntiphospholipidScreen.NEGATIVE,
        antiphospholipid_screen_on=None if index % 10 == 0 else order_day - timedelta(days=14),
        notes="Synthetic benchmark patient.",
        created_at=_at(order_day - timedelta(days=14), time(10, 0), ctx.tz),
        updated_at=_at(order_day - timedelta(days=14), time(10, 0), ctx.tz),
    )
    chart = _Chart(index=index, patient=patient)
    recorded = {"recorded_by": ctx.users[PHYSICIAN]}
    nurse = {"recorded_by": ctx.users[NURSE]}

    # Weight drifts by at most 7 % over two years: below the 10 % that sends an order back.
    base_weight = max(45.0, min(140.0, rng.gauss(63 if sex == SexAtBirth.FEMALE else 77, 11)))
    if juvenile:
        base_weight = rng.uniform(45, 65)
    drift = rng.uniform(-0.07, 0.07)
    height = rng.gauss(163 if sex == SexAtBirth.FEMALE else 177, 7) if not juvenile else rng.uniform(150, 172)

    def weight_on(day: date) -> Decimal:
        if day == order_day:
            return _d(base_weight)
        return _d(base_weight * (1 + drift * (day - order_day).days / HISTORY_DAYS) + rng.uniform(-0.3, 0.3))

    def measure(day: date, with_height: bool) -> None:
        chart.measurements.append(
            _Row(
                BodyMeasurement,
                patient=patient,
                measured_on=day,
                weight_kg=weight_on(day),
                height_cm=_d(min(height + (day - order_day).days / 365 * (3 if juvenile else 0), 200))
                if with_height
                else None,
                created_at=_at(day, time(8, 30), ctx.tz),
                **nurse,
            )
        )

    # Risk factors, medicines and the labs' baselines: the chart the first order is made from.
    for kind, chance in RISK_FACTOR_CHANCES:
        if rng.random() < chance:
            noted = born + timedelta(days=rng.randint(18 * 365, max(18 * 365, (order_day - born).days)))
            if kind in (RiskFactorKind.VENOUS_THROMBOSIS, RiskFactorKind.CENTRAL_CATHETER) and rng.random() < 0.4:
                noted = today - timedelta(days=rng.randint(30, 300))  # an event during treatment
            noted = min(noted, today)
            chart.risk_factors.append(
                RiskFactor(
                    patient=patient, kind=kind, noted_on=noted, created_at=_at(noted, time(10, 0), ctx.tz), **recorded
                )
            )
    ckd = rng.random() < 0.07 or age >= 80
    egfr_base = rng.uniform(16, 29) if rng.random() < 0.015 else rng.uniform(34, 58) if ckd else rng.uniform(65, 112)
    if ckd and rng.random() < 0.4:
        noted = max(born + timedelta(days=365), order_day - timedelta(days=rng.randint(30, 900)))
        chart.risk_factors.append(
            RiskFactor(
                patient=patient,
                kind=RiskFactorKind.RENAL_INSUFFICIENCY,
                noted_on=noted,
                comment="CKD",
                created_at=_at(noted, time(10, 0), ctx.tz),
                **recorded,
            )
        )
    _medications(chart, rng, ctx, order_day, age, sex)
    rising = rng.random() < 0.03
    triglycerides_base = rng.uniform(1100, 1500) if rng.random() < 0.01 else rng.uniform(80, 260)
    creatinine_base = 0.8 * 90 / egfr_base * (0.85 if sex == SexAtBirth.FEMALE else 1.0)
    haemoglobin_base = rng.uniform(11.8, 14.2) if sex == SexAtBirth.FEMALE else rng.uniform(13.2, 15.6)

    def lab(test: str, day: date, value: float) -> None:
        definition = LAB_CATALOG[test]
        places = "0.01" if test in ("creatinine", "haemoglobin") else "1"
        chart.labs.append(
            _Row(
                LabResult,
                patient=patient,
                test=test,
                collected_on=day,
                value=_d(value, places),
                unit=definition.unit,
                upper_limit_normal=definition.default_uln,
                created_at=_at(day, time(11, 0), ctx.tz),
                **nurse,
            )
        )

    def kidney_labs(day: date, last: bool, number: int) -> None:
        bump = 0.45 if rising and last else 0.0
        lab("creatinine", day, creatinine_base * rng.uniform(0.97, 1.03) + bump)
        lab("egfr", day, egfr_base * rng.uniform(0.97, 1.03) - (15 if bump else 0))
        if number % 2 == 0 or last:
            lab("bun", day, rng.uniform(9, 19) * (1.6 if ckd else 1))
        if number % 2 == 0 or chart.haemolysis_risk:
            lab("haemoglobin", day, haemoglobin_base + rng.uniform(-0.4, 0.4))
        if number % 6 == 0:
            lab("triglycerides", day, triglycerides_base * rng.uniform(0.9, 1.1))

    measure(order_day, with_height=True)
    baseline_labs = order_day - timedelta(days=rng.randint(0, 4))
    kidney_labs(baseline_labs, last=untreated, number=0)
    if patient.iga_status in (IgAStatus.DEFICIENT, IgAStatus.DEFICIENT_ANTI_IGA):
        lab("iga", baseline_labs, rng.uniform(1, 6))

    if not untreated:
        _courses(chart, rng, ctx, indication, first_day, order_day, days, weight_on, measure, kidney_labs)
    _visits(chart, rng, ctx, first_day, lab, untreated)
    _treatment_course(chart, ctx)
    return chart


def _medications(chart: _Chart, rng: random.Random, ctx: _Context, order_day: date, age: int, sex: str) -> None:
    patient = chart.patient
    started = order_day - timedelta(days=rng.randint(30, 400))
    recorded = {"recorded_by": ctx.users[PHYSICIAN]}

    def add(category, name, dose=None, start=started, stop=None):
        chart.medications.append(
            Medication(
                patient=patient,
                category=category,
                name=name,
                daily_dose_mg=dose,
                started_on=start,
                stopped_on=stop,
                created_at=_at(start or order_day, time(10, 30), ctx.tz),
                **recorded,
            )
        )

    if rng.random() < 0.8:
        taper = min(ctx.today, started + timedelta(days=rng.randint(90, 240)))
        add(MedicationCategory.GLUCOCORTICOID, "Prednisone", Decimal(rng.choice(["30", "40", "60"])), stop=taper)
        add(MedicationCategory.GLUCOCORTICOID, "Prednisone", Decimal(rng.choice(["5", "7.5", "10", "15"])), taper)
    if rng.random() < 0.5:
        add(MedicationCategory.IMMUNOSUPPRESSANT, rng.choice(["Methotrexate", "Mycophenolate mofetil", "Azathioprine"]))
    if sex == SexAtBirth.FEMALE and age < 56 and rng.random() < 0.12:
        add(MedicationCategory.ESTROGEN, rng.choice(["Ethinylestradiol/levonorgestrel", "Estradiol (HRT)"]))
    if rng.random() < 0.05:
        add(MedicationCategory.NEPHROTOXIC, rng.choice(["Ibuprofen (as needed)", "Naproxen", "Tacrolimus"]))
    if any(f.kind == RiskFactorKind.VENOUS_THROMBOSIS for f in chart.risk_factors):
        add(MedicationCategory.ANTICOAGULANT, "Apixaban", Decimal("10"), start=min(ctx.today, started))


def _courses(chart, rng, ctx, indication, first_day, order_day, days, weight_on, measure, kidney_labs) -> None:
    """Orders, the cycles they were given in and the labs and weights of each cycle."""
    today = ctx.today
    last_booked = today + timedelta(days=BOOKED_AHEAD_DAYS)
    if rng.random() < 0.02 and first_day < today - timedelta(days=150):
        last_booked = today - timedelta(days=rng.randint(40, 70))  # stopped coming: an overdue course
    starts = []
    day = first_day
    while day <= last_booked:
        starts.append(day)
        day += timedelta(weeks=INTERVAL_WEEKS)
    if not starts:
        starts = [first_day]
    # One patient in eight had the cycle length changed after about a year: a new order and course.
    other_lengths = [d for d in range(max(2, indication.days_min), indication.days_max + 1) if d != days]
    switch = rng.randint(10, 16) if len(starts) > 20 and other_lengths and rng.random() < 0.12 else None
    pieces = [(order_day, days, starts)]
    if switch:
        new_days = rng.choice(other_lengths)
        new_order_day = starts[switch] - timedelta(days=rng.randint(4, 8))
        pieces = [(order_day, days, starts[:switch]), (new_order_day, new_days, starts[switch:])]
    for number, start in enumerate(starts):
        if start <= today:
            measure(start, with_height=number % 6 == 0 and chart.patient.diagnosis == Diagnosis.JUVENILE_DM)
        if start <= today or (start <= today + timedelta(days=2) and rng.random() < 0.7):
            labs_on = start - timedelta(days=rng.randint(0, 2))
            if labs_on <= today and rng.random() < 0.96:
                kidney_labs(labs_on, last=start + timedelta(weeks=INTERVAL_WEEKS) > today, number=number + 1)
    for piece_number, (day_ordered, piece_days, piece_starts) in enumerate(pieces):
        last_piece = piece_number == len(pieces) - 1
        order, plan = _order(chart, ctx, indication, day_ordered, piece_days, rng, verified=True)
        chart.orders.append(order)
        chart.courses.append(
            _CoursePlan(
                order=order,
                days=piece_days,
                minutes=plan.infusion_minutes + ctx.setup_minutes,
                starts=piece_starts,
                status=CourseStatus.ACTIVE if last_piece else CourseStatus.COMPLETED,
                daily_volume_ml=plan.daily_volume_ml,
                infusion_minutes=plan.infusion_minutes,
            )
        )
    if starts[-1] > today and first_day < today - timedelta(days=60) and rng.random() < 0.03:
        # A new order (another cycle length) waiting for the pharmacist.
        other = rng.choice(other_lengths or [days])
        order, _ = _order(chart, ctx, indication, today - timedelta(days=rng.randint(0, 5)), other, rng, False)
        chart.orders.append(order)
    # The haemolysis rule reads the planned dose; Hb is then drawn before every cycle.
    chart.haemolysis_risk = chart.patient.blood_group in ("A", "B", "AB") and indication.dose_g_per_kg_min >= 2


def _treatment_course(chart: _Chart, ctx: _Context) -> None:
    """The treatment course the first order started (dosing.services.treatment_courses.new_course),
    with a stewardship review a week before each due date already passed, each deciding to
    continue and renewing the window (pathway.services.review_record), as a well-run service does.
    The patients' orders all belong to it. No randomness: the other draws stay as they were."""
    if not chart.orders:
        return
    first = min(chart.orders, key=lambda order: order.prescribed_at)
    physician = ctx.users[PHYSICIAN]
    started = first.prescribed_at.astimezone(ctx.tz).date()
    until = first_window(started, ctx.site.review_first_months)
    course = TreatmentCourse(
        patient=chart.patient,
        indication_slug=first.indication.slug,
        indication_name=first.indication.name,
        started_on=started,
        max_dose_g_per_kg=first.dose_g_per_kg,
        interval_weeks=INTERVAL_WEEKS,
        current_dose_g_per_kg=first.dose_g_per_kg,
        current_interval_weeks=INTERVAL_WEEKS,
        created_by=physician,
        created_at=first.prescribed_at,
    )
    while until - REVIEW_AHEAD <= ctx.today:
        reviewed_on = until - REVIEW_AHEAD
        until = renewed_window(reviewed_on, ctx.site.review_every_months)
        chart.reviews.append(
            Review(
                course=course,
                reviewed_on=reviewed_on,
                by=physician,
                decision=Decision.CONTINUE,
                reason="Responding on the TIS with no confirmed deterioration: continue at the same dose and interval.",
                # The review page's snapshot is built from the whole chart; the seeder keeps its date.
                evidence={"as_of": reviewed_on.isoformat(), "source": "synthetic benchmark clinic"},
                authorised_until=until,
                next_review_due=until,
                recorded_at=_at(reviewed_on, time(15, 0), ctx.tz),
            )
        )
    course.authorised_until = course.next_review_due = until
    chart.treatment_course = course
    for order in chart.orders:
        order.treatment_course = course


def _order(chart: _Chart, ctx: _Context, indication: Indication, day: date, days: int, rng, verified: bool):
    """An order as dose_order_create would have made it on `day`, from the chart as it stood."""
    patient = chart.patient
    weight = _latest_measurement(chart, "weight_kg", day)
    height = _latest_measurement(chart, "height_cm", day)
    findings = rules.evaluate(_snapshot(chart, day), ctx.policy)
    reasons = sorted((f for f in findings if f.puts_at_risk), key=lambda f: (f.category, f.code))
    labelled_for = LABELLED_FOR_DIAGNOSES.get(indication.slug)
    dose = indication.dose_g_per_kg_min if indication.dose_g_per_kg_min >= 1 else Decimal("1")
    inputs = {
        "weight_kg": format(weight.weight_kg, "f"),
        "weight_measured_on": weight.measured_on.isoformat(),
        "height_cm": format(height.height_cm, "f"),
        "height_measured_on": height.measured_on.isoformat(),
        "sex": patient.sex_at_birth,
        "age_years": patient.age_on(day),
        "diagnosis": patient.diagnosis,
        "iga_deficient_with_anti_iga": patient.iga_status == IgAStatus.DEFICIENT_ANTI_IGA,
        "hypersensitivity_to_immunoglobulin": patient.hypersensitivity_to_immunoglobulin,
        "corn_allergy": patient.corn_allergy,
        "hyperprolinaemia": patient.hyperprolinaemia,
        "juvenile_dermatomyositis": juvenile_dermatomyositis(patient.diagnosis, patient.age_on(day)),
        "at_risk": bool(reasons),
        "renal_risk": any(f.category == rules.RENAL for f in reasons),
        "at_risk_reasons": [
            {"category": f.category, "code": f.code, "text": f"{f.title}: {f.evidence}"} for f in reasons
        ],
        "computed_on": day.isoformat(),
    }
    plan = ctx.plan(
        indication,
        off_label_indication=labelled_for is not None and patient.diagnosis not in labelled_for,
        weight_kg=weight.weight_kg,
        height_cm=height.height_cm,
        sex=patient.sex_at_birth,
        dose_g_per_kg=dose,
        days=days,
        at_risk=inputs["at_risk"],
        age_years=inputs["age_years"],
        corn_allergy=inputs["corn_allergy"],
        renal_risk=inputs["renal_risk"],
        hyperprolinaemia=inputs["hyperprolinaemia"],
        juvenile_dermatomyositis=inputs["juvenile_dermatomyositis"],
    )
    prescribed_at = _at(day, time(10, rng.randint(0, 59)), ctx.tz)
    order = DoseOrder(
        patient=patient,
        product=indication.product,
        indication=indication,
        dose_g_per_kg=plan.dose_g_per_kg,
        days=plan.days,
        weight_basis=WeightBasis.AUTO,
        at_risk=plan.at_risk,
        at_risk_reasons=inputs["at_risk_reasons"],
        inputs=inputs,
        facts=ctx.facts_for(indication),
        plan=plan.to_dict(),
        catalog_revision=ctx.site.catalog_revision,
        status=OrderStatus.VERIFIED if verified else OrderStatus.AWAITING_VERIFICATION,
        prescribed_by=ctx.users[PHYSICIAN],
        prescribed_at=prescribed_at,
        verified_by=ctx.users[PHARMACIST] if verified else None,
        verified_at=prescribed_at + timedelta(hours=3) if verified else None,
    )
    return order, plan


def _visits(chart: _Chart, rng: random.Random, ctx: _Context, first_day: date, lab, untreated: bool) -> None:
    """A baseline before the first infusion, then a visit at each TIS due date (the default rhythm:
    every 4 weeks to week 16, then every 12 weeks; a few missed). Most improve; about 7 %
    deteriorate at the last two visits (ProDERM confirmed deterioration)."""
    today = ctx.today
    patient = chart.patient
    juvenile = patient.diagnosis == Diagnosis.JUVENILE_DM
    baseline_day = first_day - timedelta(days=rng.randint(2, 12))
    if baseline_day > today or (first_day > today and rng.random() < 0.5):
        return  # no visit yet: the sweep reminds about the baseline
    dates = [baseline_day]
    if not untreated:
        for due in timing.tis_assessment_due_dates(first_day, until=max(today, first_day)).due_dates:
            day = due + timedelta(days=rng.randint(-7, 7))
            if day <= today and rng.random() < 0.9:
                dates.append(day)
    dates = sorted(set(dates))
    scale = (
        MmtScale.CMAS if juvenile else (MmtScale.MMT8_BILATERAL if rng.random() < 0.25 else MmtScale.MMT8_UNILATERAL)
    )
    scale_max = {MmtScale.CMAS: 52, MmtScale.MMT8_BILATERAL: 150, MmtScale.MMT8_UNILATERAL: 80}[scale]
    base = {
        "physician": rng.uniform(4, 8),
        "patient": rng.uniform(4, 8),
        "mmt": scale_max * rng.uniform(0.55, 0.8),
        "haq": rng.uniform(0.75, 2.2),
        "extramuscular": rng.uniform(2, 6),
        "ck": rng.uniform(400, 7000),
    }
    response = rng.choices(["responder", "partial", "deteriorating"], weights=[66, 27, 7])[0]
    for number, day in enumerate(dates):
        weeks = max(0, (day - first_day).days / 7)
        gain = 0.0 if number == 0 else min(0.6, 0.1 + weeks / 60) if response == "responder" else 0.1
        worse = response == "deteriorating" and number >= 1 and number >= len(dates) - 2
        noise = rng.uniform(-0.03, 0.03)
        physician = base["physician"] * (1 - gain - noise) + (2.2 if worse else 0)
        extramuscular = base["extramuscular"] * (1 - gain - noise) + (2.6 if worse else 0)
        mmt = base["mmt"] + (scale_max - base["mmt"]) * (gain + noise) - (base["mmt"] * 0.22 if worse else 0)
        ck = base["ck"] * (1 - gain * 1.2 - noise)
        lab("ck", day, max(ck, 60))
        chart.visits.append(
            Visit(
                patient=patient,
                visit_date=day,
                assessor=ctx.users[PHYSICIAN],
                recorded_by=ctx.users[PHYSICIAN],
                is_baseline=number == 0,
                physician_global_cm=_d(max(0.0, min(10.0, physician))),
                patient_global_cm=_d(max(0.0, min(10.0, base["patient"] * (1 - gain - noise)))),
                mmt_scale=scale,
                mmt_score=_d(max(0.0, min(float(scale_max), mmt)), "1"),
                haq_instrument=HaqInstrument.CHAQ if juvenile else HaqInstrument.HAQ_DI,
                haq_score=Decimal(round(max(0.0, min(3.0, base["haq"] * (1 - gain - noise))) * 8)) / 8,
                extramuscular_global_cm=_d(max(0.0, min(10.0, extramuscular))),
                ck_u_per_l=_d(max(ck, 60), "1"),
                ck_uln_u_per_l=Decimal("200"),
                created_at=_at(day, time(14, 0), ctx.tz),
            )
        )


# ----------------------------------------------------------------------------- reading the chart


def _latest_measurement(chart: _Chart, field_name: str, on: date) -> _Row | None:
    found = [m for m in chart.measurements if getattr(m, field_name) is not None and m.measured_on <= on]
    return max(found, key=lambda m: (m.measured_on, m.created_at), default=None)


def _snapshot(
    chart: _Chart,
    on: date,
    *,
    next_cycle_on: date | None = None,
    planned_dose: Decimal | None = None,
    deterioration_on: date | None = None,
) -> rules.ChartSnapshot:
    """What risk.services.chart_snapshot reads from the database, read from the generated chart."""
    bmi, bmi_on = bmi_and_date(_latest_measurement(chart, "weight_kg", on), _latest_measurement(chart, "height_cm", on))
    labs: dict[str, list[rules.LabValue]] = {}
    for result in sorted(chart.labs, key=lambda r: (r.collected_on, r.created_at), reverse=True):
        if result.test in LAB_TESTS_READ and result.collected_on <= on:
            labs.setdefault(result.test, []).append(rules.LabValue(result.value, result.unit, result.collected_on))
    factors = tuple(
        (f.kind, f.get_kind_display(), f.noted_on)
        for f in sorted(chart.risk_factors, key=lambda f: f.kind)
        if f.noted_on <= on and (f.ended_on is None or f.ended_on > on)
    )
    current = [
        m
        for m in chart.medications
        if (m.started_on is None or m.started_on <= on) and (m.stopped_on is None or m.stopped_on > on)
    ]
    current.sort(key=lambda m: (m.stopped_on is not None, m.stopped_on or on, m.category, m.name))
    return rules.ChartSnapshot(
        **patient_snapshot_fields(chart.patient, on),
        bmi=bmi,
        bmi_on=bmi_on,
        risk_factors=factors,
        medications=tuple((m.category, m.name) for m in current),
        labs={test: tuple(values) for test, values in labs.items()},
        next_cycle_on=next_cycle_on,
        planned_dose_g_per_kg=planned_dose,
        confirmed_deterioration_on=deterioration_on,
    )


# ----------------------------------------------------------------------------- chairs


def _rotation_day(day: date) -> int:
    return (day - ROTATION_EPOCH).days % ROTATION_DAYS


def _assign_chairs(block: list[_Chart], block_number: int, opens_at: time) -> None:
    """Place each patient's cycles in one of the block's chairs, packed from opening time on each
    day of the 4-week rotation; a patient keeps one chair and clock for all their courses."""
    free = [[0] * ROTATION_DAYS for _ in range(CHAIRS_PER_BLOCK)]  # minutes after opening
    for chart in block:
        if not chart.courses:
            continue
        first = _rotation_day(chart.courses[0].starts[0])  # later courses continue the same rotation
        days = {(first + offset) % ROTATION_DAYS for course in chart.courses for offset in range(course.days)}
        minutes = max(c.minutes for c in chart.courses)
        chair, start = min(
            ((chair, max(free[chair][day] for day in days)) for chair in range(CHAIRS_PER_BLOCK)),
            key=lambda item: (item[1], item[0]),
        )
        end = -(-(start + minutes) // SLOT_MINUTES) * SLOT_MINUTES
        for day in days:
            free[chair][day] = end
        clock = (datetime.combine(ROTATION_EPOCH, opens_at) + timedelta(minutes=start)).time()
        for course in chart.courses:
            course.chair = block_number * CHAIRS_PER_BLOCK + chair + 1
            course.clock = clock


# ----------------------------------------------------------------------------- writing


class _Row:
    """A row of a table nothing reads back as a model: its values by attribute name, defaults
    (a fresh uuid, statuses) filled in as the model would, parents held as objects. Building
    one costs a fraction of a model instance, which matters at millions of rows."""

    # Per model: the constant defaults, and the fields whose default is made per row.
    _defaults: dict[type, tuple[dict, tuple]] = {}

    def __init__(self, model, **values):
        constants, made = self._defaults.get(model) or self._learn(model)
        row = {**constants, **values}
        for attname, make in made:
            if attname not in values:
                row[attname] = make()
        row["id"] = None
        self.__dict__ = row

    @classmethod
    def _learn(cls, model) -> tuple[dict, tuple]:
        constants, made = {}, []
        for f in model._meta.concrete_fields:
            if f.primary_key or f.is_relation:
                continue
            if f.has_default() and callable(f.default):
                made.append((f.attname, _uuid4_hex if f.default is uuid.uuid4 else f.default))
            else:
                constants[f.attname] = f.get_default()
        cls._defaults[model] = (constants, tuple(made))
        return cls._defaults[model]

    @property
    def pk(self):
        return self.id


# uuid.uuid4 reads 16 bytes from the kernel and builds a UUID object per call: a third of the
# time spent making rows at 400,000 uuids per 1,000 patients. These are the same random
# version-4 uuids as text (what PostgreSQL's COPY reads and SQLite's uuid column stores).
_UUID_RANDOM = random.Random()  # seeded from os.urandom: fresh uuids on every seeding
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def _uuid4_hex() -> str:
    """A random version-4 uuid as 32 hex digits.

    Example: uuid.UUID(_uuid4_hex()).version == 4
    """
    return f"{_UUID_RANDOM.getrandbits(128) & _UUID_CLEAR | _UUID_SET:032x}"


class _RowWriter:
    """Inserts model instances many rows per statement, with keys reserved up front.

    Measured: Django's bulk_create spends ~80 µs a row preparing each value through the generic
    field machinery, which for the millions of rows of a 10,000-patient clinic was over the five
    minutes the whole seeding may take. This writes the same columns, read per row by one
    itemgetter and adapted only where the type needs it. Keys are reserved first (PostgreSQL:
    one block from the table's sequence; SQLite: above the highest key, inside the write
    transaction), so children can point at parents written in the same chunk. PostgreSQL loads
    the rows with COPY, SQLite with executemany. No save(), no signals, no pre_save: every
    value, created_at included, is the one the seeder set. `seconds` holds the time spent
    writing each model's rows."""

    def __init__(self):
        self.layouts: dict[type, tuple[str, Callable]] = {}
        self.seconds: dict[str, float] = {}
        self.first_ids: dict[type, int] = {}

    def reserve_ids(self, model, count: int) -> range:
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # One block per table and chunk: a nextval per row cost ~6 µs each on the server.
                # The advisory lock (session-level: sequences are not transactional) keeps two
                # seeding workers from taking overlapping blocks; an insert by anything else in
                # between would make the load fail on the primary key, never overlap silently.
                cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [table])
                try:
                    cursor.execute(
                        "SELECT setval(s, nextval(s) + %s - 1) FROM pg_get_serial_sequence(%s, 'id') AS s",
                        [count, table],
                    )
                    last = cursor.fetchone()[0]
                finally:
                    cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [table])
                return range(last - count + 1, last + 1)
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            highest = cursor.fetchone()[0]
        return range(highest + 1, highest + 1 + count)

    def _layout(self, model) -> tuple[str, Callable]:
        """The column list and a function from an object to its row, in that order: plain values
        first (one C-level itemgetter over the object's attributes), then the foreign keys."""
        if model not in self.layouts:
            fields = model._meta.concrete_fields
            plain = [f for f in fields if not f.is_relation]
            relations = [f for f in fields if f.is_relation]
            get_plain = itemgetter(*(f.attname for f in plain))
            adapted = [(n, adapt) for n, f in enumerate(plain) if (adapt := self._adapter(f))]
            parents = [self._parent_key(f) for f in relations]

            def row(obj):
                values = list(get_plain(obj.__dict__))
                for n, adapt in adapted:
                    values[n] = adapt(values[n])
                values.extend(key(obj) for key in parents)
                return values

            quote = connection.ops.quote_name
            self.layouts[model] = (", ".join(quote(f.column) for f in [*plain, *relations]), row)
        return self.layouts[model]

    @staticmethod
    def _parent_key(field) -> Callable:
        name, attname = field.name, field.attname

        def key(obj):
            values = obj.__dict__
            value = values.get(attname)
            if value is None:
                parent = values.get(name) if isinstance(obj, _Row) else obj._state.fields_cache.get(name)
                value = None if parent is None else parent.pk
            return value

        return key

    @staticmethod
    def _adapter(field) -> Callable | None:
        """How a value of `field` goes to the database, or None where it goes as it is."""
        if isinstance(field, models.DateTimeField) and connection.vendor != "postgresql":
            # What Django's SQLite backend stores: naive UTC text (every seeded datetime is aware).
            return lambda value: None if value is None else str(value.astimezone(UTC).replace(tzinfo=None))
        if isinstance(field, models.UUIDField):
            # _Row's uuids are already text; a model instance's are UUID objects.
            return lambda value: value if isinstance(value, str) else field.get_db_prep_save(value, connection)
        if isinstance(field, models.JSONField):
            return lambda value: field.get_db_prep_save(value, connection)
        return None

    def insert(self, model, objs: list) -> None:
        if not objs:
            return
        started = perf_counter()
        ids = self.reserve_ids(model, len(objs))
        self.first_ids[model] = min(ids[0], self.first_ids.get(model, ids[0]))
        for obj, pk in zip(objs, ids, strict=True):
            obj.id = pk
        names, row = self._layout(model)
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # COPY: PostgreSQL's bulk load, several times faster than INSERTs for the same rows.
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for obj in objs:
                        copy.write_row(row(obj))
            else:
                placeholders = ", ".join(["%s"] * len(model._meta.concrete_fields))
                sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608
                for start in range(0, len(objs), BATCH_SIZE):
                    cursor.executemany(sql, [row(obj) for obj in objs[start : start + BATCH_SIZE]])
        name = model.__name__
        self.seconds[name] = self.seconds.get(name, 0.0) + perf_counter() - started


def _write(writer: _RowWriter, model, rows: list, counts: dict[str, int]) -> None:
    writer.insert(model, rows)
    counts[model.__name__] = counts.get(model.__name__, 0) + len(rows)


def _write_chunk(writer: _RowWriter, charts: list[_Chart], ctx: _Context, counts: dict[str, int]) -> None:
    _write(writer, Patient, [c.patient for c in charts], counts)
    _write(writer, BodyMeasurement, [m for c in charts for m in c.measurements], counts)
    _write(writer, LabResult, [r for c in charts for r in c.labs], counts)
    _write(writer, Medication, [m for c in charts for m in c.medications], counts)
    _write(writer, RiskFactor, [f for c in charts for f in c.risk_factors], counts)
    _write(writer, Visit, [v for c in charts for v in c.visits], counts)
    _write(writer, TreatmentCourse, [c.treatment_course for c in charts if c.treatment_course], counts)
    _write(writer, Review, [r for c in charts for r in c.reviews], counts)
    _write(writer, DoseOrder, [o for c in charts for o in c.orders], counts)

    courses: list[tuple[_Chart, _CoursePlan, Course]] = []
    for chart in charts:
        for plan in chart.courses:
            course = Course(
                order=plan.order,
                patient=chart.patient,
                interval_weeks=INTERVAL_WEEKS,
                days_per_cycle=plan.days,
                planned_cycles=len(plan.starts),
                first_day=plan.starts[0],
                status=plan.status,
                created_by=ctx.users[NURSE],
                created_at=plan.order.verified_at + timedelta(hours=2),
            )
            courses.append((chart, plan, course))
    _write(writer, Course, [course for _, _, course in courses], counts)
    # As scheduling's Course post_save does (bulk writes send no signals): the order was booked from.
    first_booked = Course.objects.filter(order=OuterRef("pk")).order_by("created_at").values("created_at")[:1]
    DoseOrder.objects.filter(pk__in={course.order_id for _, _, course in courses}).update(
        course_booked_at=Subquery(first_booked)
    )

    cycles: list[tuple[_Chart, _CoursePlan, Cycle]] = []
    for chart, plan, course in courses:
        for number, start in enumerate(plan.starts, start=1):
            cycles.append((chart, plan, _Row(Cycle, course=course, number=number, start_date=start)))
    _write(writer, Cycle, [cycle for _, _, cycle in cycles], counts)

    sessions: list[tuple[_Chart, _CoursePlan, Cycle, InfusionSession]] = []
    records: list[_Row] = []
    for chart, plan, cycle in cycles:
        rng = random.Random(f"sessions:{chart.index}:{cycle.start_date}")
        for day_number, day in enumerate(timing.cycle_days(cycle.start_date, plan.days), start=1):
            start = _at(day, plan.clock, ctx.tz)
            end = start + timedelta(minutes=plan.minutes)
            status, reason = SessionStatus.PLANNED, ""
            if end <= ctx.now:
                draw = rng.random()
                status = SessionStatus.COMPLETED
                if draw < SESSION_CHANCES["missed"]:
                    status, reason = SessionStatus.MISSED, "Did not attend"
                elif draw < SESSION_CHANCES["missed"] + SESSION_CHANCES["cancelled"]:
                    status, reason = SessionStatus.CANCELLED, "Unwell: rebooked with the next cycle"
            elif start <= ctx.now:
                status = SessionStatus.IN_PROGRESS
            elif start <= ctx.now + timedelta(days=7) and rng.random() < 0.7:
                status = SessionStatus.CONFIRMED
            session = _Row(
                InfusionSession,
                cycle=cycle,
                patient=chart.patient,
                day_number=day_number,
                chair=plan.chair,
                planned_start=start,
                expected_minutes=plan.minutes,
                status=status,
                status_reason=reason,
            )
            sessions.append((chart, plan, cycle, session))
            if status in (SessionStatus.COMPLETED, SessionStatus.IN_PROGRESS):
                started = start + timedelta(minutes=ctx.setup_minutes)
                stopped = started + timedelta(minutes=plan.infusion_minutes + rng.randint(-5, 20))
                done = status == SessionStatus.COMPLETED
                records.append(
                    _Row(
                        InfusionRecord,
                        session=session,
                        started_at=started,
                        stopped_at=stopped if done else None,
                        volume_given_ml=plan.daily_volume_ml if done else None,
                        completed_by=ctx.users[NURSE] if done else None,
                        completed_at=stopped + timedelta(minutes=10) if done else None,
                    )
                )
    _write(writer, InfusionSession, [s for _, _, _, s in sessions], counts)
    _write(writer, InfusionRecord, records, counts)
    # The start, stop and volume as entries (scheduling.models.RecordValue), as the services enter them.
    values = [
        _Row(
            RecordValue, record=record, kind=kind, recorded_by=ctx.users[NURSE], recorded_at=record.started_at, **value
        )
        for record in records
        for kind, value in (
            ("start", {"at": record.started_at}),
            ("stop", {"at": record.stopped_at}),
            ("volume", {"amount": record.volume_given_ml}),
        )
        if next(iter(value.values())) is not None
    ]
    _write(writer, RecordValue, values, counts)
    _write(writer, Reminder, _past_reminders(sessions, records, ctx), counts)
    # As scheduling.services.lifecycle.next_cycle_on: a cycle with a day still open today or later.
    start_of_today = _at(ctx.today, time(0, 0), ctx.tz)
    open_statuses = (SessionStatus.PLANNED, SessionStatus.CONFIRMED, SessionStatus.IN_PROGRESS)
    next_cycle: dict[int, date] = {}
    for chart, _, cycle, session in sessions:
        if session.planned_start >= start_of_today and session.status in open_statuses:
            next_cycle[chart.index] = min(cycle.start_date, next_cycle.get(chart.index, cycle.start_date))
    flags = {chart.index: _flags(chart, next_cycle.get(chart.index), ctx) for chart in charts}
    _write(writer, RiskFlag, [flag for chart in charts for flag in flags[chart.index]], counts)
    # The verdict risk.services.flags_recompute keeps on the patient, which dosing reads.
    # And, as scheduling.services.records.first_infusion_keep, the local day of the first start.
    # And the infusions given, as infusions_given_rows keeps them: one row per local day and product.
    first_started: dict[int, datetime] = {}
    given: dict[int, list[dict]] = {}
    for record in sorted(records, key=lambda record: record.started_at):
        patient = record.session.patient
        first_started[patient.pk] = min(record.started_at, first_started.get(patient.pk, record.started_at))
        product = record.session.cycle.course.order.product
        row = {
            "on": record.started_at.astimezone(ctx.tz).date().isoformat(),
            "product_slug": product.slug,
            "product_name": product.name,
        }
        if row not in given.setdefault(patient.pk, []):
            given[patient.pk].append(row)
    for chart in charts:
        chart.patient.risk_verdict = verdict_of(flags[chart.index], chart.considerations)
        started = first_started.get(chart.patient.pk)
        chart.patient.first_infusion_on = started.astimezone(ctx.tz).date() if started else None
        chart.patient.infusions_given = given.get(chart.patient.pk, [])
    Patient.objects.bulk_update(
        [chart.patient for chart in charts], ["risk_verdict", "first_infusion_on", "infusions_given"], batch_size=500
    )


def _end(session: _Row) -> datetime:
    return session.planned_start + timedelta(minutes=session.expected_minutes)


def _past_reminders(sessions, records, ctx: _Context) -> list[_Row]:
    """The reminders earlier sweeps created for cycles 6 to 16 weeks ago, all handled."""
    low, high = ctx.today - REMINDER_HISTORY[0], ctx.today - REMINDER_HISTORY[1]
    stopped = {record.session.pk: record.stopped_at for record in records if record.stopped_at}
    nurse = ctx.users[NURSE]
    reminders = []
    by_cycle: dict[int, list] = {}
    for chart, _, cycle, session in sessions:
        if low <= cycle.start_date < high:
            by_cycle.setdefault(cycle.pk, []).append((chart, cycle, session))
    for items in by_cycle.values():
        chart, cycle, _ = items[0]
        due = []
        for _, _, session in items if ctx.upcoming_days else ():  # 0: the unit has them switched off
            upcoming = timing.upcoming_infusion_reminder(
                session.planned_start, target=f"session-{session.pk}", tz=ctx.tz, days_before=ctx.upcoming_days
            )
            due.append((upcoming, session))
        completed = [s for _, _, s in items if s.status == SessionStatus.COMPLETED]
        if completed:
            last = max(completed, key=lambda s: stopped.get(s.pk) or _end(s))
            for check in timing.post_infusion_reminders(
                stopped.get(last.pk) or _end(last),
                target=f"cycle-{cycle.pk}",
                tz=ctx.tz,
                haemolysis_risk=chart.haemolysis_risk,
            ):
                due.append((check, last))
        for item, session in due:
            handled = item.due_at + timedelta(hours=2)
            reminders.append(
                _Row(
                    Reminder,
                    subject_key=item.subject_key,
                    kind=item.kind.value,
                    patient=chart.patient,
                    session=session,
                    cycle=cycle,
                    due_at=item.due_at,
                    window_end=item.window_end,
                    message=item.reason[:300],
                    role=KIND_ROLES[item.kind],
                    status=ReminderStatus.DONE,
                    emailed_at=item.due_at + timedelta(minutes=1),
                    read_at=handled,
                    done_by=nurse,
                    done_at=handled,
                    created_at=min(item.due_at, session.planned_start) - timedelta(days=1),
                )
            )
    return reminders


def _flags(chart: _Chart, next_cycle_on: date | None, ctx: _Context) -> list[RiskFlag]:
    """The flags risk.services.flags_recompute would hold for this chart now.

    Why not call risk.services.flags_recompute per patient: measured on PostgreSQL at 10,000
    patients it reads the chart back with 13 queries and ~40 ms a patient, about 400 s in all,
    more than the five minutes the whole seeding may take; the rules over the chart already in
    memory cost a few seconds. The same pure rules run either way, and a test checks that
    flags_recompute finds nothing to open, resolve or change."""
    live = [o for o in chart.orders if o.status in (OrderStatus.VERIFIED, OrderStatus.AWAITING_VERIFICATION)]
    latest_order = max(live, key=lambda o: o.prescribed_at, default=None)
    response = patient_response(chart.patient, chart.visits)
    snapshot = _snapshot(
        chart,
        ctx.today,
        next_cycle_on=next_cycle_on,
        planned_dose=latest_order.dose_g_per_kg if latest_order else None,
        deterioration_on=response.deterioration.confirmed_on if response.confirmed_deterioration else None,
    )
    rng = random.Random(f"flags:{chart.index}")
    first_order_day = min((o.prescribed_at for o in chart.orders), default=chart.patient.created_at)
    flags = []
    findings = rules.evaluate(snapshot, ctx.policy)
    chart.considerations = rules.prophylaxis_consideration(snapshot, findings)
    for finding in findings:
        seen = max(_at(finding.evidence_on, time(12, 0), ctx.tz), first_order_day) if finding.evidence_on else None
        seen = min(seen or first_order_day, ctx.now)
        acknowledged = finding.severity != rules.INFO and seen < ctx.now - timedelta(days=2) and rng.random() < 0.5
        flags.append(
            RiskFlag(
                patient=chart.patient,
                code=finding.code,
                category=finding.category,
                severity=finding.severity,
                title=finding.title,
                evidence=finding.evidence,
                evidence_on=finding.evidence_on,
                mitigation=finding.mitigation,
                source=finding.source,
                first_seen_at=seen,
                last_evaluated_at=ctx.now,
                acknowledged_by=ctx.users[PHYSICIAN] if acknowledged else None,
                acknowledged_at=seen + timedelta(days=1) if acknowledged else None,
                acknowledgement_comment=ACKNOWLEDGEMENT if acknowledged else "",
            )
        )
    return flags


# ----------------------------------------------------------------------------- the entry point


def seed_synthetic_clinic(
    *,
    patients: int,
    start_index: int = 0,
    today: date,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
    seconds: dict[str, float] | None = None,
    workers: int = 1,
) -> dict[str, int]:
    """Add synthetic patients `start_index` .. `start_index + patients - 1` with their history as
    of `today`. Returns the rows written per model; `seconds`, if given, receives where the time
    went, summed over the workers: "drawing" (the charts in memory) and each model's writing.
    `workers` > 1 seeds chunks in that many processes at once (PostgreSQL, outside a transaction
    only; otherwise one): the same patients, their keys in another order.

    Example: seed_synthetic_clinic(patients=1000, today=d) and then
    seed_synthetic_clinic(patients=9000, start_index=1000, today=d) leave a 10,000-patient clinic
    identical to one seeded at once (BENCH-000001 to BENCH-010000).
    """
    if patients < 0 or start_index < 0:
        raise ValueError("patients: must not be negative")
    tz = timezone.get_default_timezone()
    if now is None:
        now = timezone.now() if timezone.localdate() == today else _at(today, time(12, 0), tz)
    site = SiteSettings.load()
    unit = UnitSettings.load()
    ctx = _Context(
        today=today,
        now=now,
        tz=tz,
        users=bench_users(),
        indications={(i.product.slug, i.slug): i for i in Indication.objects.select_related("product")},
        site=site,
        policy=rules.SitePolicy(hyperviscosity_triglycerides_mg_dl=site.hyperviscosity_triglycerides_mg_dl),
        setup_minutes=unit.setup_minutes,
        upcoming_days=unit.upcoming_reminder_days,
    )
    postgresql = connection.vendor == "postgresql"
    job = _ChunkJob(ctx, seed, unit.opens_at, checks_in_bulk=postgresql and _superuser())
    chunks = []
    chunk_start, end = start_index, start_index + patients
    while chunk_start < end:
        # Chunks end on block boundaries, so no block is drawn twice (except a first partial one).
        chunk_end = min(end, (chunk_start // PATIENTS_PER_BLOCK + BLOCKS_PER_CHUNK) * PATIENTS_PER_BLOCK)
        chunks.append((chunk_start, chunk_end))
        chunk_start = chunk_end
    total = _ChunkResult(0, {model.__name__: 0 for model in EXPECTED_COUNTS}, {}, 0, {})
    processes = seeding_processes(
        workers=workers,
        chunks=len(chunks),
        vendor=connection.vendor,
        pooled=connection_pooled(connection.settings_dict),
        in_transaction=connection.in_atomic_block,
    )
    if processes > 1:
        global _JOB
        _JOB = job  # the forked workers inherit it
        # A connection must not be shared by forked processes: each worker opens its own.
        connections.close_all()
        # Each worker draws its uuids from a generator seeded afresh: forked, they would share one.
        with multiprocessing.get_context("fork").Pool(processes, initializer=_UUID_RANDOM.seed) as pool:
            for result in pool.imap_unordered(_run_job, chunks):
                total.add(result)
                if progress:
                    progress(total.patients, patients)
        _JOB = None
    else:
        for chunk in chunks:
            total.add(job(chunk))
            if progress:
                progress(total.patients, patients)
    if job.checks_in_bulk:
        _check_foreign_keys(total.first_ids)
    if patients:
        # Flags were written in bulk, past risk's services: fold them into the dashboard's figures.
        flag_summaries_rebuild()
    if postgresql and patients:
        # A live clinic's tables are vacuumed and analysed by autovacuum; right after a bulk load
        # they are not yet: plans made from empty-table statistics would not be the clinic's, and
        # without a visibility map no count is answered from an index alone. VACUUM cannot run
        # inside a transaction (a test's), where ANALYZE alone is done.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")
    if total.highest_chair > unit.chairs:
        # The synthetic unit has the chairs its patients need (more than a real unit's 60).
        UnitSettings.objects.filter(pk=unit.pk).update(chairs=total.highest_chair)
    if seconds is not None:
        for name, spent in total.seconds.items():
            seconds[name] = seconds.get(name, 0.0) + spent
    return total.counts


def connection_pooled(settings_dict: dict) -> bool:
    """Whether a DATABASES entry uses psycopg's connection pool (OPTIONS["pool"], as
    ivig_clinic.env_config sets it under production settings).

    Example: connection_pooled({"OPTIONS": {"pool": {"max_size": 2}}}) is True;
    connection_pooled({"OPTIONS": {}}) is False."""
    return bool((settings_dict.get("OPTIONS") or {}).get("pool"))


def seeding_processes(*, workers: int, chunks: int, vendor: str, pooled: bool, in_transaction: bool) -> int:
    """How many processes seed: `workers` only on PostgreSQL, outside a transaction (forked
    workers commit on their own connections), with more than one chunk, and without psycopg's
    pool: forked processes inherit the pool's connections and its worker threads, which they
    cannot use ("can't change autocommit now"), as `make load` found seeding under production
    settings. Otherwise 1, in this process.

    Example: seeding_processes(workers=2, chunks=53, vendor="postgresql", pooled=True,
    in_transaction=False) == 1; with pooled=False it is 2."""
    if workers > 1 and chunks > 1 and vendor == "postgresql" and not pooled and not in_transaction:
        return workers
    return 1


@dataclass
class _ChunkResult:
    patients: int
    counts: dict[str, int]
    seconds: dict[str, float]
    highest_chair: int
    first_ids: dict[type, int]  # the lowest key written per model

    def add(self, other: _ChunkResult) -> None:
        self.patients += other.patients
        for name, count in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + count
        for name, spent in other.seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + spent
        self.highest_chair = max(self.highest_chair, other.highest_chair)
        for model, first in other.first_ids.items():
            self.first_ids[model] = min(first, self.first_ids.get(model, first))


@dataclass
class _ChunkJob:
    """Draws and writes one chunk of patients in one transaction."""

    ctx: _Context
    seed: int
    opens_at: time
    checks_in_bulk: bool  # foreign keys checked once after the load, not by a trigger per row
    writer: _RowWriter = field(default_factory=_RowWriter)

    def __call__(self, chunk: tuple[int, int]) -> _ChunkResult:
        start, end = chunk
        self.writer.seconds, self.writer.first_ids = {}, {}
        drawing = perf_counter()
        charts = _charts(start, end, self.seed, self.ctx, self.opens_at)
        drawn = perf_counter() - drawing
        counts: dict[str, int] = {}
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    # A scratch clinic need not wait at each commit for its write-ahead log to
                    # reach the disk (a crash loses the last chunks, never corrupts): measured,
                    # a tenth of the seeding was these waits.
                    cursor.execute("SET LOCAL synchronous_commit = off")
                    if self.checks_in_bulk:
                        # The foreign-key triggers check each row with a query of its own at
                        # commit: measured, ~80 % of the server's time at 3 keys a row. They are
                        # left out here and _check_foreign_keys checks every key after the load
                        # in one anti-join per key (superuser only; no other trigger exists).
                        cursor.execute("SET LOCAL session_replication_role = replica")
            _write_chunk(self.writer, charts, self.ctx, counts)
        return _ChunkResult(
            end - start,
            counts,
            {"drawing": drawn, **self.writer.seconds},
            max((c.chair for chart in charts for c in chart.courses), default=0),
            dict(self.writer.first_ids),
        )


_JOB: _ChunkJob | None = None


def _run_job(chunk: tuple[int, int]) -> _ChunkResult:
    return _JOB(chunk)


def _superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('is_superuser') = 'on'")
        return cursor.fetchone()[0]


def _check_foreign_keys(first_ids: dict[type, int]) -> None:
    """Every foreign key written from `first_ids` on points at a row that exists, or raise: what
    the triggers left out of the load would have checked, one query per key."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model, first in first_ids.items():
            for key in (f for f in model._meta.concrete_fields if f.is_relation):
                child, column = quote(model._meta.db_table), quote(key.column)
                parent, target = quote(key.related_model._meta.db_table), quote(key.target_field.column)
                cursor.execute(
                    f"SELECT COUNT(*) FROM {child} c WHERE c.id >= %s AND c.{column} IS NOT NULL "  # noqa: S608
                    f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{target} = c.{column})",
                    [first],
                )
                missing = cursor.fetchone()[0]
                if missing:
                    raise IntegrityError(f"{missing:,} {model.__name__} rows point at no {key.name}: a seeding defect.")


def _charts(start: int, end: int, seed: int, ctx: _Context, opens_at: time) -> list[_Chart]:
    """Charts `start`..`end`-1, chairs assigned by block (earlier patients of a block are drawn
    again, unsaved, so a block is laid out the same whichever call seeds it)."""
    charts = []
    first_block, last_block = start // PATIENTS_PER_BLOCK, (end - 1) // PATIENTS_PER_BLOCK
    for block_number in range(first_block, last_block + 1):
        block_start = block_number * PATIENTS_PER_BLOCK
        indices = range(block_start, min(end, block_start + PATIENTS_PER_BLOCK))
        block = [_generate(index, seed, ctx) for index in indices]
        _assign_chairs(block, block_number, opens_at)
        charts.extend(chart for chart in block if chart.index >= start)
    return charts
