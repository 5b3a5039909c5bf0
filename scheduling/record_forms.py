"""Forms for the infusion record. They validate and convert (local date-times, Decimal mL/h and
grams); every clinical rule (rate limits, vial sizes, volumes, times, what a scanned vial is) is checked by
scheduling/services/records.py, whose messages the views put back at these fields.

Field names are the services' keyword names, so a form's cleaned data is passed as is."""

from decimal import Decimal

from django import forms

from accounts.form_errors import PageVersionForm, page_version_field
from accounts.input_rules import DateWindowsMixin
from dosing.barcodes import SCAN_MAX_CHARS

from .models import ReactionAction, ReactionSeverity, ReactionType, VitalsPhase
from .services.records import step_limit


def _when(label: str, *, required: bool = True, help_text: str = "") -> forms.DateTimeField:
    # Local wall-clock time typed as the clinic's date and a 24-hour time (DateWindowsMixin makes
    # it a text input in that format); Django makes it aware in the clinic's zone (settings.TIME_ZONE).
    return forms.DateTimeField(label=label, required=required, help_text=help_text)


def _version() -> forms.IntegerField:
    return page_version_field()


def _rate(label: str, *, required: bool = True, help_text: str = "") -> forms.DecimalField:
    # No min_value: the service explains a negative rate in a nurse's words.
    return forms.DecimalField(
        label=label,
        required=required,
        help_text=help_text,
        max_digits=6,
        decimal_places=1,
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
    )


class StartForm(PageVersionForm):
    version_field = "expected_version"
    started_at = _when("Infusion started at", help_text="Local time, when the pump was started.")
    check_accepted = forms.BooleanField(
        label="I accept starting with the stale or missing items of the pre-infusion check",
        required=False,
        help_text="Needed only when an item of the check is stale or missing.",
    )
    check_reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the infusion starts anyway, e.g. physician consulted, labs drawn today.",
    )
    expected_version = _version()


class RecordForm(PageVersionForm):
    version_field = "expected_version"
    started_at = _when("Infusion started at", help_text="Correct it here if it was entered wrongly.")
    stopped_at = _when("Infusion stopped at", required=False, help_text="Local time, when the pump was stopped.")
    volume_given_ml = forms.DecimalField(
        label="Volume given (mL)",
        required=False,
        max_digits=6,
        decimal_places=1,
        min_value=Decimal("0"),
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
        help_text="As read from the pump.",
    )
    grams_wasted = forms.DecimalField(
        label="Grams opened but not given (g)",
        required=False,
        max_digits=6,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
        help_text="Empty means 0 g. At most the grams opened (the lots recorded).",
    )
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    reason = forms.CharField(
        label="Reason for the correction",
        required=False,
        max_length=300,
        help_text="Needed to change a start, stop, volume or waste already entered (the old entry is voided, "
        "and stays in the record), and for any change once the infusion is completed.",
    )
    expected_version = _version()


def _late_reason() -> forms.CharField:
    return forms.CharField(
        label="Reason for this late entry",
        required=False,
        max_length=300,
        help_text="The infusion is completed: this entry amends its record. Say why it is made now.",
    )


class PartForm(forms.Form):
    """A form for one part of the record; it may offer choices from the order's plan. Once the
    infusion is completed (``amending``) it asks why the entry is made late."""

    def __init__(self, *args, plan: dict, amending: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan = plan
        if amending:
            self.fields["late_reason"] = _late_reason()


class RateChangeForm(PartForm):
    at = _when("Rate set at")
    step_number = forms.TypedChoiceField(label="Step of the plan", coerce=int)
    rate_ml_per_h = _rate(
        "Pump rate (mL/h)",
        help_text="0 mL/h means paused. Never above the limit of the highest step that may have begun.",
    )
    reason = forms.CharField(
        label="Reason", required=False, max_length=200, help_text="For example: tolerated, slowed for headache."
    )

    def __init__(self, *args, plan: dict, limit_now: str = "", **kwargs):
        super().__init__(*args, plan=plan, **kwargs)
        if limit_now:
            self.fields["rate_ml_per_h"].help_text = f"{limit_now} 0 mL/h means paused."
        limits = [step_limit(plan, number) for number in range(1, len(plan["rate_steps"]) + 1)]
        self.fields["step_number"].choices = [
            (
                limit.step_number,
                f"Step {limit.step_number}: up to {limit.rate_ml_per_h} mL/h "
                f"({limit.rate_mg_per_kg_min.normalize():f} mg/kg/min)",
            )
            for limit in limits
        ]


class VitalsForm(PartForm):
    phase = forms.ChoiceField(label="When", choices=VitalsPhase.choices, widget=forms.RadioSelect)
    at = _when("Taken at")
    systolic_mmhg = forms.IntegerField(label="Systolic (mmHg)", min_value=40, max_value=300)
    diastolic_mmhg = forms.IntegerField(label="Diastolic (mmHg)", min_value=20, max_value=200)
    heart_rate_bpm = forms.IntegerField(label="Heart rate (beats/min)", min_value=20, max_value=250)
    temperature_c = forms.DecimalField(
        label="Temperature (°C)",
        max_digits=3,
        decimal_places=1,
        min_value=Decimal("30"),
        max_value=Decimal("45"),
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
    )
    spo2_percent = forms.IntegerField(label="SpO₂ (%)", required=False, min_value=50, max_value=100)
    respiratory_rate = forms.IntegerField(
        label="Respiratory rate (breaths/min)", required=False, min_value=4, max_value=80
    )


class LotForm(DateWindowsMixin, PartForm):
    """A lot opened: scanned (the vial's GS1 DataMatrix gives GTIN, lot and expiry, the catalog the
    vial size) or typed. Without a scan the lot, size and expiry are needed; the service says which."""

    gs1 = forms.CharField(
        label="Scan (GS1 DataMatrix)",
        required=False,
        max_length=SCAN_MAX_CHARS,
        # A handheld scanner types the barcode's element string here; the scanner's own Enter submits it.
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True, "spellcheck": "false"}),
        help_text="Scan the 2D barcode on the vial's carton: lot, expiry and vial size are filled in from it. "
        "Or leave this empty and type them below.",
    )
    lot_number = forms.CharField(label="Lot number", required=False, max_length=40, help_text="As printed on the vial.")
    vial_size_g = forms.TypedChoiceField(label="Vial size", required=False, coerce=Decimal, empty_value=None)
    vials = forms.IntegerField(label="Vials from this lot", min_value=1, initial=1)
    expiry_date = forms.DateField(
        label="Expiry date",
        required=False,
        help_text="As printed on the vial.",
    )
    excess_reason = forms.CharField(
        label="Reason for opening more than planned",
        required=False,
        max_length=300,
        help_text="Only when the vials opened come to more than the day's grams and one smallest vial.",
    )

    def __init__(self, *args, plan: dict, **kwargs):
        super().__init__(*args, plan=plan, **kwargs)
        sizes = sorted({vial["size_g"] for vial in plan["vials_per_day"]}, key=Decimal, reverse=True)
        self.fields["vial_size_g"].choices = [("", "From the scan, or choose")] + [
            (size, f"{Decimal(size).normalize():f} g") for size in sizes
        ]

    def clean(self):
        cleaned = super().clean()
        # The other typed fields are checked by the service; an empty select is this form's shape.
        if not cleaned.get("gs1") and cleaned.get("vial_size_g") is None and "vial_size_g" not in self.errors:
            self.add_error("vial_size_g", "Choose the vial size, or scan the vial.")
        return cleaned


class ReactionForm(PartForm):
    at = _when("Noticed at")
    type = forms.ChoiceField(label="Reaction", choices=ReactionType.choices)
    description = forms.CharField(
        label="Description", required=False, max_length=300, help_text="Required for 'Other'."
    )
    severity = forms.ChoiceField(label="Severity", choices=ReactionSeverity.choices, widget=forms.RadioSelect)
    action = forms.ChoiceField(label="What was done", choices=ReactionAction.choices)
    resumed_rate_ml_per_h = _rate(
        "Resumed at (mL/h)",
        required=False,
        help_text="Only when the infusion resumed; never above the limit of the current step.",
    )


class CompleteForm(PageVersionForm):
    version_field = "expected_version"
    confirm = forms.BooleanField(
        label="I have checked the summary: grams, volume and time are as given",
        required=False,
        help_text="Completing closes the record; later changes are amendments with a reason.",
    )
    expected_version = _version()


class VoidForm(forms.Form):
    reason = forms.CharField(
        label="Why is this entry voided?",
        max_length=300,
        help_text="For example: wrong lot scanned, entered on the wrong patient, typo in the rate.",
        error_messages={"required": "Say why this entry is voided."},
    )
