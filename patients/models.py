"""The patient registry: identity, diagnosis, antibodies, measurements, labs,
medications and the risk factors named by the IVIG boxed warning.

Every clinical model keeps its own audit history (django-simple-history): who
changed what, when, with the values before and after.
"""

import uuid
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from simple_history.models import HistoricalRecords

from accounts.input_rules import validate_identifier

from . import medicines

MAX_WEIGHT_KG = Decimal("350")
MIN_HEIGHT_CM = Decimal("40")
MAX_HEIGHT_CM = Decimal("250")


def validate_weight_kg(value):
    if value is not None and not (0 < value <= MAX_WEIGHT_KG):
        raise ValidationError("Weight must be above 0 kg and at most 350 kg.", code="weight_range")


def validate_height_cm(value):
    if value is not None and not (MIN_HEIGHT_CM <= value <= MAX_HEIGHT_CM):
        raise ValidationError("Height must be between 40 cm and 250 cm.", code="height_range")


def validate_not_negative(value):
    if value is not None and value < 0:
        raise ValidationError("A result cannot be below 0.", code="negative")


def validate_positive(value):
    if value is not None and value <= 0:
        raise ValidationError("Must be above 0.", code="not_positive")


class SexAtBirth(models.TextChoices):
    # Needed for ideal body weight (Devine), which has only these two formulas.
    FEMALE = "female", "Female"
    MALE = "male", "Male"


class Diagnosis(models.TextChoices):
    ADULT_DM = "adult_dm", "Dermatomyositis (adult)"
    JUVENILE_DM = "juvenile_dm", "Juvenile dermatomyositis"
    AMYOPATHIC_DM = "amyopathic_dm", "Clinically amyopathic dermatomyositis"
    POLYMYOSITIS = "polymyositis", "Polymyositis"
    IMNM = "imnm", "Immune-mediated necrotising myopathy"
    OTHER = "other", "Other (specify)"


class MyositisAntibody(models.TextChoices):
    TIF1G = "tif1g", "Anti-TIF1γ"
    NXP2 = "nxp2", "Anti-NXP2"
    MDA5 = "mda5", "Anti-MDA5"
    SAE = "sae", "Anti-SAE"
    MI2 = "mi2", "Anti-Mi-2"
    JO1 = "jo1", "Anti-Jo-1 / antisynthetase"
    HMGCR = "hmgcr", "Anti-HMGCR"
    SRP = "srp", "Anti-SRP"
    OTHER = "other", "Other (specify)"


class IgAStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not tested"
    NORMAL = "normal", "Normal"
    DEFICIENT = "deficient", "IgA deficient"
    # Contraindication on every IVIG label when there is also a history of hypersensitivity.
    DEFICIENT_ANTI_IGA = "deficient_anti_iga", "IgA deficient with anti-IgA antibodies"


class BloodGroup(models.TextChoices):
    UNKNOWN = "unknown", "Not known"
    O = "O", "O"  # noqa: E741 - the blood group's name
    A = "A", "A"
    B = "B", "B"
    AB = "AB", "AB"


class AntiphospholipidScreen(models.TextChoices):
    # Lupus anticoagulant, anticardiolipin and anti-beta2-glycoprotein I antibodies. Screening DM
    # patients for pro-thrombotic factors is site policy after the ProDERM editorial, not label text.
    NEGATIVE = "negative", "Negative"
    POSITIVE = "positive", "Positive (any of lupus anticoagulant, anticardiolipin, anti-β2-glycoprotein I)"
    EQUIVOCAL = "equivocal", "Equivocal or low titre (repeat after 12 weeks)"


class PatientQuerySet(models.QuerySet):
    def with_current_measurements(self):
        """Annotate the latest weight and height (one query, whatever the number of patients)."""

        def latest(field: str, column: str):
            return models.Subquery(
                BodyMeasurement.objects.filter(patient=models.OuterRef("pk"), **{f"{field}__isnull": False})
                .order_by("-measured_on", "-created_at")
                .values(column)[:1]
            )

        return self.annotate(
            current_weight_kg=latest("weight_kg", "weight_kg"),
            current_weight_on=latest("weight_kg", "measured_on"),
            current_height_cm=latest("height_cm", "height_cm"),
            current_height_on=latest("height_cm", "measured_on"),
        )

    def with_week_zero(self):
        """Patients with a week 0 of IVIG (Patient.ivig_week_zero): recorded, or derived from an infusion given."""
        return self.filter(Q(ivig_started_on__isnull=False) | Q(first_infusion_on__isnull=False))

    def without_week_zero(self):
        return self.filter(ivig_started_on__isnull=True, first_infusion_on__isnull=True)

    def in_registry(self):
        """Patients not removed from the registry (Patient.archived_at): what every list shows."""
        return self.filter(archived_at__isnull=True)

    def search(self, query: str):
        query = (query or "").strip()
        if not query:
            return self
        if "\x00" in query:
            # No stored text holds a NUL byte (PostgreSQL refuses to compare with one), so nothing matches.
            return self.none()
        condition = Q(mrn__iexact=query) | Q(mrn__istartswith=query)
        for term in query.replace(",", " ").split():
            condition |= Q(family_name__icontains=term) | Q(given_name__icontains=term)
        return self.filter(condition)


class VerdictFlag(NamedTuple):
    """One active risk flag as the verdict carries it (see Patient.risk_verdict)."""

    code: str
    category: str
    severity: str
    title: str
    evidence: str
    mitigation: str


WEEK_ZERO_RECORDED = "recorded"
WEEK_ZERO_DERIVED = "derived from the first infusion given"


class WeekZero(NamedTuple):
    """The patient's week 0 of IVIG and where it comes from (WEEK_ZERO_RECORDED or _DERIVED)."""

    on: date
    source: str

    @property
    def derived(self) -> bool:
        return self.source == WEEK_ZERO_DERIVED


def week_zero(ivig_started_on: date | None, first_infusion_on: date | None) -> WeekZero | None:
    """Week 0 of IVIG: the first infusion date recorded on the patient, else the day the first
    infusion given started (kept by scheduling); None when neither exists. A recorded date wins,
    even when the infusions given say otherwise (treatment may have begun at another hospital).

    Example: nothing recorded, first infusion started 2026-08-01 → (2026-08-01, derived);
    recorded 2026-07-15 → (2026-07-15, recorded).
    """
    if ivig_started_on is not None:
        return WeekZero(ivig_started_on, WEEK_ZERO_RECORDED)
    if first_infusion_on is not None:
        return WeekZero(first_infusion_on, WEEK_ZERO_DERIVED)
    return None


class Patient(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    mrn = models.CharField(
        "MRN", max_length=32, unique=True, validators=[validate_identifier], help_text="Medical record number"
    )
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex_at_birth = models.CharField(max_length=6, choices=SexAtBirth.choices)

    diagnosis = models.CharField(max_length=20, choices=Diagnosis.choices)
    diagnosis_other = models.CharField("other diagnosis", max_length=200, blank=True)
    diagnosis_date = models.DateField("date of diagnosis", null=True, blank=True)
    antibodies = models.JSONField(
        "myositis antibodies (positive)", default=list, blank=True, help_text="Codes from MyositisAntibody"
    )
    antibody_other = models.CharField("other antibody", max_length=100, blank=True)

    iga_status = models.CharField("IgA status", max_length=20, choices=IgAStatus.choices, default=IgAStatus.UNKNOWN)
    hypersensitivity_to_immunoglobulin = models.BooleanField(
        "history of severe hypersensitivity to human immunoglobulin", default=False
    )
    corn_allergy = models.BooleanField(
        default=False, help_text="Octagam contains maltose from corn; also falsely raises GDH-PQQ glucose readings."
    )
    hyperprolinaemia = models.BooleanField(
        "hyperprolinaemia (type I or II)",
        default=False,
        help_text="Privigen is stabilised with L-proline and is contraindicated in hyperprolinaemia.",
    )
    allergies = models.TextField("other allergies", blank=True)
    blood_group = models.CharField(
        max_length=7,
        choices=BloodGroup.choices,
        default=BloodGroup.UNKNOWN,
        blank=True,
        help_text="Non-O blood groups carry a higher risk of haemolysis with IVIG (label).",
    )
    cancer_screen_on = models.DateField(
        "last cancer screen",
        null=True,
        blank=True,
        help_text="Anti-TIF1γ dermatomyositis is cancer-associated: date of the last age-appropriate screen.",
    )
    antiphospholipid_screen = models.CharField(
        "antiphospholipid antibody screen",
        max_length=10,
        choices=AntiphospholipidScreen.choices,
        blank=True,
        help_text="Lupus anticoagulant, anticardiolipin and anti-β2-glycoprotein I antibodies, before the first cycle.",
    )
    antiphospholipid_screen_on = models.DateField("antiphospholipid screen taken on", null=True, blank=True)
    ivig_started_on = models.DateField(
        "first IVIG infusion",
        null=True,
        blank=True,
        help_text="Date of the first IVIG infusion of the current treatment (week 0 for the TIS week-16 response).",
    )
    notes = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Raised by every edit of these details; the edit page posts the version it showed, so a
    # second person saving from an older page cannot silently overwrite the first.
    version = models.PositiveIntegerField(default=1)
    # The risk rules' verdict on this chart, written by risk.services.flags_recompute after every
    # change the rules read (and nightly), so that dosing, a layer below risk, reads it without
    # importing risk: {"at_risk": [flag], "contraindications": [flag]}, each flag a dict of
    # VerdictFlag's fields. Derived data: not in the patient's history, never edited by hand.
    risk_verdict = models.JSONField(default=dict, blank=True, editable=False)
    # The local date of the earliest infusion start recorded for this patient, kept by
    # scheduling (scheduling.services.records.first_infusion_keep) whenever a start is recorded
    # or corrected, so that visits reads week 0 without importing scheduling. Derived data, like
    # the verdict: not in the patient's history, never edited by hand. See `ivig_week_zero`.
    first_infusion_on = models.DateField(null=True, blank=True, editable=False)
    # Every infusion started for this patient, one per local day, oldest first: [{"on": ISO date,
    # "product_slug", "product_name"}], kept by scheduling with first_infusion_on, so that dosing
    # (the order, the infusion sheet) tells a first infusion (dosing.first_infusion) without
    # importing scheduling. Derived data, like the verdict: not in the history, never edited.
    infusions_given = models.JSONField(default=list, blank=True, editable=False)
    # Removed from the registry (a duplicate, registered in error, moved to another clinic): never
    # deleted, so the chart and its audit trail stay readable by URL; hidden from the lists.
    archived_at = models.DateTimeField("removed from the registry at", null=True, blank=True, editable=False)
    archive_reason = models.CharField("reason for removal", max_length=200, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["risk_verdict", "first_infusion_on", "infusions_given"])

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["family_name", "given_name", "mrn"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(diagnosis="other") | ~Q(diagnosis_other=""),
                name="patient_other_diagnosis_named",
            ),
            models.CheckConstraint(
                condition=Q(archived_at__isnull=True, archive_reason="")
                | (Q(archived_at__isnull=False) & ~Q(archive_reason="")),
                name="patient_archived_with_reason",
            ),
        ]
        indexes = [
            # The patient list: the registry in its order, so a page is the next 25 entries of this
            # index rather than a sort of every patient; its count is read off the index alone.
            models.Index(
                fields=["family_name", "given_name", "mrn"],
                condition=Q(archived_at__isnull=True),
                name="patient_registry",
            ),
        ]

    def __str__(self):
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    def get_absolute_url(self) -> str:
        return reverse("patients:detail", kwargs={"patient_uuid": self.uuid})

    def clean(self):
        self.blood_group = self.blood_group or BloodGroup.UNKNOWN  # left empty on a form: not known
        if self.diagnosis == Diagnosis.OTHER and not self.diagnosis_other.strip():
            raise ValidationError({"diagnosis_other": "Name the diagnosis."})
        if MyositisAntibody.OTHER in (self.antibodies or []) and not self.antibody_other.strip():
            raise ValidationError({"antibody_other": "Name the other antibody."})
        unknown = set(self.antibodies or []) - set(MyositisAntibody.values)
        if unknown:
            raise ValidationError({"antibodies": f"Unknown antibody codes: {', '.join(sorted(unknown))}."})
        if self.diagnosis_date and self.date_of_birth and self.diagnosis_date < self.date_of_birth:
            raise ValidationError({"diagnosis_date": "The diagnosis date is before the date of birth."})
        if self.ivig_started_on and self.date_of_birth and self.ivig_started_on < self.date_of_birth:
            raise ValidationError({"ivig_started_on": "The first infusion is dated before the date of birth."})
        if bool(self.antiphospholipid_screen) != bool(self.antiphospholipid_screen_on):
            missing = "antiphospholipid_screen_on" if self.antiphospholipid_screen else "antiphospholipid_screen"
            raise ValidationError({missing: "Give both the screen's result and the date it was taken."})

    @property
    def ivig_week_zero(self) -> WeekZero | None:
        """Week 0 of IVIG (see `week_zero`): the recorded first infusion, else the first one given."""
        return week_zero(self.ivig_started_on, self.first_infusion_on)

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def initials(self) -> str:
        return f"{self.given_name[:1]}{self.family_name[:1]}".upper()

    def latest_measurement(self, field: str, on) -> "BodyMeasurement | None":
        """The newest measurement on or before `on` that has `field` ("weight_kg" or "height_cm").

        Example: weights of 71.5 kg on 2026-10-01 and 70.2 kg on 2026-11-01 → the 2026-11-01 one.
        """
        return (
            self.measurements.filter(**{f"{field}__isnull": False}, measured_on__lte=on)
            .order_by("-measured_on", "-created_at")
            .first()
        )

    def verdict_flags(self, kind: str) -> list[VerdictFlag]:
        """The active flags of one part of the risk verdict: "at_risk" (thrombosis or renal
        flags that lower the rate cap, by category then code) or "contraindications" (by code).
        Read afresh from the database: risk may have written it since this row was loaded."""
        if self.pk is not None:
            self.refresh_from_db(fields=["risk_verdict"])
        return [VerdictFlag(**flag) for flag in (self.risk_verdict or {}).get(kind, [])]

    def age_on(self, day) -> int:
        before_birthday = (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day)
        return day.year - self.date_of_birth.year - before_birthday

    def get_antibodies_display(self) -> list[str]:
        labels = dict(MyositisAntibody.choices)
        shown = [labels.get(code, code) for code in self.antibodies if code != MyositisAntibody.OTHER]
        if MyositisAntibody.OTHER in self.antibodies and self.antibody_other:
            shown.append(self.antibody_other)
        return shown

    @property
    def diagnosis_display(self) -> str:
        if self.diagnosis == Diagnosis.OTHER:
            return self.diagnosis_other
        return self.get_diagnosis_display()


class ClinicalRecord(models.Model):
    """Fields every dated record under a patient shares."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    past_date_fields: tuple[str, ...] = ()  # dates that cannot lie in the future
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class BodyMeasurement(ClinicalRecord):
    """A dated weight and/or height. The current value is the latest one."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="measurements")
    measured_on = models.DateField()
    weight_kg = models.DecimalField(
        "weight (kg)", max_digits=4, decimal_places=1, null=True, blank=True, validators=[validate_weight_kg]
    )
    height_cm = models.DecimalField(
        "height (cm)", max_digits=4, decimal_places=1, null=True, blank=True, validators=[validate_height_cm]
    )
    history = HistoricalRecords()
    past_date_fields = ("measured_on",)

    class Meta:
        ordering = ["-measured_on", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight_kg__isnull=False) | Q(height_cm__isnull=False), name="measurement_has_a_value"
            ),
            models.CheckConstraint(
                condition=Q(weight_kg__isnull=True) | Q(weight_kg__gt=0, weight_kg__lte=MAX_WEIGHT_KG),
                name="measurement_weight_in_range",
            ),
            models.CheckConstraint(
                condition=Q(height_cm__isnull=True) | Q(height_cm__gte=MIN_HEIGHT_CM, height_cm__lte=MAX_HEIGHT_CM),
                name="measurement_height_in_range",
            ),
        ]
        indexes = [models.Index(fields=["patient", "-measured_on"])]

    def __str__(self):
        parts = []
        if self.weight_kg is not None:
            parts.append(f"{self.weight_kg} kg")
        if self.height_cm is not None:
            parts.append(f"{self.height_cm} cm")
        return f"{' / '.join(parts)} on {self.measured_on:%Y-%m-%d}"

    def clean(self):
        if self.weight_kg is None and self.height_cm is None:
            raise ValidationError("Enter a weight, a height, or both.", code="empty")
        if self.patient_id and self.measured_on and self.measured_on < self.patient.date_of_birth:
            raise ValidationError({"measured_on": "This date is before the patient's date of birth."})


class LabTest(models.TextChoices):
    CK = "ck", "CK"
    ALDOLASE = "aldolase", "Aldolase"
    AST = "ast", "AST"
    ALT = "alt", "ALT"
    LDH = "ldh", "LDH"
    CREATININE = "creatinine", "Creatinine"
    EGFR = "egfr", "eGFR"
    BUN = "bun", "BUN"
    HAEMOGLOBIN = "haemoglobin", "Haemoglobin"
    HAEMATOCRIT = "haematocrit", "Haematocrit"
    PLATELETS = "platelets", "Platelets"
    IGA = "iga", "IgA"
    D_DIMER = "d_dimer", "D-dimer"
    TRIGLYCERIDES = "triglycerides", "Triglycerides"


class LabResult(ClinicalRecord):
    """One dated result. Each test has one unit, fixed by LAB_CATALOG, so values are comparable."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="lab_results")
    test = models.CharField(max_length=20, choices=LabTest.choices)
    collected_on = models.DateField()
    value = models.DecimalField(
        "value (in the test's unit)", max_digits=10, decimal_places=3, validators=[validate_not_negative]
    )
    unit = models.CharField(max_length=24, editable=False)
    upper_limit_normal = models.DecimalField(
        "upper limit of normal", max_digits=10, decimal_places=3, null=True, blank=True, validators=[validate_positive]
    )
    history = HistoricalRecords()
    past_date_fields = ("collected_on",)

    class Meta:
        ordering = ["-collected_on", "test", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="lab_value_not_negative"),
            models.CheckConstraint(
                condition=Q(upper_limit_normal__isnull=True) | Q(upper_limit_normal__gt=0),
                name="lab_uln_positive",
            ),
        ]
        indexes = [models.Index(fields=["patient", "test", "-collected_on"])]

    def __str__(self):
        return f"{self.get_test_display()} {self.value.normalize():f} {self.unit} on {self.collected_on:%Y-%m-%d}"

    def clean(self):
        from .labs import LAB_CATALOG

        definition = LAB_CATALOG.get(self.test)
        if definition is None:
            return
        # The unit is fixed per test, so results stay comparable over time; a blank
        # ULN takes the site's reference range for the test.
        self.unit = definition.unit
        if self.upper_limit_normal is None:
            self.upper_limit_normal = definition.default_uln
        if self.value is not None and self.value > definition.max_plausible:
            raise ValidationError(
                {
                    "value": f"{self.value.normalize():f} {definition.unit} is above the highest plausible "
                    f"{self.get_test_display()} ({definition.max_plausible.normalize():f} {definition.unit}). "
                    "Check the unit."
                }
            )
        if self.patient_id and self.collected_on and self.collected_on < self.patient.date_of_birth:
            raise ValidationError({"collected_on": "This date is before the patient's date of birth."})

    @property
    def above_upper_limit(self) -> bool:
        return self.upper_limit_normal is not None and self.value > self.upper_limit_normal

    @property
    def loinc(self) -> str:
        from .labs import LAB_CATALOG

        return LAB_CATALOG[self.test].loinc


class MedicationCategory(models.TextChoices):
    GLUCOCORTICOID = "glucocorticoid", "Glucocorticoid"
    IMMUNOSUPPRESSANT = "immunosuppressant", "Immunosuppressant"
    ESTROGEN = "estrogen", "Estrogen-containing (boxed-warning thrombosis risk)"
    ANTICOAGULANT = "anticoagulant", "Anticoagulant"
    NEPHROTOXIC = "nephrotoxic", "Nephrotoxic (boxed-warning renal risk)"
    OTHER = "other", "Other"


class MedicationQuerySet(models.QuerySet):
    def current_on(self, day):
        return self.filter(Q(started_on__isnull=True) | Q(started_on__lte=day)).filter(
            Q(stopped_on__isnull=True) | Q(stopped_on__gt=day)
        )


class Medication(ClinicalRecord):
    """A concomitant drug. Current while it has no stop date (or the stop date is still ahead)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="medications")
    category = models.CharField(max_length=20, choices=MedicationCategory.choices)
    name = models.CharField(max_length=120)
    daily_dose_mg = models.DecimalField(
        "daily dose (mg)",
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Required for glucocorticoids (mg per day).",
        validators=[validate_positive],
    )
    started_on = models.DateField(null=True, blank=True)
    stopped_on = models.DateField(null=True, blank=True)
    history = HistoricalRecords()

    objects = MedicationQuerySet.as_manager()
    past_date_fields = ("started_on",)  # a planned stop date may lie ahead

    class Meta:
        # Current drugs (no stop date) first on every database; NULL order differs between them.
        ordering = [models.F("stopped_on").asc(nulls_first=True), "category", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(daily_dose_mg__isnull=True) | Q(daily_dose_mg__gt=0), name="medication_dose_positive"
            ),
            models.CheckConstraint(
                condition=~Q(category="glucocorticoid") | Q(daily_dose_mg__isnull=False),
                name="medication_glucocorticoid_has_dose",
            ),
            models.CheckConstraint(
                condition=Q(started_on__isnull=True)
                | Q(stopped_on__isnull=True)
                | Q(stopped_on__gte=models.F("started_on")),
                name="medication_stop_after_start",
            ),
        ]

    def __str__(self):
        dose = f" {self.daily_dose_mg.normalize():f} mg/day" if self.daily_dose_mg is not None else ""
        return f"{self.name}{dose}"

    @property
    def recognition(self) -> medicines.Recognition | None:
        """The drug class the name is recognised as (patients.medicines), whatever the category."""
        return medicines.recognise(self.name)

    @property
    def prednisone_equivalent_mg(self) -> Decimal | None:
        """A glucocorticoid's daily dose as prednisone (mg), None where the table cannot convert it.

        Example: methylprednisolone 16 mg/day -> Decimal('20.0').
        """
        if self.category != MedicationCategory.GLUCOCORTICOID or self.daily_dose_mg is None:
            return None
        return medicines.prednisone_equivalent_mg(self.name, self.daily_dose_mg)

    def clean(self):
        if self.category == MedicationCategory.GLUCOCORTICOID and self.daily_dose_mg is None:
            raise ValidationError({"daily_dose_mg": "Enter the glucocorticoid's daily dose in mg."})
        if self.started_on and self.stopped_on and self.stopped_on < self.started_on:
            raise ValidationError({"stopped_on": "The stop date is before the start date."})


class RiskFactorKind(models.TextChoices):
    # Thrombosis risk factors named by the IVIG class boxed warning.
    VENOUS_THROMBOSIS = "venous_thrombosis", "History of venous thrombosis (DVT/PE)"
    ARTERIAL_THROMBOSIS = "arterial_thrombosis", "History of arterial thrombosis (MI, stroke)"
    IMMOBILISATION = "immobilisation", "Prolonged immobilisation"
    HYPERCOAGULABLE = "hypercoagulable", "Hypercoagulable condition"
    ANTIPHOSPHOLIPID = "antiphospholipid", "Antiphospholipid antibodies"
    CENTRAL_CATHETER = "central_catheter", "Indwelling central vascular catheter"
    PARAPROTEIN = "paraprotein", "Paraprotein / monoclonal gammopathy (hyperviscosity)"
    CRYOGLOBULINS = "cryoglobulins", "Cryoglobulins (hyperviscosity)"
    HYPERTRIGLYCERIDAEMIA = "hypertriglyceridaemia", "Very high triglycerides (hyperviscosity)"
    HYPERTENSION = "hypertension", "Hypertension"
    DIABETES = "diabetes", "Diabetes mellitus"
    HYPERLIPIDAEMIA = "hyperlipidaemia", "Hyperlipidaemia"
    SMOKING = "smoking", "Smoking"
    CORONARY_DISEASE = "coronary_disease", "Coronary artery disease"
    CEREBROVASCULAR_DISEASE = "cerebrovascular_disease", "Cerebrovascular disease"
    ACTIVE_MALIGNANCY = "active_malignancy", "Active malignancy"
    # Renal risk factors named by the boxed warning (besides age, diabetes, labs and drugs).
    RENAL_INSUFFICIENCY = "renal_insufficiency", "Known renal insufficiency"
    VOLUME_DEPLETION = "volume_depletion", "Volume depletion"
    SEPSIS = "sepsis", "Sepsis"


class RiskFactorQuerySet(models.QuerySet):
    def active(self):
        return self.filter(ended_on__isnull=True)


class RiskFactor(ClinicalRecord):
    """A boxed-warning risk factor, dated so later rules can say since when it applies."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="risk_factors")
    kind = models.CharField("risk factor", max_length=32, choices=RiskFactorKind.choices)
    noted_on = models.DateField(help_text="Date of the event or of the diagnosis.")
    ended_on = models.DateField(null=True, blank=True, help_text="Leave empty while it still applies.")
    comment = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    objects = RiskFactorQuerySet.as_manager()
    past_date_fields = ("noted_on", "ended_on")

    class Meta:
        ordering = [models.F("ended_on").asc(nulls_first=True), "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "kind"], condition=Q(ended_on__isnull=True), name="risk_factor_one_active_per_kind"
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("noted_on")),
                name="risk_factor_ends_after_noted",
            ),
        ]

    def __str__(self):
        return self.get_kind_display()

    def clean(self):
        if (
            self.patient_id
            and self.ended_on is None
            and RiskFactor.objects.active()
            .filter(patient_id=self.patient_id, kind=self.kind)
            .exclude(pk=self.pk)
            .exists()
        ):
            raise ValidationError({"kind": "This risk factor is already recorded as current for this patient."})
        if self.noted_on and self.ended_on and self.ended_on < self.noted_on:
            raise ValidationError({"ended_on": "The end date is before the date it was noted."})
        if self.patient_id and self.noted_on and self.noted_on < self.patient.date_of_birth:
            raise ValidationError({"noted_on": "This date is before the patient's date of birth."})

    @property
    def is_active(self) -> bool:
        return self.ended_on is None
