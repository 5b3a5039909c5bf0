from django import forms


class AcknowledgeForm(forms.Form):
    comment = forms.CharField(
        label="What you checked or did",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For example: 'hydration ordered, rate capped at the at-risk limit'.",
    )
