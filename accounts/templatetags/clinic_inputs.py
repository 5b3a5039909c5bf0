"""``{% clinic_input "date" name value id="…" class="…" %}``: a date or time input in the clinic's
format (accounts.clinic_dates) for a page's own GET filter that has no form field to render."""

from django import template
from django.utils.safestring import mark_safe

from accounts.clinic_dates import clinic_input_html

register = template.Library()


@register.simple_tag
def clinic_input(kind: str, name: str, value, **attrs) -> str:
    return mark_safe(clinic_input_html(kind, name=name, value=value, attrs=attrs))
