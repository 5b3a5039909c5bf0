"""Forms convert and check what a person typed; the services do the writing."""

from datetime import datetime, timedelta

from django import forms

from .models import ApiToken

# Lifetimes offered, in days; "" means no expiry. Ninety days by default, so a forgotten
# script's token does not work for ever.
LIFETIME_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "No expiry")]
DEFAULT_LIFETIME_DAYS = "90"


class ApiTokenForm(forms.ModelForm):
    lifetime_days = forms.TypedChoiceField(
        label="Expires after",
        choices=LIFETIME_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        initial=DEFAULT_LIFETIME_DAYS,
    )

    class Meta:
        model = ApiToken
        fields = ["name"]
        help_texts = {"name": "What the token is for, e.g. “pharmacy dose-check script”."}

    def expires_at(self, now: datetime) -> datetime | None:
        days = self.cleaned_data["lifetime_days"]
        return None if days is None else now + timedelta(days=days)
