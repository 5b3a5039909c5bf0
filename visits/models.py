"""A clinic visit's six core set measures (2016 ACR/EULAR myositis response criteria).

Ranges are checked at the field and again by database constraints. The score itself
is computed, never stored: visits/tis.py from two visits, visits/scoring.py for a
patient's whole series against its baseline."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from simple_history.models import HistoricalRecords

from . import tis

ENZYME_NAMES = tis.ENZYMES  # ck, aldolase, ast, alt, ldh


class MmtScale(models.TextChoices):
    MMT8_UNILATERAL = "mmt8_80", "MMT-8 unilateral (0–80)"
    MMT8_BILATERAL = "mmt8_150", "MMT-8 bilateral (0–150)"
    CMAS = "cmas_52", "CMAS (0–52, juvenile)"


MMT_SCALE_MAX = {MmtScale.MMT8_UNILATERAL: 80, MmtScale.MMT8_BILATERAL: 150, MmtScale.CMAS: 52}


class HaqInstrument(models.TextChoices):
    HAQ_DI = "haq_di", "HAQ-DI"
    CHAQ = "chaq", "CHAQ (juvenile)"


def _vas(label: str):
    return models.DecimalField(
        label,
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("10"))],
        help_text="Visual analogue scale, 0–10 cm (0 = no activity).",
    )


def _enzyme_value(name: str):
    # Three decimals like lab results, so a prefilled value (aldolase 5.25 U/L) is kept as reported.
    return models.DecimalField(
        f"{name} (U/L)", max_digits=10, decimal_places=3, null=True, blank=True, validators=[MinValueValidator(0)]
    )


def _enzyme_uln(name: str):
    return models.DecimalField(
        f"{name} upper limit of normal (U/L)",
        max_digits=10,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.1"))],
    )


class VisitQuerySet(models.QuerySet):
    def chronological(self):
        return self.order_by("visit_date", "created_at")


class Visit(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="visits")
    visit_date = models.DateField()
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", help_text="Who assessed the patient."
    )
    is_baseline = models.BooleanField(
        "baseline visit",
        default=False,
        help_text="The visit every later TIS is measured against. Default when none is marked: "
        "the last visit on or before the first IVIG infusion.",
    )

    physician_global_cm = _vas("Physician global activity (cm)")
    patient_global_cm = _vas("Patient or parent global activity (cm)")
    mmt_scale = models.CharField("muscle strength scale", max_length=10, choices=MmtScale.choices, blank=True)
    mmt_score = models.DecimalField(
        "muscle strength score",
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("150"))],
    )
    # Per-muscle MMT-8 grades as entered (optional); mmt_score holds their sum.
    mmt_muscles = models.JSONField(default=dict, blank=True)
    haq_instrument = models.CharField(
        "function questionnaire", max_length=6, choices=HaqInstrument.choices, default=HaqInstrument.HAQ_DI
    )
    haq_score = models.DecimalField(
        "HAQ-DI / CHAQ score",
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("3"))],
    )
    # The 8 HAQ-DI category scores and aids as entered in the helper (optional).
    haq_categories = models.JSONField(default=dict, blank=True)
    extramuscular_global_cm = _vas("Extramuscular global activity (cm)")

    ck_u_per_l = _enzyme_value("CK")
    ck_uln_u_per_l = _enzyme_uln("CK")
    aldolase_u_per_l = _enzyme_value("Aldolase")
    aldolase_uln_u_per_l = _enzyme_uln("Aldolase")
    ast_u_per_l = _enzyme_value("AST")
    ast_uln_u_per_l = _enzyme_uln("AST")
    alt_u_per_l = _enzyme_value("ALT")
    alt_uln_u_per_l = _enzyme_uln("ALT")
    ldh_u_per_l = _enzyme_value("LDH")
    ldh_uln_u_per_l = _enzyme_uln("LDH")

    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = VisitQuerySet.as_manager()

    class Meta:
        ordering = ["-visit_date", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=Q(is_baseline=True), name="visit_one_baseline_per_patient"
            ),
            models.UniqueConstraint(fields=["patient", "visit_date"], name="visit_one_per_patient_per_day"),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__gte": 0, f"{name}__lte": 10}),
                    name=f"visit_{name}_0_to_10",
                )
                for name in ("physician_global_cm", "patient_global_cm", "extramuscular_global_cm")
            ],
            models.CheckConstraint(
                condition=Q(haq_score__isnull=True) | Q(haq_score__gte=0, haq_score__lte=3), name="visit_haq_0_to_3"
            ),
            models.CheckConstraint(
                condition=Q(mmt_score__isnull=True)
                | Q(mmt_scale="mmt8_80", mmt_score__gte=0, mmt_score__lte=80)
                | Q(mmt_scale="mmt8_150", mmt_score__gte=0, mmt_score__lte=150)
                | Q(mmt_scale="cmas_52", mmt_score__gte=0, mmt_score__lte=52),
                name="visit_mmt_within_its_scale",
            ),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{name}_u_per_l__isnull": True})
                    | Q(**{f"{name}_u_per_l__gte": 0, f"{name}_uln_u_per_l__gt": 0}),
                    name=f"visit_{name}_with_uln",
                )
                for name in ENZYME_NAMES
            ],
        ]

    def __str__(self):
        return f"Visit {self.visit_date:%Y-%m-%d} ({self.patient.mrn})"

    def get_absolute_url(self) -> str:
        return reverse("visits:detail", kwargs={"visit_uuid": self.uuid})

    def clean(self):
        errors = {}
        if self.mmt_score is not None:
            if not self.mmt_scale:
                errors["mmt_scale"] = "Say which scale the muscle strength score is on."
            elif self.mmt_score > MMT_SCALE_MAX[self.mmt_scale]:
                errors["mmt_score"] = f"{self.get_mmt_scale_display()} goes up to {MMT_SCALE_MAX[self.mmt_scale]}."
        for name in ENZYME_NAMES:
            if getattr(self, f"{name}_u_per_l") is not None and getattr(self, f"{name}_uln_u_per_l") is None:
                errors[f"{name}_uln_u_per_l"] = "Enter the laboratory's upper limit of normal for this enzyme."
        if self.patient_id and self.visit_date and self.visit_date < self.patient.date_of_birth:
            errors["visit_date"] = "This date is before the patient's date of birth."
        elif (
            self.patient_id
            and self.visit_date
            and Visit.objects.filter(patient_id=self.patient_id, visit_date=self.visit_date)
            .exclude(pk=self.pk)
            .exists()
        ):
            errors["visit_date"] = "This patient already has a visit on this day: correct that visit instead."
        if errors:
            raise ValidationError(errors)

    @property
    def mmt_max(self) -> int | None:
        return MMT_SCALE_MAX.get(self.mmt_scale)

    def enzymes(self) -> dict[str, tuple[Decimal, Decimal]]:
        """The enzymes measured at this visit: name -> (value U/L, ULN U/L)."""
        panel = {}
        for name in ENZYME_NAMES:
            value = getattr(self, f"{name}_u_per_l")
            uln = getattr(self, f"{name}_uln_u_per_l")
            if value is not None and uln is not None:
                panel[name] = (value, uln)
        return panel

    def core_set_measures(self) -> tis.CoreSetMeasures:
        return tis.CoreSetMeasures(
            physician_global=self.physician_global_cm,
            patient_global=self.patient_global_cm,
            mmt=self.mmt_score,
            haq=self.haq_score,
            extramuscular_global=self.extramuscular_global_cm,
            enzymes=self.enzymes(),
        )
