from django import forms

from risk import rules


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
