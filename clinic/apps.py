from django.apps import AppConfig


class ClinicConfig(AppConfig):
    """The top layer: what composes several apps (the dashboard, the patient's chart page, the
    trend chart with its infusions, the demo clinic and the synthetic clinic of the benchmark).
    Nothing below imports it."""

    name = "clinic"
    verbose_name = "Clinic (pages that compose the apps)"
