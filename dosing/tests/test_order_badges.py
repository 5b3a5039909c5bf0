import pytest

from dosing.models import DoseOrder, OrderStatus
from dosing.templatetags.order_badges import order_status


@pytest.mark.parametrize(("status", "at_risk", "html"), [
    (OrderStatus.VERIFIED, False, '<span class="badge text-bg-success">Verified</span>'),
    (OrderStatus.AWAITING_VERIFICATION, False,
     '<span class="badge text-bg-warning">Awaiting pharmacist verification</span>'),
    (OrderStatus.REVIEW, False,
     '<span class="badge text-bg-warning" data-order-status="review">In use; chart changed, verify again</span>'),
    (OrderStatus.VERIFIED, True,
     '<span class="badge text-bg-success">Verified</span> <span class="badge text-bg-danger">at-risk cap</span>'),
])  # fmt: skip
def test_order_status_badge(status, at_risk, html):
    assert order_status(DoseOrder(status=status, at_risk=at_risk)) == html


def test_reverify_is_red_and_ended_orders_grey():
    assert order_status(DoseOrder(status=OrderStatus.REVERIFY, at_risk=False)).startswith(
        '<span class="badge text-bg-danger">'
    )
    for status in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
        html = order_status(DoseOrder(status=status, at_risk=False))
        assert html == f'<span class="badge text-bg-secondary">{status.label}</span>'
