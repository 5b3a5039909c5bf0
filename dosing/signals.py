"""A new or corrected weight may invalidate verified dose orders."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from patients.models import BodyMeasurement

from .services.orders import dose_orders_recheck_weight


@receiver(post_save, sender=BodyMeasurement, dispatch_uid="dosing.recheck_orders_on_weight")
def recheck_orders_on_weight(sender, instance: BodyMeasurement, raw=False, **kwargs):
    if raw or instance.weight_kg is None:
        return
    dose_orders_recheck_weight(patient=instance.patient, by=getattr(instance, "_history_user", None))
