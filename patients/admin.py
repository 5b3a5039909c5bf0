from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import BodyMeasurement, LabResult, Medication, Patient, RiskFactor


class NoDeleteAdmin(SimpleHistoryAdmin):
    """A delete here would cascade through a patient's chart with no reason given, and the
    patient's audit page would 404. Records entered in error are removed in the app, with a
    reason (patients.services.clinical_record_delete), which keeps their history readable."""

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Patient)
class PatientAdmin(NoDeleteAdmin):
    list_display = ["mrn", "family_name", "given_name", "date_of_birth", "diagnosis"]
    search_fields = ["mrn", "family_name", "given_name"]


for model in (BodyMeasurement, LabResult, Medication, RiskFactor):
    admin.site.register(model, NoDeleteAdmin, list_display=["patient", "__str__"], raw_id_fields=["patient"])
