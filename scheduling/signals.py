"""Scheduling hooks itself onto the layers below it, which never import it:

- courses follow their order: dosing announces a changed plan or a cancelled order
  (dosing.signals) and scheduling re-times or closes the courses;
- a course booked marks its order as booked from (dosing's "to schedule" list reads the mark);
- the risk rules learn when the next cycle starts (risk.services.NEXT_CYCLE_SOURCES), and a
  session saved or deleted recomputes the patient's flags (risk.signals.watch)."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from dosing.services.orders import dose_order_course_booked
from dosing.signals import order_closed, order_plan_changed
from risk.services import NEXT_CYCLE_SOURCES
from risk.signals import watch

from .models import Course, CourseStatus, InfusionSession
from .services.lifecycle import course_close, next_cycle_on, sessions_follow_order

watch(InfusionSession)
if next_cycle_on not in NEXT_CYCLE_SOURCES:
    NEXT_CYCLE_SOURCES.append(next_cycle_on)


@receiver(order_plan_changed, dispatch_uid="scheduling.sessions_follow_order")
def _sessions_follow_order(sender, order, **kwargs):
    sessions_follow_order(order=order)


@receiver(order_closed, dispatch_uid="scheduling.close_courses_of_order")
def _close_courses(sender, order, by=None, reason="order cancelled", **kwargs):
    for course in order.courses.filter(status=CourseStatus.ACTIVE):
        course_close(course=course, by=by, reason=reason)


@receiver(post_save, sender=Course, dispatch_uid="scheduling.order_course_booked")
def _order_course_booked(sender, instance, created, raw=False, **kwargs):
    # Every way a course comes to be (the service, the admin, a fixture) marks its order as
    # booked from, which takes it off dosing's "to schedule" list.
    if created and not raw:
        dose_order_course_booked(order_id=instance.order_id, booked_at=instance.created_at)
