"""Recompute a patient's flags whenever something the rules read changes.

Synchronous, inside the writer's transaction, so a flag is never out of date
with the chart that was just saved (the nightly task catches time passing).
Inside a service (accounts.transactions) a save only marks its patient, who is recomputed once
at the end of the service's transaction, before it commits; elsewhere (a shell, the admin,
fixtures built in tests) at once.

Apps above risk whose rows the rules read (scheduling's sessions: the next cycle decides
whether a creatinine is due) connect them with ``watch`` from their own ready()."""

from django.db.models.signals import post_delete, post_save

from dosing.models import DoseOrder
from patients.models import BodyMeasurement, LabResult, Medication, Patient, RiskFactor
from visits.models import Visit

from .services import flags_recompute, flags_recompute_later

WATCHED = (Patient, BodyMeasurement, LabResult, Medication, RiskFactor, DoseOrder, Visit)


def _recompute(sender, instance, raw=False, **kwargs):
    if raw or getattr(instance, "_skip_flags_recompute", False):
        # Fixtures load rows as they are. A writer marks a save the rules need not see: an order
        # saved by its chart comparison (a recompute is already running), a session re-timed.
        return
    patient_id = instance.pk if isinstance(instance, Patient) else instance.patient_id
    if flags_recompute_later(patient_id):
        return
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is not None:  # None while the patient itself is being deleted
        flags_recompute(patient=patient)


def watch(model) -> None:
    """Recompute the patient's flags when a row of ``model`` (with a ``patient_id``) is saved or deleted."""
    post_save.connect(_recompute, sender=model, dispatch_uid=f"risk.recompute.save.{model.__name__}")
    if model is not Patient:
        post_delete.connect(_recompute, sender=model, dispatch_uid=f"risk.recompute.delete.{model.__name__}")


for model in WATCHED:
    watch(model)
