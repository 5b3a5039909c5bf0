"""Scheduling hooks itself onto the layers below it, which never import it:

- courses follow their order: dosing announces a changed plan or a cancelled order
  (dosing.signals) and scheduling re-times or closes the courses;
- a course booked marks its order as booked from (dosing's "to schedule" list reads the mark);
- the risk rules learn when the next cycle starts (risk.services.NEXT_CYCLE_SOURCES), and a
  session saved or deleted recomputes the patient's flags (risk.signals.watch);
- reminders follow their data: a row saved or deleted that a reminder depends on (below) marks
  its patient, whose reminders are recomputed once after the transaction commits
  (scheduling.services.sweep.reminders_recompute_later). Site-wide settings (the unit's lead
  time, the TIS rhythm) reach every patient at the nightly reconciliation."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from dosing.models import DoseOrder, TreatmentCourse
from dosing.services.orders import dose_order_course_booked
from dosing.signals import order_closed, order_plan_changed
from patients.models import LabResult, Patient
from risk.models import RiskFlag
from risk.services import NEXT_CYCLE_SOURCES
from risk.signals import watch
from visits.models import Visit

from .models import Course, CourseStatus, InfusionRecord, InfusionSession
from .services.lifecycle import course_close, next_cycle_on, sessions_follow_order
from .services.sweep import reminders_recompute_later

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


# What reminders read, and how to find the patient of a row: sessions (upcoming infusions, labs
# before a cycle, checks after it, missed and overdue cycles), the record's stop time (the
# checks' windows), courses (overdue rhythm), labs (creatinine), visits (TIS), flags (renal and
# haemolysis risk), treatment courses (reviews), orders and the patient (week 0).
REMINDER_INPUTS = {
    InfusionSession: lambda row: row.patient_id,
    InfusionRecord: lambda row: (
        InfusionSession.objects.filter(pk=row.session_id).values_list("patient_id", flat=True).first()
    ),
    Course: lambda row: row.patient_id,
    LabResult: lambda row: row.patient_id,
    Visit: lambda row: row.patient_id,
    RiskFlag: lambda row: row.patient_id,
    TreatmentCourse: lambda row: row.patient_id,
    DoseOrder: lambda row: row.patient_id,
    Patient: lambda row: row.pk,
}


def _reminder_inputs_changed(sender, instance, raw=False, **kwargs):
    if raw:
        return  # fixtures load rows as they are; the nightly reconciliation computes theirs
    reminders_recompute_later(REMINDER_INPUTS[sender](instance))


for _model in REMINDER_INPUTS:
    post_save.connect(
        _reminder_inputs_changed, sender=_model, dispatch_uid=f"scheduling.reminders.save.{_model.__name__}"
    )
    post_delete.connect(
        _reminder_inputs_changed, sender=_model, dispatch_uid=f"scheduling.reminders.delete.{_model.__name__}"
    )
