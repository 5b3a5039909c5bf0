from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import BodyMeasurement, LabResult, Medication, Patient, RiskFactor


@admin.register(Patient)
class PatientAdmin(SimpleHistoryAdmin):
    list_display = ["mrn", "family_name", "given_name", "date_of_birth", "diagnosis"]
    search_fields = ["mrn", "family_name", "given_name"]


for model in (BodyMeasurement, LabResult, Medication, RiskFactor):
    admin.site.register(model, SimpleHistoryAdmin, list_display=["patient", "__str__"], raw_id_fields=["patient"])
