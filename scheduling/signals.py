"""Courses follow their order: dosing announces a changed plan or a cancelled order
(dosing.signals) and scheduling, the layer above, re-times or closes the courses."""

from django.dispatch import receiver

from dosing.signals import order_closed, order_plan_changed

from .models import CourseStatus
from .services.lifecycle import course_close, sessions_follow_order


@receiver(order_plan_changed, dispatch_uid="scheduling.sessions_follow_order")
def _sessions_follow_order(sender, order, **kwargs):
    sessions_follow_order(order=order)


@receiver(order_closed, dispatch_uid="scheduling.close_courses_of_order")
def _close_courses(sender, order, by=None, reason="order cancelled", **kwargs):
    for course in order.courses.filter(status=CourseStatus.ACTIVE):
        course_close(course=course, by=by, reason=reason)
