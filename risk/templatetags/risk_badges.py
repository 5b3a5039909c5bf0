"""``{{ flag.severity|severity_badge }}``: a flag's severity as its badge. A filter, not an include,
because lists render it on every row; risk/_severity.html renders through it."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from risk import rules

register = template.Library()

_BADGE_CLASS = {rules.HIGH: "text-bg-danger", rules.MODERATE: "text-bg-warning"}


@register.filter
def severity_badge(severity: str) -> str:
    """Example: "high" -> <span class="badge text-bg-danger">high</span>; anything not high or
    moderate shows as info."""
    if severity not in _BADGE_CLASS:
        return mark_safe('<span class="badge text-bg-secondary">info</span>')
    return format_html('<span class="badge {}">{}</span>', _BADGE_CLASS[severity], severity)
