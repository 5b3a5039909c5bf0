"""Forms for prescribing and verifying dose orders (the catalog's forms live in forms.py)."""

from decimal import Decimal

from django import forms

from accounts.form_errors import PageVersionForm, page_version_field
from accounts.input_rules import DateWindowsMixin
from accounts.roles import NURSE, PHARMACIST, PHYSICIAN

from .forms import DosePerKgField
from .models import (
    MAX_HYDRATION_RATE_ML_PER_H,
    MAX_HYDRATION_VOLUME_ML,
    MAX_OBSERVATION_MINUTES,
    MAX_PREMEDICATION_MINUTES_BEFORE,
    MAX_PREMEDICATIONS,
    DoseOrder,
    HydrationFluid,
    Indication,
    PremedicationDrug,
    PremedicationUnit,
    Route,
    WeightBasis,
)


class IndicationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, indication: Indication) -> str:
        return f"{indication.product.name} — {indication.name}"


def _volume_field(label: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        max_digits=6,
        decimal_places=1,
        min_value=Decimal("1"),
        max_value=MAX_HYDRATION_VOLUME_ML,
        help_text=f"1 to {MAX_HYDRATION_VOLUME_ML} mL; empty when no fluid.",
    )


def _rate_field(label: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        max_digits=6,
        decimal_places=1,
        min_value=Decimal("1"),
        max_value=MAX_HYDRATION_RATE_ML_PER_H,
        help_text=f"1 to {MAX_HYDRATION_RATE_ML_PER_H} mL/h; empty when no fluid.",
    )


class DoseOrderForm(forms.Form):
    indication = IndicationChoiceField(
        label="Product and indication",
        queryset=Indication.objects.select_related("product").order_by("product__name", "name"),
    )
    dose_g_per_kg = DosePerKgField(
        label="Dose per cycle (g/kg)",
        max_digits=4,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("3"),
        help_text="Total for the cycle, split equally over the days. Dermatomyositis label: 2 g/kg.",
    )
    days = forms.IntegerField(
        label="Infusion days per cycle",
        min_value=1,
        max_value=7,
        help_text="Consecutive days; dermatomyositis label: 2 to 5.",
    )
    weight_basis = forms.ChoiceField(label="Dosing weight", choices=WeightBasis.choices, initial=WeightBasis.AUTO)
    notes = forms.CharField(label="Notes for pharmacy", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    pre_hydration_fluid = forms.ChoiceField(
        label="Pre-hydration fluid", choices=HydrationFluid.choices, initial=HydrationFluid.NONE, required=False
    )
    pre_hydration_volume_ml = _volume_field("Pre-hydration volume (mL)")
    pre_hydration_rate_ml_per_h = _rate_field("Pre-hydration rate (mL/h)")
    post_hydration_fluid = forms.ChoiceField(
        label="Post-hydration fluid", choices=HydrationFluid.choices, initial=HydrationFluid.NONE, required=False
    )
    post_hydration_volume_ml = _volume_field("Post-hydration volume (mL)")
    post_hydration_rate_ml_per_h = _rate_field("Post-hydration rate (mL/h)")
    observation_minutes = forms.IntegerField(
        label="Observation after the infusion (min)",
        required=False,
        min_value=0,
        max_value=MAX_OBSERVATION_MINUTES,
        initial=0,
        help_text=f"0 to {MAX_OBSERVATION_MINUTES} minutes after the infusion ends.",
    )
    bedside_instructions = forms.CharField(
        label="Instructions for the nurse at the chair",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Shown on the infusion sheet and the session page.",
    )

    override_reason = forms.CharField(
        label="Reason to give IVIG despite the contraindication",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only when a contraindication flag is shown above. Kept with the order and in its history.",
    )
    authorisation_reason = forms.CharField(
        label="Reason to order outside the treatment course's authorisation",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only when the order is after the authorised-until date, above the authorised maximum dose, "
        "or on a course in trial off or stopped, and no review has renewed it. Kept with the order.",
    )
    # The fingerprint of the plan Calculate showed; Place order places only that plan.
    plan_digest = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean(self):
        """A hydration is a fluid with its volume and rate, or no fluid and neither."""
        data = super().clean()
        # Left out (a script ordering no bedside instruction): no fluid, no observation.
        if data.get("observation_minutes") is None and "observation_minutes" not in self._errors:
            data["observation_minutes"] = 0
        for phase, title in (("pre_hydration", "pre-hydration"), ("post_hydration", "post-hydration")):
            if f"{phase}_fluid" in self._errors:
                continue
            fluid = data[f"{phase}_fluid"] = data.get(f"{phase}_fluid") or HydrationFluid.NONE
            for name, unit in (("volume_ml", "volume (mL)"), ("rate_ml_per_h", "rate (mL/h)")):
                field = f"{phase}_{name}"
                if field in self._errors:
                    continue
                if fluid == HydrationFluid.NONE and data.get(field) is not None:
                    self.add_error(field, f"No {title} fluid is chosen: leave the {unit} empty, or choose the fluid.")
                elif fluid != HydrationFluid.NONE and data.get(field) is None:
                    self.add_error(field, f"Give the {title} {unit}.")
        return data

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound and "indication" not in self.initial:
            default = (
                self.fields["indication"].queryset.filter(product__slug="octagam-10", slug="dermatomyositis").first()
            )
            if default is not None:
                self.initial.update(
                    indication=default.pk, dose_g_per_kg=default.dose_g_per_kg_max, days=default.days_min
                )


class PremedicationForm(forms.Form):
    """One premedication row; a row left untouched is no premedication."""

    drug = forms.ChoiceField(label="Drug", choices=[("", "—")] + PremedicationDrug.choices)
    drug_name = forms.CharField(label="Name of the other drug", required=False, max_length=100)
    dose = forms.DecimalField(
        label="Dose (in the unit chosen)", max_digits=7, decimal_places=2, min_value=Decimal("0.01")
    )
    dose_unit = forms.ChoiceField(
        label="Dose unit (mg, g or mL)", choices=PremedicationUnit.choices, initial=PremedicationUnit.MG
    )
    route = forms.ChoiceField(label="Route", choices=Route.choices, initial=Route.ORAL)
    minutes_before_start = forms.IntegerField(
        label="Before the start (min)", min_value=0, max_value=MAX_PREMEDICATION_MINUTES_BEFORE
    )

    def clean(self):
        data = super().clean()
        drug, name = data.get("drug"), (data.get("drug_name") or "").strip()
        if drug == PremedicationDrug.OTHER and not name:
            self.add_error("drug_name", "Name the drug when it is not in the list.")
        elif drug and drug != PremedicationDrug.OTHER and name:
            self.add_error("drug_name", "Leave the name empty for a drug from the list, or choose Other.")
        return data


PremedicationFormSet = forms.formset_factory(
    PremedicationForm,
    extra=MAX_PREMEDICATIONS,
    max_num=MAX_PREMEDICATIONS,
    absolute_max=MAX_PREMEDICATIONS,
    validate_max=True,
)
PREMEDICATION_PREFIX = "premedications"


def premedication_formset(data=None) -> PremedicationFormSet:
    """The order form's premedication rows. A post without the formset's management fields (a
    script that orders no premedication) is read as no premedication, not as a broken page."""
    if data is not None and f"{PREMEDICATION_PREFIX}-TOTAL_FORMS" not in data:
        data = None
    return PremedicationFormSet(data, prefix=PREMEDICATION_PREFIX, initial=[])


def premedications_of(formset) -> list[dict] | None:
    """The rows filled in, as the service takes them; None while a row is wrong (or none posted: [])."""
    if not formset.is_bound:
        return []
    if not formset.is_valid():
        return None
    return [
        {**form.cleaned_data, "drug_name": form.cleaned_data.get("drug_name", "").strip()}
        for form in formset.forms
        if form.has_changed() and form.cleaned_data
    ]


def _version() -> forms.IntegerField:
    # The order's version the page showed; the service refuses the write if it has changed since.
    return page_version_field()


VersionedForm = PageVersionForm


class VerifyOrderForm(VersionedForm):
    checked = forms.BooleanField(
        label="I have checked the dosing weight, dose, vials, volume and every step of the rate ladder.",
        required=True,
    )
    version = _version()
    # The fingerprint of the plan the page showed (from today's chart): a plan that changed since
    # is shown again rather than verified unseen. Empty from a script: no check.
    plan_digest = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class ReasonForm(VersionedForm):
    reason = forms.CharField(label="Reason", max_length=300, widget=forms.Textarea(attrs={"rows": 2}))
    version = _version()


class SheetOptionsForm(DateWindowsMixin, forms.Form):
    start = forms.TimeField(label="Planned start", required=False)
    date = forms.DateField(label="Infusion date", required=False)


# The order list's filters: the worklists first, then each status.
ALL, PENDING, TO_SCHEDULE, MINE = "all", "pending", "to_schedule", "mine"
WORKLIST_FILTERS = [
    (ALL, "All"),
    (PENDING, "Awaiting verification"),
    (TO_SCHEDULE, "To schedule"),
    (MINE, "My prescriptions"),
]
ORDER_STATUS_FILTERS = list(DoseOrder._meta.get_field("status").choices)
ORDER_LIST_FILTERS = dict(WORKLIST_FILTERS + ORDER_STATUS_FILTERS)
# What the list opens on for each role, the first that applies: someone both pharmacist and
# nurse sees first what waits for a pharmacist, since nothing is scheduled before it is verified.
ROLE_DEFAULT_FILTERS = ((PHARMACIST, PENDING), (NURSE, TO_SCHEDULE), (PHYSICIAN, MINE))


def default_order_filter(roles) -> str:
    """The filter the order list opens on, e.g. ["nurse"] -> "to_schedule"; a viewer sees all."""
    return next((chosen for role, chosen in ROLE_DEFAULT_FILTERS if role in roles), ALL)


def filter_orders(orders, chosen: str, *, user):
    """`orders` narrowed to the filter `chosen` (a key of ORDER_LIST_FILTERS), for `user`."""
    if chosen == PENDING:
        return orders.awaiting_verification()
    if chosen == TO_SCHEDULE:
        return orders.to_schedule().order_by("verified_at", "pk")  # waiting longest first
    if chosen == MINE:
        return orders.filter(prescribed_by=user)
    return orders.filter(status=chosen) if chosen in dict(ORDER_STATUS_FILTERS) else orders
