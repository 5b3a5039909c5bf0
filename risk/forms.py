from django import forms

from . import rules


class AcknowledgeForm(forms.Form):
    comment = forms.CharField(
        label="What you checked or did",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For example: 'hydration ordered, rate capped at the at-risk limit'.",
    )


class DashboardFilterForm(forms.Form):
    severity = forms.ChoiceField(
        choices=[("", "All severities")] + [(s, s.capitalize()) for s in rules.SEVERITIES],
        required=False,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    category = forms.ChoiceField(
        choices=[("", "All categories")] + [(c, c.capitalize()) for c in rules.CATEGORIES],
        required=False,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
