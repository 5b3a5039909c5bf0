"""The course page's edit form and the review page's decision form (they validate and convert;
the rules are the services')."""

from decimal import Decimal

from django import forms

from accounts.form_errors import PageVersionForm, page_version_field
from accounts.input_rules import DateWindowsMixin
from dosing.forms import DosePerKgField
from dosing.models import ObjectiveMeasure

from .models import Decision


class CourseEditForm(DateWindowsMixin, PageVersionForm):
    authorised_until = forms.DateField(label="Authorised until")
    next_review_due = forms.DateField(label="Next review due")
    max_dose_g_per_kg = DosePerKgField(
        label="Authorised maximum dose (g/kg per cycle)",
        max_digits=4,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("3"),
    )
    interval_weeks = forms.IntegerField(label="Authorised interval (weeks)", min_value=1, max_value=52)
    objective_measures = forms.MultipleChoiceField(
        label="Objective measures (TIS core set)",
        choices=ObjectiveMeasure.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    reason = forms.CharField(label="Reason for the change", max_length=300, widget=forms.Textarea(attrs={"rows": 2}))
    version = page_version_field()


class ReviewForm(PageVersionForm):
    decision = forms.ChoiceField(label="Decision", choices=Decision.choices, widget=forms.RadioSelect)
    dose_g_per_kg = DosePerKgField(
        label="New dose (g/kg per cycle), for a step down",
        required=False,
        max_digits=4,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("3"),
        help_text="e.g. 1 g/kg (ProDERM extension: stable patients). Empty: the dose stays.",
    )
    interval_weeks = forms.IntegerField(
        label="New interval (weeks), for a step down",
        required=False,
        min_value=1,
        max_value=52,
        help_text="e.g. from 4 to 6 or 8 weeks. Empty: the interval stays. The booked cycles move with it.",
    )
    reason = forms.CharField(label="Reason", max_length=300, widget=forms.Textarea(attrs={"rows": 2}))
    accept_warnings = forms.BooleanField(
        label="Move the cycles despite the warnings shown", required=False, help_text="Only after warnings are shown."
    )
    version = page_version_field()


class VoidForm(forms.Form):
    reason = forms.CharField(label="Reason to void", max_length=300)
