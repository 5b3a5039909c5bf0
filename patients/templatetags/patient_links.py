"""``{% patient_link patient %}``: a patient where a list names one, as one link to the patient's
page (MRN and name). A tag, not an include, because lists render it on every row: an include
per row was a large share of the dashboard's rendering time. patients/_patient_link.html renders
through it, so every page's patient link is this markup.

Optional: ``anchor`` ("#flags"), ``stacked`` (the name under the MRN). A list that built its rows'
URLs from one reversed prefix gives each patient a ``url``; otherwise get_absolute_url().
"""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def patient_link(patient, anchor: str = "", stacked: bool = False) -> str:
    """Example: MRN 0042, Martin, Alice -> <a class="patient-link" href="/patients/<uuid>/"><span
    class="text-nowrap"><bdi>0042</bdi></span> <bdi>Martin</bdi>, <bdi>Alice</bdi></a>"""
    url = getattr(patient, "url", "") or patient.get_absolute_url()
    return format_html(
        '<a class="patient-link" href="{}{}"><span class="text-nowrap"><bdi>{}</bdi></span>{}'
        "<bdi>{}</bdi>, <bdi>{}</bdi></a>",
        url,
        anchor or "",
        patient.mrn,
        mark_safe("<br>") if stacked else " ",
        patient.family_name,
        patient.given_name,
    )
