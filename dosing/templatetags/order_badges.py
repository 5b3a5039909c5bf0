"""``{% order_status order %}``: an order's status badge (and the at-risk cap's). A tag, not an
include, because lists render it on every row; dosing/_order_status.html renders through it."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from dosing.models import OrderStatus

register = template.Library()

_BADGE_CLASS = {
    OrderStatus.VERIFIED: "text-bg-success",
    OrderStatus.AWAITING_VERIFICATION: "text-bg-warning",
    OrderStatus.REVIEW: "text-bg-warning",
    OrderStatus.REVERIFY: "text-bg-danger",
}


@register.simple_tag
def order_status(order) -> str:
    """Example: a verified at-risk order -> <span class="badge text-bg-success">Verified</span>
    <span class="badge text-bg-danger">at-risk cap</span>"""
    extra = format_html(' data-order-status="{}"', order.status) if order.status == OrderStatus.REVIEW else ""
    badge = format_html(
        '<span class="badge {}"{}>{}</span>',
        _BADGE_CLASS.get(order.status, "text-bg-secondary"),
        extra,
        order.get_status_display(),
    )
    cap = mark_safe(' <span class="badge text-bg-danger">at-risk cap</span>') if order.at_risk else ""
    return format_html("{}{}", badge, cap)
