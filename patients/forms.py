"""Forms convert and check what a person typed; the services do the writing.

Range checks live on the model fields (validators) so forms, services and the
admin share them; the database constraints are the second line.
"""

from django import forms

from accounts.form_errors import PageVersionMixin, page_version_field
from accounts.input_rules import DateWindowsMixin

from .labs import LAB_CATALOG
from .medicines import recognised_elsewhere
from .models import (
    MAX_HEIGHT_CM,
    MAX_WEIGHT_KG,
    MIN_HEIGHT_CM,
    BodyMeasurement,
    LabResult,
    LabTest,
    Medication,
    MyositisAntibody,
    Patient,
    RiskFactor,
    validate_height_cm,
    validate_weight_kg,
)
from .services import CATEGORY_KEPT_BECAUSE_MAX_CHARS, KEEP_CATEGORY_LABEL


class DateInput(forms.DateInput):
    """A date typed in the clinic's format: DateWindowsMixin makes it a text input with the format's
    placeholder and pattern (accounts.clinic_dates), not the browser's locale-dependent picker."""


def _weight_field(**kwargs) -> forms.DecimalField:
    return forms.DecimalField(
        label="Weight (kg)",
        max_digits=4,
        decimal_places=1,
        validators=[validate_weight_kg],
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0.1", "max": str(MAX_WEIGHT_KG)}),
        **kwargs,
    )


def _height_field(**kwargs) -> forms.DecimalField:
    return forms.DecimalField(
        label="Height (cm)",
        max_digits=4,
        decimal_places=1,
        validators=[validate_height_cm],
        widget=forms.NumberInput(attrs={"step": "0.1", "min": str(MIN_HEIGHT_CM), "max": str(MAX_HEIGHT_CM)}),
        **kwargs,
    )


class PatientForm(DateWindowsMixin, forms.ModelForm):
    antibodies = forms.MultipleChoiceField(
        label="Myositis antibodies (positive)",
        choices=MyositisAntibody.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = Patient
        fields = [
            "mrn",
            "given_name",
            "family_name",
            "date_of_birth",
            "sex_at_birth",
            "diagnosis",
            "diagnosis_other",
            "diagnosis_date",
            "antibodies",
            "antibody_other",
            "iga_status",
            "hypersensitivity_to_immunoglobulin",
            "corn_allergy",
            "hyperprolinaemia",
            "allergies",
            "blood_group",
            "cancer_screen_on",
            "antiphospholipid_screen",
            "antiphospholipid_screen_on",
            "ivig_started_on",
            "notes",
        ]
        widgets = {
            "date_of_birth": DateInput(),
            "diagnosis_date": DateInput(),
            "ivig_started_on": DateInput(),
            "cancer_screen_on": DateInput(),
            "antiphospholipid_screen_on": DateInput(),
            "allergies": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {"sex_at_birth": "Used for ideal body weight."}


class PatientEditForm(PageVersionMixin, PatientForm):
    # The version of the details the page showed; the service refuses the save if it changed since.
    expected_version = page_version_field()
    version_field = "expected_version"


class PatientCreateForm(PatientForm):
    """Registration also takes the first weight and height, which dosing needs."""

    weight_kg = _weight_field(required=False)
    height_cm = _height_field(required=False)
    measured_on = forms.DateField(
        label="Measured on", required=False, widget=DateInput(), help_text="Leave empty for today."
    )


class MeasurementForm(DateWindowsMixin, forms.ModelForm):
    weight_kg = _weight_field(required=False)
    height_cm = _height_field(required=False)

    class Meta:
        model = BodyMeasurement
        fields = ["measured_on", "weight_kg", "height_cm"]
        widgets = {"measured_on": DateInput()}


class LabResultForm(DateWindowsMixin, forms.ModelForm):
    class Meta:
        model = LabResult
        fields = ["test", "collected_on", "value", "upper_limit_normal"]
        widgets = {
            "collected_on": DateInput(),
            "value": forms.NumberInput(attrs={"step": "any", "min": "0"}),
            "upper_limit_normal": forms.NumberInput(attrs={"step": "any", "min": "0"}),
        }
        help_texts = {"upper_limit_normal": "From the lab report. Leave empty to use the site reference range."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Show each test's unit and site reference in the choice itself, so the unit is never guessed.
        self.fields["test"].choices = [("", "---------")] + [
            (code, _lab_choice_label(code, label)) for code, label in LabTest.choices
        ]


def _lab_choice_label(code: str, label: str) -> str:
    definition = LAB_CATALOG[code]
    uln = f", site ULN {definition.default_uln.normalize():f}" if definition.default_uln is not None else ""
    return f"{label} ({definition.unit}{uln})"


class MedicationForm(DateWindowsMixin, forms.ModelForm):
    """The category is checked against the drug's name by the service (patients.medicines): when
    the name is recognised under another category, the form shows a checkbox to keep the
    category as entered, with the reason that goes into the history."""

    keep_category = forms.BooleanField(label=KEEP_CATEGORY_LABEL, required=False)
    category_kept_because = forms.CharField(
        label="Why the category is kept",
        max_length=CATEGORY_KEPT_BECAUSE_MAX_CHARS,
        required=False,
        help_text="Kept in the medication's history, e.g. 'vaginal estriol cream, no systemic effect'.",
    )

    class Meta:
        model = Medication
        fields = ["category", "name", "daily_dose_mg", "started_on", "stopped_on"]
        widgets = {
            "started_on": DateInput(),
            "stopped_on": DateInput(),
            "daily_dose_mg": forms.NumberInput(attrs={"step": "any", "min": "0"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        data = self.data if self.is_bound else {}
        if recognised_elsewhere(data.get(self.add_prefix("name"), ""), data.get(self.add_prefix("category"), "")):
            self.order_fields(["category", "keep_category", "category_kept_because"])
        else:
            # Nothing to keep: the name fits its category (or is not recognised).
            del self.fields["keep_category"], self.fields["category_kept_because"]

    def clean(self):
        cleaned = super().clean()
        if "keep_category" in self.fields:
            keep = cleaned.pop("keep_category", False)
            because = cleaned.get("category_kept_because", "").strip()
            if keep and not because:
                self.add_error("category_kept_because", "Say why the category is kept as entered.")
            cleaned["category_kept_because"] = because if keep else ""
        return cleaned


class RiskFactorForm(DateWindowsMixin, forms.ModelForm):
    class Meta:
        model = RiskFactor
        fields = ["kind", "noted_on", "ended_on", "comment"]
        widgets = {"noted_on": DateInput(), "ended_on": DateInput()}


class DeleteRecordForm(forms.Form):
    reason = forms.CharField(
        label="Reason for removal",
        max_length=200,
        help_text="Kept in the audit trail, e.g. 'entered for the wrong patient'.",
    )


class ArchivePatientForm(PageVersionMixin, forms.Form):
    reason = forms.CharField(
        label="Reason for removal from the registry",
        max_length=200,
        help_text="Kept in the audit trail, e.g. 'duplicate of MRN A-1002' or 'registered in error'.",
    )
    expected_version = page_version_field()
    version_field = "expected_version"
