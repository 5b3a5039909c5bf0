"""``{% submission_token %}``: the hidden one-time key that makes a form's repeated sending
harmless (accounts/submissions.py). A builtin (settings.TEMPLATES): no ``{% load %}`` needed."""

from django import template
from django.utils.html import format_html

from accounts.submissions import FIELD_NAME, new_submission_id

register = template.Library()


@register.simple_tag
def submission_token():
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD_NAME, new_submission_id())
