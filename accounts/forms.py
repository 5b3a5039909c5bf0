"""Forms convert and check what a person typed; the services do the writing."""

from datetime import datetime, timedelta

from django import forms

from .models import ApiToken, CalendarFeed, TokenScope

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
        fields = ["name", "scope"]
        help_texts = {
            "name": "What the token is for, e.g. “pharmacy dose-check script”.",
            "scope": "Read only: the token may only read (GET) from /api/v1/ and /fhir/, e.g. for an EHR "
            "or a registry. Read and write: it may also do what your role allows.",
        }
        widgets = {"scope": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Not sent (a script posting the form, an old page): the model's default, read and write.
        self.fields["scope"].required = False

    def clean_scope(self) -> str:
        return self.cleaned_data["scope"] or TokenScope.READ_WRITE

    def expires_at(self, now: datetime) -> datetime | None:
        days = self.cleaned_data["lifetime_days"]
        return None if days is None else now + timedelta(days=days)


class CalendarFeedForm(forms.ModelForm):
    class Meta:
        model = CalendarFeed
        fields = ["name"]
        labels = {"name": "Feed link name"}
