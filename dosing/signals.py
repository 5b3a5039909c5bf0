"""What the apps above dosing hear about an order, without dosing importing them.

``order_plan_changed``: the plan the chair follows changed (a verification, or today's chart
lowering a limit); scheduling re-times the order's booked sessions.
``order_closed``: the order was cancelled; scheduling closes its courses.
Both are sent inside the writer's transaction with ``order=`` the saved order."""

from django.dispatch import Signal

order_plan_changed = Signal()
order_closed = Signal()
