from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "fhir_api"
    label = "fhir"
    verbose_name = "FHIR API"
