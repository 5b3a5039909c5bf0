"""Forms for the catalog pages and the dose calculator (the order forms live in order_forms.py).

They convert what a person typed (Decimal kg, whole days, a catalog row) and check its
shape. The clinical limits (weight, height, days for an indication) are checked once, by
dosing.calculations, and shown next to the field they name.
"""

from django import forms

from .calculations import SEXES
from .models import Indication, Product, SiteSettings, WeightBasis


def _number(step: str, **attrs) -> forms.NumberInput:
    return forms.NumberInput(attrs={"step": step, "inputmode": "decimal", **attrs})


class DosePerKgField(forms.DecimalField):
    """A g/kg dose: the arrow keys move 0.1 g/kg (2.00 -> 2.10), the step a prescriber changes a dose
    by. The browser's step grid starts at the input's min, so min is 0.1 here whatever the field's
    own minimum: with min 0.01 the arrows went 2.00 -> 2.01. Any value with two decimals is still
    typed and accepted (the forms are novalidate; the field's limits decide)."""

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        if isinstance(widget, forms.NumberInput):
            attrs.update(step="0.1", min="0.1", inputmode="decimal")
        return attrs


class SiteSettingsForm(forms.ModelForm):
    class Meta:
        model = SiteSettings
        fields = [
            "rounding_tolerance_percent",
            "site_at_risk_cap_mg_per_kg_min",
            "adjusted_weight_factor",
            "adjusted_weight_bmi_threshold",
            "hyperviscosity_triglycerides_mg_dl",
            "daily_dose_ceiling_g",
            "pump_rate_ceiling_ml_per_h",
            "pump_rate_minimum_ml_per_h",
            "vial_proposal",
            "first_infusion_first_step_factor",
            "first_infusion_gap_weeks",
            "review_first_months",
            "review_every_months",
            "review_reminder_days",
            "tis_every_weeks_early",
            "tis_early_until_week",
            "tis_every_weeks_after",
        ]
        labels = {
            "rounding_tolerance_percent": "Vial rounding tolerance (%)",
            "site_at_risk_cap_mg_per_kg_min": "Site at-risk rate cap (mg/kg/min)",
            "adjusted_weight_factor": "Adjusted body weight factor (× weight above ideal)",
            "adjusted_weight_bmi_threshold": "BMI from which 'auto' uses adjusted weight (kg/m²)",
            "hyperviscosity_triglycerides_mg_dl": "Triglycerides flagged as hyperviscosity risk (mg/dL)",
        }
        widgets = {
            "rounding_tolerance_percent": _number("0.5", min="0", max="20"),
            "site_at_risk_cap_mg_per_kg_min": _number("0.1", min="0.5", max="8"),
            "adjusted_weight_factor": _number("0.05", min="0", max="1"),
            "adjusted_weight_bmi_threshold": _number("0.5", min="18.5", max="60"),
            "hyperviscosity_triglycerides_mg_dl": _number("10", min="150", max="5000"),
            "daily_dose_ceiling_g": _number("0.1", min="10", max="500"),
            "pump_rate_ceiling_ml_per_h": _number("0.1", min="50", max="1200"),
            "pump_rate_minimum_ml_per_h": _number("0.1", min="0.1", max="10"),
        }


class ProductStockForm(forms.Form):
    vial_sizes_in_stock_g = forms.MultipleChoiceField(
        label="Vial sizes in stock",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one vial size: doses are rounded to the vials in stock."},
        help_text="Only sizes this product is marketed in. Dose rounding uses the sizes ticked here.",
    )

    def __init__(self, *args, product: Product, **kwargs):
        kwargs.setdefault("initial", {"vial_sizes_in_stock_g": list(product.vial_sizes_in_stock_g)})
        super().__init__(*args, **kwargs)
        # The value is the label's own text ("2.5"), so the stored list matches the label list exactly.
        self.fields["vial_sizes_in_stock_g"].choices = [(size, f"{size} g") for size in product.label_vial_sizes_g]


class PresentationGtinForm(forms.Form):
    """A GTIN for a package in the site's stock. The service checks the check digit, that no other
    presentation holds the GTIN, and the NDC it carries."""

    vial_size_g = forms.ChoiceField(label="Vial size")
    gtin = forms.CharField(
        label="GTIN",
        max_length=40,
        help_text="The 14 digits under the carton's 2D barcode, after (01). Spaces are ignored.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    ndc = forms.CharField(
        label="NDC", required=False, max_length=12, help_text="As printed on the carton, with its hyphens (optional)."
    )
    package = forms.CharField(
        label="Package", required=False, max_length=100, help_text="For example: carton of 1 vial, 100 mL."
    )
    source = forms.CharField(
        label="Where the GTIN was read",
        max_length=300,
        help_text="For example: carton of lot B0042 received 2026-11-20; wholesaler listing.",
        error_messages={"required": "Say where the GTIN was read: the carton in stock, the wholesaler's listing."},
    )

    def __init__(self, *args, product: Product, **kwargs):
        super().__init__(*args, **kwargs)
        sizes = ", ".join(product.label_vial_sizes_g) + " g"
        field = self.fields["vial_size_g"]
        field.choices = [("", "Choose the vial size")] + [(size, f"{size} g") for size in product.label_vial_sizes_g]
        # Django fills in %(value)s here, so the product's own "%" ("Octagam 10%") is escaped.
        refusal = f"{product.name} is marketed in {sizes}: choose one of them."
        field.error_messages["invalid_choice"] = refusal.replace("%", "%%")


def indication_value(indication: Indication) -> str:
    """The calculator's value for a catalog indication: readable and stable in a shared link."""
    return f"{indication.product.slug}/{indication.slug}"


class DoseCalculatorForm(forms.Form):
    """The calculator's inputs. Dose and days may be left empty: the indication's label dose
    (the lower end of a range) and its shortest course are used and shown with the result."""

    # A text field with a grouped select: the value may also be an indication id (see clean_indication).
    indication = forms.CharField(
        label="Product and indication",
        widget=forms.Select,
        error_messages={"required": "Choose a product and indication."},
    )
    weight_kg = forms.DecimalField(label="Actual body weight (kg)", widget=_number("0.1", min="0.1", max="350"))
    height_cm = forms.DecimalField(label="Height (cm)", widget=_number("0.1", min="40", max="250"))
    sex = forms.ChoiceField(
        label="Sex at birth",
        choices=[("", "---------")] + [(sex, sex.capitalize()) for sex in SEXES],
        help_text="Used for ideal body weight (Devine).",
    )
    dose_g_per_kg = DosePerKgField(
        label="Dose per cycle (g/kg)",
        required=False,
        widget=forms.NumberInput(attrs={"placeholder": "label dose", "max": "3"}),
        help_text="Empty: the indication's label dose.",
    )
    days = forms.IntegerField(
        label="Infusion days per cycle",
        required=False,
        widget=forms.NumberInput(attrs={"step": "1", "min": "1", "max": "7", "placeholder": "shortest"}),
        help_text="Empty: the indication's shortest course. Must lie within the indication's range.",
    )
    weight_basis = forms.ChoiceField(
        label="Dosing weight", choices=WeightBasis.choices, initial=WeightBasis.AUTO, required=False
    )
    at_risk = forms.BooleanField(
        label="At risk of thrombosis or renal dysfunction (caps the infusion rate)", required=False
    )

    def __init__(self, *args, indications: list[Indication], **kwargs):
        super().__init__(*args, **kwargs)
        self.indications = {indication_value(indication): indication for indication in indications}
        self._by_id = {str(indication.pk): indication for indication in indications}
        grouped: dict[str, list[tuple[str, str]]] = {}
        for value, indication in self.indications.items():
            grouped.setdefault(indication.product.name, []).append((value, _choice_label(indication)))
        self.fields["indication"].widget.choices = [("", "Choose a product and indication")] + list(grouped.items())

    def clean_indication(self) -> Indication:
        value = self.cleaned_data["indication"]
        # Also accepts the indication's id, as links from other pages may carry it.
        indication = self.indications.get(value) or self._by_id.get(value.strip())
        if indication is None:
            raise forms.ValidationError("Choose an indication from the catalog.")
        return indication

    def clean(self):
        cleaned = super().clean()
        indication = cleaned.get("indication")
        if indication is not None:
            if cleaned.get("dose_g_per_kg") is None and "dose_g_per_kg" not in self.errors:
                cleaned["dose_g_per_kg"] = indication.dose_g_per_kg_min
            if cleaned.get("days") is None and "days" not in self.errors:
                cleaned["days"] = indication.days_min
        cleaned["weight_basis"] = cleaned.get("weight_basis") or WeightBasis.AUTO
        return cleaned


def _choice_label(indication: Indication) -> str:
    # The product is named in the option itself: a closed select shows only the option, not its group.
    label = f"{indication.product.name} — {indication.name}"
    return label if indication.is_on_label else f"{label} ({indication.get_label_status_display()})"


class PresentationWithdrawForm(forms.Form):
    reason = forms.CharField(
        label="Why is this GTIN withdrawn?",
        max_length=300,
        help_text="For example: read from the wrong carton; the package is no longer stocked.",
        error_messages={"required": "Say why this GTIN is withdrawn."},
    )
