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
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from simple_history.models import HistoricalRecords

from .chart_limits import lower_plan


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
        help_text="Site policy for at-risk patients where the product's label gives no number.",
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
ACTIVE_COURSE_STATUS = "active"
# "The dose order ..." in a sentence, for every status.
STATUS_SENTENCES = {
    OrderStatus.AWAITING_VERIFICATION: "is awaiting pharmacist verification",
    OrderStatus.VERIFIED: "is verified",
    OrderStatus.REVIEW: "is in use but its chart changed: a pharmacist must verify it again",
    OrderStatus.REVERIFY: "needs verification again",
    OrderStatus.REJECTED: "was rejected",
    OrderStatus.CANCELLED: "was cancelled",
}


class DoseOrderQuerySet(models.QuerySet):
    def awaiting_verification(self):
        return self.filter(status__in=PENDING_STATUSES)

    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def administrable(self):
        return self.filter(status__in=ADMINISTRABLE_STATUSES)

    def to_schedule(self):
        """Orders the chair may give from that no active course is booked from: the nurses' list.

        Written here, with scheduling's reverse relation named as an ORM string, so the order list
        (dosing) can offer it without importing scheduling, the layer above. The string pair
        ("courses", "active") is Course.order's related_name and CourseStatus.ACTIVE; a scheduling
        test books, stops and completes courses against this filter, so a rename there fails there.
        """
        return self.administrable().exclude(courses__status=ACTIVE_COURSE_STATUS)


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
    # Raised by every change of state; the verify and cancel pages post the version they showed,
    # so a pharmacist verifying and a physician cancelling at the same time cannot both win.
    version = models.PositiveIntegerField(default=1)
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
        ]
        indexes = [models.Index(fields=["status", "-prescribed_at"])]

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
    def administration_plan(self) -> dict:
        """The plan the chair follows: the verified plan held to today's chart where that is lower
        (``chart_limits.lower_plan``); ``chart_limit`` in it says why, or is None."""
        chart = self.chart_replan or {}
        return lower_plan(self.plan, chart.get("plan"), reason=chart.get("reason", ""))
