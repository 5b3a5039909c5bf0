"""The IVIG product catalog, the site's dosing settings and dose orders.

Catalog rows are loaded by a migration from dosing/catalog/ivig-products.yaml
(figures with how sure each is); a pharmacist keeps the site's part (vial sizes
in stock, tolerance, the site at-risk cap) up to date in the app. An order keeps
a snapshot of every input, the facts and the computed plan it was made with, so
later edits to the catalog or the patient never rewrite it.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from accounts.errors import FieldError

from .barcodes import gtin14, ndc_digits, ndc_mismatch
from .chart_limits import first_infusion_plan, lower_plan


class LabelStatus(models.TextChoices):
    LABEL = "label", "US prescribing information"
    MAKER = "maker", "Maker's US professional page (restates the label)"
    EU = "eu", "EU product information (not the US label)"
    SECONDARY = "secondary", "Secondary source (monograph, pharmacy or hospital policy)"
    UNCONFIRMED = "unconfirmed", "Unconfirmed: applied as site policy"


class Product(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    maker = models.CharField(max_length=100, blank=True)
    concentration_mg_per_ml = models.DecimalField(
        "concentration (mg/mL)", max_digits=6, decimal_places=1, validators=[MinValueValidator(Decimal("1"))]
    )
    label_vial_sizes_g = models.JSONField("vial sizes marketed (g)", default=list)
    vial_sizes_in_stock_g = models.JSONField(
        "vial sizes in stock (g)", default=list, help_text="The sizes pharmacy can dispense; dosing rounds to these."
    )
    vial_sizes_note = models.CharField(max_length=300, blank=True)
    at_risk_cap_mg_per_kg_min = models.DecimalField(
        "at-risk rate cap (mg/kg/min)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The label's ceiling for patients at risk of thrombosis or renal dysfunction; "
        "empty where the label gives no number (the site cap applies).",
    )
    at_risk_cap_note = models.CharField(max_length=300, blank=True)
    contraindications = models.JSONField(default=list, blank=True)
    excipient_notes = models.JSONField(default=list, blank=True)
    contains_maltose = models.BooleanField(default=False)
    contains_proline = models.BooleanField(
        default=False, help_text="L-proline as a stabiliser (Privigen): contraindicated in hyperprolinaemia."
    )
    sources = models.JSONField(default=list, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(concentration_mg_per_ml__gt=0), name="product_concentration_positive"),
            models.CheckConstraint(
                condition=Q(at_risk_cap_mg_per_kg_min__isnull=True) | Q(at_risk_cap_mg_per_kg_min__gt=0),
                name="product_at_risk_cap_positive",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("dosing:product", kwargs={"slug": self.slug})


def validate_gtin14(value: str) -> None:
    """A GTIN stored as its 14 digits with a right GS1 check digit (dosing.barcodes.gtin14)."""
    try:
        normalised = gtin14(value)
    except FieldError as error:
        raise ValidationError(error.sentence) from None
    if normalised != value:
        raise ValidationError(f"Store the GTIN as its 14 digits: {normalised}.")


def validate_ndc(value: str) -> None:
    try:
        ndc_digits(value)
    except FieldError as error:
        raise ValidationError(error.sentence) from None


class PresentationQuerySet(models.QuerySet):
    def on_file(self):
        """The presentations a scan may name: not withdrawn."""
        return self.filter(withdrawn_at__isnull=True)


class ProductPresentation(models.Model):
    """One package of a product as pharmacy receives it: its vial size, the NDC and GTIN printed
    on it, and where those come from. Scanning a vial at the chair looks its GTIN up here.

    A presentation without a GTIN says which marketed size has none on file yet; a pharmacist
    adds the one on the site's stock. NDC and GTIN are never entered without their source. A GTIN
    put on file by mistake is withdrawn with a reason: the row stays, shown struck through, and a
    scan no longer finds it (``PresentationQuerySet.on_file``).
    """

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="presentations")
    vial_size_g = models.DecimalField(
        "vial size (g)", max_digits=5, decimal_places=2, validators=[MinValueValidator(Decimal("0.5"))]
    )
    package = models.CharField(max_length=100, blank=True, help_text="e.g. carton of 1 vial, 50 mL")
    ndc = models.CharField("NDC", max_length=12, blank=True, validators=[validate_ndc], help_text="As printed.")
    gtin = models.CharField("GTIN-14", max_length=14, blank=True, validators=[validate_gtin14])
    source = models.CharField(max_length=300, blank=True, help_text="Where the NDC and GTIN come from.")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    added_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    withdrawal_reason = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    objects = PresentationQuerySet.as_manager()

    class Meta:
        ordering = ["product__name", "vial_size_g", "-gtin", "pk"]
        constraints = [
            # A GTIN names one package on file; a withdrawn one may be put on file again.
            models.UniqueConstraint(
                fields=["gtin"], condition=~Q(gtin="") & Q(withdrawn_at__isnull=True), name="presentation_gtin_unique"
            ),
            models.CheckConstraint(
                condition=(Q(withdrawn_at__isnull=True) & Q(withdrawn_by__isnull=True) & Q(withdrawal_reason=""))
                | (Q(withdrawn_at__isnull=False) & Q(withdrawn_by__isnull=False) & ~Q(withdrawal_reason="")),
                name="presentation_withdrawal_has_who_when_why",
            ),
            models.CheckConstraint(condition=Q(vial_size_g__gt=0), name="presentation_vial_size_positive"),
            # A product code in a medical catalog always says where it comes from.
            models.CheckConstraint(
                condition=(Q(gtin="") & Q(ndc="")) | ~Q(source=""), name="presentation_code_has_source"
            ),
        ]

    def __str__(self):
        return f"{self.vial_text}{f' ({self.gtin})' if self.gtin else ''}"

    @property
    def vial_text(self) -> str:
        """What the vial is, in a sentence: "Privigen 10%, 40 g"."""
        return f"{self.product.name}, {format(self.vial_size_g.normalize(), 'f')} g"

    def clean(self):
        errors = {}
        marketed = {Decimal(size) for size in self.product.label_vial_sizes_g} if self.product_id else set()
        if self.product_id and self.vial_size_g is not None and self.vial_size_g not in marketed:
            listed = ", ".join(self.product.label_vial_sizes_g) + " g"
            errors["vial_size_g"] = (
                f"{self.product.name} is marketed in {listed}; not in {self.vial_size_g.normalize():f} g."
            )
        if (self.gtin or self.ndc) and not self.source.strip():
            errors["source"] = "Say where the NDC and GTIN come from (e.g. the carton in stock, a label, a listing)."
        if self.gtin and self.ndc:
            try:
                mismatch = ndc_mismatch(self.ndc, self.gtin)
            except FieldError:
                mismatch = None  # the NDC's own validator says what is wrong with it
            if mismatch:
                errors["ndc"] = mismatch
        if errors:
            raise ValidationError(errors)


class Indication(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="indications")
    slug = models.SlugField()
    name = models.CharField(max_length=100)
    label_status = models.CharField(max_length=12, choices=LabelStatus.choices)
    population = models.CharField(
        max_length=10, blank=True, choices=[("adults", "Adults only")], help_text="Empty: no age restriction stated."
    )
    dose_g_per_kg_min = models.DecimalField(max_digits=4, decimal_places=2)
    dose_g_per_kg_max = models.DecimalField(max_digits=4, decimal_places=2)
    days_min = models.PositiveSmallIntegerField()
    days_max = models.PositiveSmallIntegerField()
    interval_weeks_min = models.PositiveSmallIntegerField(null=True, blank=True)
    interval_weeks_max = models.PositiveSmallIntegerField(null=True, blank=True)
    maintenance = models.CharField(max_length=200, blank=True)
    # [{"rate_mg_per_kg_min": "1.0", "minutes": 30}, ..., {"rate_mg_per_kg_min": "4.0", "minutes": null}]
    steps = models.JSONField()
    max_rate_mg_per_kg_min = models.DecimalField("indication maximum rate (mg/kg/min)", max_digits=5, decimal_places=2)
    site_protocol = models.BooleanField(
        default=False,
        help_text="The ladder is the site's default protocol; the label only says how to start and the maximum.",
    )
    step_rule = models.CharField(max_length=100, blank=True, help_text="The label's own words on raising the rate.")
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["product__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["product", "slug"], name="indication_unique_per_product"),
            models.CheckConstraint(
                condition=Q(dose_g_per_kg_min__gt=0) & Q(dose_g_per_kg_max__gte=F("dose_g_per_kg_min")),
                name="indication_dose_range",
            ),
            models.CheckConstraint(
                condition=Q(days_min__gte=1) & Q(days_max__gte=F("days_min")), name="indication_days_range"
            ),
            models.CheckConstraint(condition=Q(max_rate_mg_per_kg_min__gt=0), name="indication_max_rate_positive"),
        ]

    def __str__(self):
        return f"{self.product.name} — {self.name}"

    @property
    def is_on_label(self) -> bool:
        return self.label_status in (LabelStatus.LABEL, LabelStatus.MAKER)


class SiteSettings(models.Model):
    """The site's dosing policy: one row, edited by pharmacists, audited."""

    rounding_tolerance_percent = models.DecimalField(
        "vial rounding tolerance (%)",
        max_digits=4,
        decimal_places=1,
        default=Decimal("10"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("20"))],
        help_text="Round a daily dose to whole vials only when within this percentage of the prescribed dose.",
    )
    site_at_risk_cap_mg_per_kg_min = models.DecimalField(
        "site at-risk rate cap (mg/kg/min)",
        max_digits=4,
        decimal_places=2,
        default=Decimal("3.3"),
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("8"))],
        help_text="Site policy for at-risk patients: applies where the product's label gives no number, "
        "and where it is stricter than the label's figure (the stricter of the two always applies).",
    )
    adjusted_weight_factor = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.4"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text="Adjusted body weight = IBW + factor × (actual − IBW).",
    )
    adjusted_weight_bmi_threshold = models.DecimalField(
        "BMI from which 'auto' uses adjusted weight",
        max_digits=4,
        decimal_places=1,
        default=Decimal("30"),
        validators=[MinValueValidator(Decimal("18.5")), MaxValueValidator(Decimal("60"))],
    )
    hyperviscosity_triglycerides_mg_dl = models.DecimalField(
        "triglycerides flagged as hyperviscosity (mg/dL)",
        max_digits=6,
        decimal_places=0,
        default=Decimal("1000"),
        validators=[MinValueValidator(Decimal("150")), MaxValueValidator(Decimal("5000"))],
        help_text="Site policy: the labels name 'very high triglycerides' without a number.",
    )
    # Pharmacy limits (issue 15). No label gives a daily gram ceiling or a pump ceiling: both are
    # site policy; the pump figures are what common volumetric pumps deliver.
    daily_dose_ceiling_g = models.DecimalField(
        "ceiling on grams per infusion day (g)",
        max_digits=5,
        decimal_places=1,
        default=Decimal("140"),
        validators=[MinValueValidator(Decimal("10")), MaxValueValidator(Decimal("500"))],
        help_text="Site policy (no label gives one): a day above this asks the prescriber to confirm or split it.",
    )
    pump_rate_ceiling_ml_per_h = models.DecimalField(
        "ceiling on pump rate (mL/h)",
        max_digits=5,
        decimal_places=1,
        default=Decimal("999"),
        validators=[MinValueValidator(Decimal("50")), MaxValueValidator(Decimal("1200"))],
        help_text="Site policy: common volumetric pumps run up to 999 mL/h; no step of a ladder goes above it.",
    )
    pump_rate_minimum_ml_per_h = models.DecimalField(
        "lowest pump rate the unit's pumps deliver (mL/h)",
        max_digits=3,
        decimal_places=1,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("10"))],
        help_text="A step below this is flagged: the pump cannot run it as planned.",
    )
    vial_proposal = models.CharField(
        "amount proposed when whole vials are used",
        max_length=8,
        choices=[("nearest", "The nearest amount to the dose"), ("fewest", "The fewest vials within tolerance")],
        default="nearest",
    )
    first_infusion_first_step_factor = models.PositiveSmallIntegerField(
        "first infusion: first step held this many times its minutes",
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(4)],
        help_text="Site policy for an IVIG-naive patient, a product switch or a long gap (1 = no slower start).",
    )
    first_infusion_gap_weeks = models.PositiveSmallIntegerField(
        "weeks without IVIG after which an infusion counts as a first one",
        default=8,
        validators=[MinValueValidator(4), MaxValueValidator(52)],
    )
    # Treatment pathway (issue 15): stewardship reviews (Ontario IG utilisation guidance: review
    # no later than 6 months, then at least yearly) and the TIS rhythm (ProDERM: every 4 weeks to
    # week 16). Site settings with those defaults.
    review_first_months = models.PositiveSmallIntegerField(
        "first stewardship review after (months)", default=6, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    review_every_months = models.PositiveSmallIntegerField(
        "then a review every (months)", default=12, validators=[MinValueValidator(1), MaxValueValidator(24)]
    )
    review_reminder_days = models.PositiveSmallIntegerField(
        "remind the physician this many days before a review falls due",
        default=28,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
    )
    tis_every_weeks_early = models.PositiveSmallIntegerField(
        "TIS assessment every (weeks) at first", default=4, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    tis_early_until_week = models.PositiveSmallIntegerField(
        "... until week", default=16, validators=[MinValueValidator(4), MaxValueValidator(52)]
    )
    tis_every_weeks_after = models.PositiveSmallIntegerField(
        "then a TIS assessment every (weeks)", default=12, validators=[MinValueValidator(4), MaxValueValidator(52)]
    )
    catalog_revision = models.PositiveIntegerField(
        default=1, help_text="Raised by every change to the catalog or these settings; orders record it."
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "site dosing settings"
        verbose_name_plural = "site dosing settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="site_settings_single_row")]

    def __str__(self):
        return "Site dosing settings"

    @classmethod
    def load(cls) -> "SiteSettings":
        return cls.objects.get_or_create(pk=1)[0]


class WeightBasis(models.TextChoices):
    AUTO = "auto", "Automatic (adjusted weight when BMI ≥ threshold, otherwise actual)"
    ACTUAL = "actual", "Actual body weight"
    IDEAL = "ideal", "Ideal body weight (never above actual)"
    ADJUSTED = "adjusted", "Adjusted body weight (never above actual)"


class OrderStatus(models.TextChoices):
    AWAITING_VERIFICATION = "awaiting_verification", "Awaiting pharmacist verification"
    VERIFIED = "verified", "Verified"
    # The chart changed the at-risk verdict after verification. The order stays in use, held to
    # the lower of the verified plan and today's (see DoseOrder.administration_plan), while a
    # pharmacist verifies the plan from today's chart.
    REVIEW = "review", "In use; chart changed, verify again"
    # A change of dose (weight or dosing weight by 10 % or more), a new contraindication, or a
    # chart that can no longer be dosed: nothing is given until a pharmacist verifies again.
    REVERIFY = "reverify", "Needs verification again"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


# Orders the chair may give from (REVIEW under the lower of its verified and today's limits).
ADMINISTRABLE_STATUSES = (OrderStatus.VERIFIED, OrderStatus.REVIEW)
# Orders waiting for a pharmacist.
PENDING_STATUSES = (OrderStatus.AWAITING_VERIFICATION, OrderStatus.REVERIFY, OrderStatus.REVIEW)
# Orders that follow the chart: every one that is not rejected or cancelled.
OPEN_STATUSES = (OrderStatus.AWAITING_VERIFICATION, OrderStatus.VERIFIED, OrderStatus.REVIEW, OrderStatus.REVERIFY)
# scheduling.models.CourseStatus.ACTIVE, named here for DoseOrderQuerySet.to_schedule (dosing may
# not import scheduling); scheduling's tests hold the two equal.
# "The dose order ..." in a sentence, for every status.
STATUS_SENTENCES = {
    OrderStatus.AWAITING_VERIFICATION: "is awaiting pharmacist verification",
    OrderStatus.VERIFIED: "is verified",
    OrderStatus.REVIEW: "is in use but its chart changed: a pharmacist must verify it again",
    OrderStatus.REVERIFY: "needs verification again",
    OrderStatus.REJECTED: "was rejected",
    OrderStatus.CANCELLED: "was cancelled",
}


class HydrationFluid(models.TextChoices):
    NONE = "none", "None"
    SODIUM_CHLORIDE = "sodium_chloride_0_9", "Sodium chloride 0.9 %"
    GLUCOSE = "glucose_5", "Glucose 5 %"
    HARTMANN = "hartmann", "Hartmann's / lactated Ringer's"


class PremedicationDrug(models.TextChoices):
    PARACETAMOL = "paracetamol", "Paracetamol (acetaminophen)"
    CETIRIZINE = "cetirizine", "Cetirizine"
    DIPHENHYDRAMINE = "diphenhydramine", "Diphenhydramine"
    HYDROCORTISONE = "hydrocortisone", "Hydrocortisone"
    METHYLPREDNISOLONE = "methylprednisolone", "Methylprednisolone"
    OTHER = "other", "Other (name it)"


class PremedicationUnit(models.TextChoices):
    MG = "mg", "mg"
    G = "g", "g"
    ML = "mL", "mL"


class Route(models.TextChoices):
    ORAL = "oral", "Oral"
    IV = "iv", "Intravenous (IV)"
    SC = "sc", "Subcutaneous (SC)"
    IM = "im", "Intramuscular (IM)"


# Bedside limits, one home: the form, the service (through the model) and the database agree.
MAX_PREMEDICATIONS = 4
MAX_PREMEDICATION_MINUTES_BEFORE = 240
MAX_OBSERVATION_MINUTES = 480
MAX_HYDRATION_VOLUME_ML = Decimal("3000")
MAX_HYDRATION_RATE_ML_PER_H = Decimal("1000")
HYDRATION_PHASES = ("pre_hydration", "post_hydration")


def _hydration_constraints(phase: str) -> list[models.CheckConstraint]:
    """No fluid: no volume and no rate. A fluid: a volume and a rate, each positive and bounded."""
    fluid, volume, rate = f"{phase}_fluid", f"{phase}_volume_ml", f"{phase}_rate_ml_per_h"
    none = Q(**{fluid: HydrationFluid.NONE, f"{volume}__isnull": True, f"{rate}__isnull": True})
    given = Q(
        **{
            f"{fluid}__in": [value for value in HydrationFluid.values if value != HydrationFluid.NONE],
            # Stated: a CHECK passes on NULL, so "> 0" alone would let a missing volume through.
            f"{volume}__isnull": False,
            f"{rate}__isnull": False,
            f"{volume}__gt": 0,
            f"{volume}__lte": MAX_HYDRATION_VOLUME_ML,
            f"{rate}__gt": 0,
            f"{rate}__lte": MAX_HYDRATION_RATE_ML_PER_H,
        }
    )
    return [models.CheckConstraint(condition=none | given, name=f"order_{phase}_complete")]


class ObjectiveMeasure(models.TextChoices):
    """The TIS core set's six measures (visits.tis.MEASURES, same codes; dosing may not import
    visits, so pathway's tests hold the two equal): the objective measures a course names at its start."""

    PHYSICIAN_GLOBAL = "physician_global", "Physician global activity"
    PATIENT_GLOBAL = "patient_global", "Patient global activity"
    MMT = "mmt", "Manual muscle testing (MMT-8)"
    HAQ = "haq", "Health Assessment Questionnaire (HAQ)"
    ENZYME = "enzyme", "Muscle enzyme"
    EXTRAMUSCULAR_GLOBAL = "extramuscular_global", "Extramuscular global activity"


def all_objective_measures() -> list[str]:
    return list(ObjectiveMeasure.values)


class TreatmentCourseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TRIAL_OFF = "trial_off", "Trial off IVIG"
    STOPPED = "stopped", "Stopped"


class TreatmentCourse(models.Model):
    """A course of IVIG for one indication (across products) and its authorisation window: what
    was authorised at the start (objective measures, maximum dose, interval), until when, the dose
    and interval the next orders default to, and when the stewardship review falls due. Orders
    link to it; a review (pathway.Review) renews or changes it. Dates: dosing.authorisation."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="treatment_courses")
    indication_slug = models.SlugField("indication (catalog slug)")
    indication_name = models.CharField("indication", max_length=100)
    started_on = models.DateField("started on")
    objective_measures = models.JSONField(
        default=all_objective_measures, help_text="The TIS core set measures named at the start, by code."
    )
    authorised_until = models.DateField("authorised until")
    max_dose_g_per_kg = models.DecimalField(
        "authorised maximum dose (g/kg per cycle)",
        max_digits=4,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("3"))],
    )
    interval_weeks = models.PositiveSmallIntegerField(
        "authorised interval (weeks)", validators=[MinValueValidator(1), MaxValueValidator(52)]
    )
    current_dose_g_per_kg = models.DecimalField(
        "dose the next orders default to (g/kg per cycle)",
        max_digits=4,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("3"))],
    )
    current_interval_weeks = models.PositiveSmallIntegerField(
        "interval the next cycles follow (weeks)", validators=[MinValueValidator(1), MaxValueValidator(52)]
    )
    next_review_due = models.DateField("next review due")
    status = models.CharField(
        max_length=10, choices=TreatmentCourseStatus.choices, default=TreatmentCourseStatus.ACTIVE
    )
    status_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Raised by every change; the edit and review pages post the version they showed.
    version = models.PositiveIntegerField(default=1)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-started_on", "-pk"]
        constraints = [
            # One course in force per patient and indication; a stopped one stays on file.
            models.UniqueConstraint(
                fields=["patient", "indication_slug"],
                condition=~Q(status="stopped"),
                name="treatment_course_one_in_force_per_indication",
            ),
            models.CheckConstraint(
                condition=Q(max_dose_g_per_kg__gt=0)
                & Q(max_dose_g_per_kg__lte=3)
                & Q(current_dose_g_per_kg__gt=0)
                & Q(current_dose_g_per_kg__lte=3),
                name="treatment_course_doses_in_range",
            ),
            models.CheckConstraint(
                condition=Q(authorised_until__gte=F("started_on")), name="treatment_course_window_after_start"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "trial_off", "stopped"]), name="treatment_course_status_known"
            ),
        ]
        indexes = [
            # The home page's "stewardship reviews due" (clinic.dashboard), list and count: courses in
            # force by review date, and active ones by the end of their authorisation.
            models.Index(
                fields=["next_review_due"],
                condition=Q(status__in=["active", "trial_off"]),
                name="treatment_course_review_due",
            ),
            models.Index(fields=["authorised_until"], condition=Q(status="active"), name="treatment_course_lapse"),
        ]

    def __str__(self):
        return f"{self.indication_name} from {self.started_on:%Y-%m-%d} ({self.patient.mrn})"

    def get_absolute_url(self) -> str:
        return reverse("pathway:course_detail", kwargs={"course_uuid": self.uuid})

    @property
    def objective_measure_labels(self) -> list[str]:
        labels = dict(ObjectiveMeasure.choices)
        return [labels.get(code, code) for code in self.objective_measures]

    def clean(self):
        errors = {}
        measures = self.objective_measures
        if not isinstance(measures, list) or not measures:
            errors["objective_measures"] = "Name at least one objective measure of the TIS core set."
        elif set(measures) - set(ObjectiveMeasure.values) or len(set(measures)) != len(measures):
            errors["objective_measures"] = "Objective measures are the TIS core set's, each named once."
        if self.started_on and self.authorised_until and self.authorised_until < self.started_on:
            errors["authorised_until"] = (
                f"The window cannot end before the course started ({self.started_on:%Y-%m-%d})."
            )
        if self.status != TreatmentCourseStatus.ACTIVE and not self.status_reason.strip():
            errors["status_reason"] = "Say why the course is in trial off or stopped."
        if errors:
            raise ValidationError(errors)


class DoseOrderQuerySet(models.QuerySet):
    def awaiting_verification(self):
        return self.filter(status__in=PENDING_STATUSES)

    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def administrable(self):
        return self.filter(status__in=ADMINISTRABLE_STATUSES)

    def to_schedule(self):
        """Orders the chair may give from that no course was ever booked from: the nurses' list.
        An order whose course was completed, stopped or replaced has had its course; it does not
        come back here (book again from the order page when that is meant).

        Read from course_booked_at, which scheduling sets when it books a course (it listens to
        its own Course saves), so the order list (dosing) can offer it without importing
        scheduling, the layer above, and without joining every order to its courses; a
        scheduling test books courses against this filter and compares it with the courses.
        """
        return self.administrable().filter(course_booked_at__isnull=True)


class DoseOrder(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="dose_orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    indication = models.ForeignKey(Indication, on_delete=models.PROTECT, related_name="+")
    dose_g_per_kg = models.DecimalField("dose (g/kg per cycle)", max_digits=4, decimal_places=2)
    days = models.PositiveSmallIntegerField("infusion days per cycle")
    weight_basis = models.CharField(max_length=10, choices=WeightBasis.choices, default=WeightBasis.AUTO)
    at_risk = models.BooleanField(help_text="At risk of thrombosis or renal dysfunction when ordered.")
    at_risk_reasons = models.JSONField(default=list, blank=True)
    # Snapshots: what the order was computed from and what it computed.
    inputs = models.JSONField(help_text="Weight, height, sex, age and flags used, with their dates.")
    facts = models.JSONField(help_text="Product, indication and site settings used.")
    plan = models.JSONField(help_text="The computed plan (dosing.calculations.DosePlan.to_dict()).")
    catalog_revision = models.PositiveIntegerField()
    status = models.CharField(max_length=24, choices=OrderStatus.choices, default=OrderStatus.AWAITING_VERIFICATION)
    status_reason = models.CharField(max_length=300, blank=True)
    notes = models.TextField("prescriber's notes", blank=True)
    # Bedside instructions, as prescribed (premedications are rows: Premedication). Never
    # rewritten after ordering: the nurse reads what the physician ordered.
    pre_hydration_fluid = models.CharField(
        "pre-hydration fluid", max_length=24, choices=HydrationFluid.choices, default=HydrationFluid.NONE
    )
    pre_hydration_volume_ml = models.DecimalField(
        "pre-hydration volume (mL)", max_digits=6, decimal_places=1, null=True, blank=True
    )
    pre_hydration_rate_ml_per_h = models.DecimalField(
        "pre-hydration rate (mL/h)", max_digits=6, decimal_places=1, null=True, blank=True
    )
    post_hydration_fluid = models.CharField(
        "post-hydration fluid", max_length=24, choices=HydrationFluid.choices, default=HydrationFluid.NONE
    )
    post_hydration_volume_ml = models.DecimalField(
        "post-hydration volume (mL)", max_digits=6, decimal_places=1, null=True, blank=True
    )
    post_hydration_rate_ml_per_h = models.DecimalField(
        "post-hydration rate (mL/h)", max_digits=6, decimal_places=1, null=True, blank=True
    )
    observation_minutes = models.PositiveSmallIntegerField(
        "observation after the infusion (min)",
        default=0,
        validators=[MaxValueValidator(MAX_OBSERVATION_MINUTES)],
    )
    bedside_instructions = models.TextField(
        "instructions for the nurse at the chair", blank=True, help_text="Distinct from the notes to pharmacy."
    )
    # Contraindication flags a physician chose to override, with the reason: {"flags": [...], "reason": "..."}.
    contraindication_override = models.JSONField(default=dict, blank=True)
    prescribed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    prescribed_at = models.DateTimeField(auto_now_add=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    # Today's chart against the order (dosing.services.orders.dose_orders_follow_chart):
    # {"checked_on", "inputs", "plan" (None when the chart cannot be dosed), "error", "changes",
    # "reason"}. Empty until the chart is first compared, and again after each verification.
    chart_replan = models.JSONField(default=dict, blank=True)
    # The last infusion given by this order that needs the prescriber's review, in a nurse's words
    # ("Reaction last cycle (moderate headache, 2027-01-12): consider premedication..."), and that
    # infusion's date. Written by scheduling (dose_order_note_last_cycle), kept here so the sheet,
    # which may not read scheduling, shows it too. Empty when there is none, or once a later cycle
    # was given in full.
    last_cycle_note = models.CharField(max_length=500, blank=True)
    last_cycle_note_on = models.DateField(null=True, blank=True)
    # The treatment course (authorisation window) the order was placed on, and the prescriber's
    # reason for ordering outside it (after the window, above its maximum, or in trial off or
    # stopped); empty when the order was inside it. Shown with the order.
    treatment_course = models.ForeignKey(
        TreatmentCourse, on_delete=models.PROTECT, related_name="orders", null=True, blank=True
    )
    authorisation_reason = models.CharField("reason to order outside the authorisation", max_length=300, blank=True)
    # Whether the order's first infusion is a first one (dosing.first_infusion: IVIG-naive, product
    # switch, a long gap), derived from the infusions scheduling keeps on the patient when the order
    # is prescribed and again when it is verified: {"kind", "reason", "derived_on"}; empty when not.
    # The session (and its sheet) derives it again for its own date: that one rules at the chair.
    first_infusion = models.JSONField(default=dict, blank=True)
    # Raised by every change of state; the verify and cancel pages post the version they showed,
    # so a pharmacist verifying and a physician cancelling at the same time cannot both win.
    version = models.PositiveIntegerField(default=1)
    # When the first infusion course was booked from this order; empty while none ever was. Set
    # by scheduling (dose_order_course_booked, from Course's post_save), so the nurses' "to
    # schedule" list is an index read instead of an anti-join over every order the chair may give.
    course_booked_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords()

    objects = DoseOrderQuerySet.as_manager()

    class Meta:
        ordering = ["-prescribed_at"]
        permissions = [("verify_doseorder", "Can verify or reject dose orders")]
        constraints = [
            models.CheckConstraint(
                condition=Q(dose_g_per_kg__gt=0) & Q(dose_g_per_kg__lte=3), name="order_dose_in_range"
            ),
            models.CheckConstraint(condition=Q(days__gte=1) & Q(days__lte=7), name="order_days_in_range"),
            # Nobody verifies their own order.
            models.CheckConstraint(
                condition=Q(verified_by__isnull=True) | ~Q(verified_by=F("prescribed_by")),
                name="order_not_verified_by_prescriber",
            ),
            models.CheckConstraint(
                condition=~Q(status="verified") | Q(verified_by__isnull=False, verified_at__isnull=False),
                name="order_verified_has_verifier",
            ),
            models.CheckConstraint(
                condition=Q(observation_minutes__gte=0) & Q(observation_minutes__lte=MAX_OBSERVATION_MINUTES),
                name="order_observation_minutes_in_range",
            ),
            *_hydration_constraints("pre_hydration"),
            *_hydration_constraints("post_hydration"),
        ]
        indexes = [
            models.Index(fields=["status", "-prescribed_at"]),
            # DoseOrderQuerySet.to_schedule, waiting longest first (the dashboard and the order list).
            models.Index(
                fields=["verified_at", "id"],
                condition=Q(status__in=ADMINISTRABLE_STATUSES, course_booked_at__isnull=True),
                name="order_to_schedule",
            ),
        ]

    def __str__(self):
        return (
            f"{self.product.name} {self.dose_g_per_kg.normalize():f} g/kg over {self.days} days for {self.patient.mrn}"
        )

    def get_absolute_url(self) -> str:
        return reverse("dosing:order_detail", kwargs={"order_uuid": self.uuid})

    @property
    def is_verified(self) -> bool:
        return self.status == OrderStatus.VERIFIED

    @property
    def is_administrable(self) -> bool:
        return self.status in ADMINISTRABLE_STATUSES

    @property
    def status_sentence(self) -> str:
        """E.g. "The dose order needs verification again"."""
        return f"The dose order {STATUS_SENTENCES[self.status]}"

    @property
    def course_dose_change(self) -> str:
        """A review changed the dose the course's next orders take: the sentence asking the
        prescriber for a new order at that dose ("" when none). The verified order itself is never
        rewritten; the chair gives it until the new order replaces it."""
        course = self.treatment_course
        if course is None or self.status not in OPEN_STATUSES or course.current_dose_g_per_kg == self.dose_g_per_kg:
            return ""
        return (
            f"The stewardship review set this course's dose to {course.current_dose_g_per_kg.normalize():f} g/kg "
            f"(this order: {self.dose_g_per_kg.normalize():f} g/kg): place the next order at that dose."
        )

    @property
    def administration_plan(self) -> dict:
        """The plan the chair follows: the verified plan held to today's chart where that is lower
        (``chart_limits.lower_plan``); ``chart_limit`` in it says why, or is None."""
        chart = self.chart_replan or {}
        return lower_plan(self.plan, chart.get("plan"), reason=chart.get("reason", ""))

    @property
    def first_infusion_plan(self) -> dict | None:
        """The administration plan of a first infusion (the first step held the site's factor times
        its minutes, ``chart_limits.first_infusion_plan``) when the order is marked; else None."""
        if not self.first_infusion:
            return None
        return first_infusion_plan(
            self.administration_plan,
            factor=SiteSettings.load().first_infusion_first_step_factor,
            reason=self.first_infusion["reason"],
            kind=self.first_infusion["kind"],
        )

    def clean(self):
        """Each hydration complete or absent, the message at the field that is wrong."""
        errors = {}
        for phase in HYDRATION_PHASES:
            fluid = getattr(self, f"{phase}_fluid")
            for name, unit in (("volume_ml", "volume (mL)"), ("rate_ml_per_h", "rate (mL/h)")):
                value = getattr(self, f"{phase}_{name}")
                if fluid == HydrationFluid.NONE and value is not None:
                    errors[f"{phase}_{name}"] = f"No fluid is chosen: leave the {unit} empty, or choose the fluid."
                elif fluid != HydrationFluid.NONE and value is None:
                    errors[f"{phase}_{name}"] = f"Give the {unit} for the {fluid_label(fluid)}."
        if errors:
            raise ValidationError(errors)

    @property
    def hydrations(self) -> list[dict]:
        """The hydrations ordered, before then after: [{"phase", "fluid", "volume_ml", "rate_ml_per_h"}]."""
        return [
            {
                "phase": phase.split("_")[0],
                "fluid": fluid_label(getattr(self, f"{phase}_fluid")),
                "volume_ml": getattr(self, f"{phase}_volume_ml"),
                "rate_ml_per_h": getattr(self, f"{phase}_rate_ml_per_h"),
            }
            for phase in HYDRATION_PHASES
            if getattr(self, f"{phase}_fluid") != HydrationFluid.NONE
        ]

    @property
    def bedside(self) -> dict:
        """The bedside instructions as plain data, for the pages and ``chart_limits.bedside_times``:
        {"premedications": [{"drug", "dose", "dose_unit", "route", "minutes_before_start"}],
        "hydrations", "observation_minutes", "instructions", "any"}."""
        premedications = [
            {
                "drug": premed.drug_display,
                "dose": premed.dose,
                "dose_unit": premed.dose_unit,
                "route": premed.get_route_display(),
                "minutes_before_start": premed.minutes_before_start,
            }
            for premed in self.premedications.all()
        ]
        hydrations = self.hydrations
        return {
            "premedications": premedications,
            "hydrations": hydrations,
            "observation_minutes": self.observation_minutes,
            "instructions": self.bedside_instructions,
            "any": bool(premedications or hydrations or self.observation_minutes or self.bedside_instructions),
        }


def fluid_label(value: str) -> str:
    return dict(HydrationFluid.choices).get(value, value)


class Premedication(models.Model):
    """A drug the nurse gives before the infusion, as the physician ordered it."""

    order = models.ForeignKey(DoseOrder, on_delete=models.CASCADE, related_name="premedications")
    drug = models.CharField(max_length=24, choices=PremedicationDrug.choices)
    drug_name = models.CharField("name of the other drug", max_length=100, blank=True)
    dose = models.DecimalField(max_digits=7, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))])
    dose_unit = models.CharField("dose unit", max_length=4, choices=PremedicationUnit.choices)
    route = models.CharField(max_length=4, choices=Route.choices)
    minutes_before_start = models.PositiveSmallIntegerField(
        "minutes before the start (min)", validators=[MaxValueValidator(MAX_PREMEDICATION_MINUTES_BEFORE)]
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-minutes_before_start", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(dose__gt=0), name="premedication_dose_positive"),
            models.CheckConstraint(
                condition=Q(minutes_before_start__gte=0)
                & Q(minutes_before_start__lte=MAX_PREMEDICATION_MINUTES_BEFORE),
                name="premedication_minutes_in_range",
            ),
            models.CheckConstraint(condition=Q(drug__in=PremedicationDrug.values), name="premedication_drug_known"),
            models.CheckConstraint(
                condition=Q(dose_unit__in=PremedicationUnit.values), name="premedication_unit_known"
            ),
            models.CheckConstraint(condition=Q(route__in=Route.values), name="premedication_route_known"),
            # "Other" names its drug; a listed drug has no other name.
            models.CheckConstraint(
                condition=(Q(drug=PremedicationDrug.OTHER) & ~Q(drug_name=""))
                | (~Q(drug=PremedicationDrug.OTHER) & Q(drug_name="")),
                name="premedication_other_is_named",
            ),
        ]

    def __str__(self):
        return f"{self.drug_display} {self.dose.normalize():f} {self.dose_unit} {self.get_route_display()}"

    @property
    def drug_display(self) -> str:
        return self.drug_name if self.drug == PremedicationDrug.OTHER else self.get_drug_display()

    def clean(self):
        if self.drug == PremedicationDrug.OTHER and not self.drug_name.strip():
            raise ValidationError({"drug_name": "Name the drug when it is not in the list."})
        if self.drug != PremedicationDrug.OTHER and self.drug_name:
            raise ValidationError({"drug_name": "Leave the name empty for a drug from the list, or choose Other."})
