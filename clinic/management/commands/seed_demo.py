"""A fictional demo clinic: one user per role and patients that exercise the app
(obesity, old age with low eGFR, juvenile DM, prior DVT on estrogen, IgA
deficiency with anti-IgA, corn allergy, a spread of myositis antibodies).

Safe to run twice: users are matched by username, patients by MRN, and an
existing patient is left as it is. Dates are relative to today.
"""

import secrets
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.roles import NURSE, PHARMACIST, PHYSICIAN, VIEWER
from dosing.models import Indication
from dosing.services.orders import dose_order_create, dose_order_verify
from patients import services
from patients.models import Patient
from scheduling.services.courses import course_plan
from visits.services import visit_record

DEMO_USERS = [
    # username, first name, last name, role
    ("physician", "Maya", "Okafor", PHYSICIAN),
    ("pharmacist", "Daniel", "Reyes", PHARMACIST),
    ("nurse", "Grace", "Lindqvist", NURSE),
    ("viewer", "Sam", "Turner", VIEWER),
]


def demo_password(username: str) -> str:
    return f"ivig-demo-{username}"


@dataclass
class DemoPatient:
    mrn: str
    given_name: str
    family_name: str
    age_years: int
    sex_at_birth: str
    diagnosis: str
    diagnosed_months_ago: int
    weight_kg: str
    height_cm: str
    antibodies: list[str]
    iga_status: str = "normal"
    hypersensitivity_to_immunoglobulin: bool = False
    corn_allergy: bool = False
    allergies: str = ""
    notes: str = ""
    labs: list[tuple[str, int, str]] = field(default_factory=list)  # test, days ago, value
    medications: list[tuple[str, str, str | None]] = field(default_factory=list)  # category, name, mg/day
    risk_factors: list[tuple[str, int, str]] = field(default_factory=list)  # kind, days ago, comment
    earlier_weight_kg: str | None = None
    ivig_weeks_ago: int | None = None
    screened: bool = False  # cancer screen done at diagnosis
    # Core set measures by week since the first infusion (negative: before it). Keys as in DEMO_VISIT_FIELDS.
    visits: list[tuple[int, tuple]] = field(default_factory=list)


# physician VAS, patient VAS, MMT scale, MMT score, HAQ, CK U/L, CK ULN, extramuscular VAS
DEMO_VISIT_FIELDS = (
    "physician_global_cm",
    "patient_global_cm",
    "mmt_scale",
    "mmt_score",
    "haq_score",
    "ck_u_per_l",
    "ck_uln_u_per_l",
    "extramuscular_global_cm",
)
# The TIS worked example of the 2016 criteria, reached at week 16: TIS 35, minimal improvement.
RESPONDER_VISITS = [
    (-1, ("6", "7", "mmt8_80", "60", "1.5", "3000", "200", "4")),
    (4, ("5.5", "6.5", "mmt8_80", "62", "1.4", "2900", "200", "3.8")),
    (8, ("5", "6", "mmt8_80", "64", "1.3", "2800", "200", "3.2")),
    (12, ("4.8", "5.8", "mmt8_80", "66", "1.2", "2650", "200", "2.8")),
    (16, ("4.5", "5.5", "mmt8_80", "68", "1.05", "2550", "200", "2.5")),
]
# Extramuscular activity up by 2 cm or more at two consecutive visits: ProDERM confirmed deterioration.
DETERIORATING_VISITS = [
    (-1, ("4", "4", "mmt8_150", "120", "1", "980", "200", "2")),
    (4, ("4.2", "4.5", "mmt8_150", "118", "1.1", "900", "200", "4.5")),
    (8, ("4.5", "5", "mmt8_150", "117", "1.1", "950", "200", "4.2")),
]
JUVENILE_VISITS = [
    (-1, ("5", "6", "cmas_52", "30", "1.5", "1800", "200", "5")),
    (4, ("4", "5", "cmas_52", "35", "1.25", "1200", "200", "3.5")),
]


DEMO_PATIENTS = [
    DemoPatient(
        "DEMO-0001",
        "Alice",
        "Martin",
        52,
        "female",
        "adult_dm",
        8,
        "70.0",
        "170.0",
        ["tif1g"],
        notes="Age-appropriate cancer screen done at diagnosis.",
        screened=True,
        ivig_weeks_ago=18,
        visits=RESPONDER_VISITS,
        labs=[
            ("ck", 10, "3000"),
            ("aldolase", 10, "18.5"),
            ("creatinine", 10, "0.8"),
            ("egfr", 10, "88"),
            ("haemoglobin", 10, "12.9"),
        ],
        medications=[("glucocorticoid", "Prednisone", "20"), ("immunosuppressant", "Methotrexate", None)],
    ),
    DemoPatient(
        "DEMO-0002",
        "Brenda",
        "Kowalski",
        47,
        "female",
        "adult_dm",
        20,
        "112.0",
        "165.0",
        ["nxp2"],
        notes="Obese: BMI above 30, so dosing uses adjusted body weight by default.",
        labs=[("ck", 7, "1450"), ("creatinine", 7, "0.9"), ("egfr", 7, "79"), ("triglycerides", 7, "210")],
        medications=[("glucocorticoid", "Prednisone", "15")],
        risk_factors=[("hypertension", 900, ""), ("diabetes", 700, "Type 2, on metformin")],
        earlier_weight_kg="115.5",
    ),
    DemoPatient(
        "DEMO-0003",
        "Harold",
        "Nguyen",
        78,
        "male",
        "polymyositis",
        40,
        "68.4",
        "172.0",
        ["jo1"],
        notes="Elderly with chronic kidney disease stage 3a.",
        labs=[("ck", 14, "2200"), ("creatinine", 14, "1.6"), ("egfr", 14, "42"), ("bun", 14, "31")],
        medications=[("glucocorticoid", "Prednisone", "10"), ("nephrotoxic", "Ibuprofen (as needed)", None)],
        risk_factors=[
            ("hypertension", 3000, ""),
            ("coronary_disease", 2000, "Stent 2021"),
            ("renal_insufficiency", 800, "CKD 3a"),
        ],
    ),
    DemoPatient(
        "DEMO-0004",
        "Lily",
        "Fernandes",
        11,
        "female",
        "juvenile_dm",
        5,
        "36.2",
        "146.0",
        ["nxp2"],
        notes="Juvenile DM: the TIS uses juvenile thresholds.",
        ivig_weeks_ago=6,
        visits=JUVENILE_VISITS,
        labs=[("ck", 12, "1800"), ("aldolase", 12, "14.0"), ("ldh", 12, "420"), ("creatinine", 12, "0.5")],
        medications=[("glucocorticoid", "Prednisolone", "30")],
    ),
    DemoPatient(
        "DEMO-0005",
        "Sofia",
        "Almeida",
        34,
        "female",
        "adult_dm",
        3,
        "61.0",
        "163.0",
        ["mda5"],
        notes="Deep-vein thrombosis two years ago; combined oral contraceptive.",
        labs=[("ck", 5, "620"), ("creatinine", 5, "0.7"), ("d_dimer", 5, "0.4")],
        medications=[("estrogen", "Ethinylestradiol/levonorgestrel", None), ("glucocorticoid", "Prednisone", "40")],
        risk_factors=[("venous_thrombosis", 730, "Left femoral DVT, treated 6 months")],
    ),
    DemoPatient(
        "DEMO-0006",
        "Omar",
        "Haddad",
        45,
        "male",
        "imnm",
        14,
        "84.0",
        "181.0",
        ["hmgcr"],
        iga_status="deficient_anti_iga",
        hypersensitivity_to_immunoglobulin=True,
        notes="Anaphylaxis to a plasma product in 2019. Anti-IgA antibodies positive.",
        labs=[("ck", 9, "8400"), ("iga", 200, "2"), ("creatinine", 9, "1.0")],
        medications=[("glucocorticoid", "Prednisone", "25")],
    ),
    DemoPatient(
        "DEMO-0007",
        "Priya",
        "Shah",
        39,
        "female",
        "amyopathic_dm",
        10,
        "58.5",
        "160.0",
        ["sae"],
        corn_allergy=True,
        allergies="Corn (urticaria)",
        labs=[("ck", 20, "150"), ("creatinine", 20, "0.7")],
        medications=[("immunosuppressant", "Mycophenolate mofetil", None)],
    ),
    DemoPatient(
        "DEMO-0008",
        "Thomas",
        "Becker",
        61,
        "male",
        "adult_dm",
        30,
        "88.0",
        "178.0",
        ["mi2", "srp"],
        notes="Port-a-cath for venous access; current smoker.",
        ivig_weeks_ago=10,
        visits=DETERIORATING_VISITS,
        labs=[("ck", 8, "980"), ("creatinine", 8, "1.1"), ("egfr", 8, "71"), ("platelets", 8, "310")],
        medications=[("glucocorticoid", "Prednisone", "7.5"), ("anticoagulant", "Apixaban", "10")],
        risk_factors=[("central_catheter", 120, "Port-a-cath"), ("smoking", 4000, "20 pack-years")],
    ),
]


# Patients given a verified Octagam order and a 4-weekly course starting next Monday, so the
# chair week view, the dashboard and the reminders have something to show.
DEMO_COURSES = [("DEMO-0001", 1), ("DEMO-0005", 2)]


class Command(BaseCommand):
    help = "Load the fictional demo clinic (users for each role and demo patients). Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Load demo data even with DEBUG off (never on a live clinic)."
        )

    def handle(self, *args, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo loads fictional patients; it runs only with DEBUG on (or --force).")
        today = timezone.localdate()
        with transaction.atomic():
            users = self._users()
            created = [p.mrn for p in DEMO_PATIENTS if self._patient(p, by=users[PHYSICIAN], today=today)]
            for mrn, chair in DEMO_COURSES:
                if mrn in created:
                    self._course(Patient.objects.get(mrn=mrn), users=users, chair=chair, today=today)
        self.stdout.write(
            f"Demo clinic: {len(created)} patient(s) added, {len(DEMO_PATIENTS) - len(created)} already there."
        )
        if settings.DEBUG:
            self.stdout.write("Demo logins (username / password):")
            for username, _, _, role in DEMO_USERS:
                self.stdout.write(f"  {role:<11} {username} / {demo_password(username)}")
        else:
            self.stdout.write("Demo users have random passwords; set one with `manage.py changepassword <username>`.")

    def _users(self) -> dict:
        users = {}
        for username, first, last, role in DEMO_USERS:
            user, _ = get_user_model().objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last}
            )
            # Printed passwords only exist with DEBUG on; otherwise nobody knows them.
            user.set_password(demo_password(username) if settings.DEBUG else secrets.token_urlsafe(24))
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            users[role] = user
        return users

    def _course(self, patient: Patient, *, users: dict, chair: int, today: date) -> None:
        indication = Indication.objects.get(product__slug="octagam-10", slug="dermatomyositis")
        order = dose_order_create(
            by=users[PHYSICIAN],
            patient=patient,
            indication=indication,
            dose_g_per_kg=Decimal("2"),
            days=2,
            weight_basis="auto",
            today=today,
        )
        dose_order_verify(by=users[PHARMACIST], order=order)
        next_monday = today + timedelta(days=7 - today.weekday())
        course_plan(
            by=users[NURSE],
            order=order,
            first_day=next_monday,
            start_time=time(9, 0),
            chair=chair,
            cycles=3,
            today=today,
            accept_warnings=True,
        )

    def _patient(self, demo: DemoPatient, *, by, today: date) -> bool:
        if Patient.objects.filter(mrn=demo.mrn).exists():
            return False
        born = today - timedelta(days=round(Decimal("365.25") * demo.age_years) + 40)
        patient = services.patient_create(
            by=by,
            today=today,
            mrn=demo.mrn,
            given_name=demo.given_name,
            family_name=demo.family_name,
            date_of_birth=born,
            sex_at_birth=demo.sex_at_birth,
            diagnosis=demo.diagnosis,
            diagnosis_date=today - timedelta(days=30 * demo.diagnosed_months_ago),
            antibodies=demo.antibodies,
            iga_status=demo.iga_status,
            hypersensitivity_to_immunoglobulin=demo.hypersensitivity_to_immunoglobulin,
            corn_allergy=demo.corn_allergy,
            allergies=demo.allergies,
            notes=demo.notes,
            cancer_screen_on=today - timedelta(days=30 * demo.diagnosed_months_ago) if demo.screened else None,
            ivig_started_on=today - timedelta(weeks=demo.ivig_weeks_ago) if demo.ivig_weeks_ago else None,
            weight_kg=Decimal(demo.weight_kg),
            height_cm=Decimal(demo.height_cm),
            measured_on=today - timedelta(days=3),
        )
        if demo.earlier_weight_kg:
            services.measurement_record(
                by=by,
                patient=patient,
                measured_on=today - timedelta(days=90),
                weight_kg=Decimal(demo.earlier_weight_kg),
            )
        for test, days_ago, value in demo.labs:
            services.lab_result_record(
                by=by, patient=patient, test=test, collected_on=today - timedelta(days=days_ago), value=Decimal(value)
            )
        for category, name, dose in demo.medications:
            services.medication_record(
                by=by,
                patient=patient,
                category=category,
                name=name,
                daily_dose_mg=Decimal(dose) if dose else None,
                started_on=today - timedelta(days=60),
            )
        for kind, days_ago, comment in demo.risk_factors:
            services.risk_factor_record(
                by=by, patient=patient, kind=kind, noted_on=today - timedelta(days=days_ago), comment=comment
            )
        for weeks, values in demo.visits:
            measures = dict(zip(DEMO_VISIT_FIELDS, values, strict=True))
            visit_record(
                by=by,
                patient=patient,
                today=today,
                visit_date=patient.ivig_started_on + timedelta(weeks=weeks),
                is_baseline=weeks < 0,
                haq_instrument="chaq" if demo.diagnosis == "juvenile_dm" else "haq_di",
                **{key: value if key == "mmt_scale" else Decimal(value) for key, value in measures.items()},
            )
        return True
