from django.apps import AppConfig


class PathwayConfig(AppConfig):
    """The treatment pathway: a treatment course's pages and its stewardship reviews. It composes
    dosing (the course and orders), visits (TIS), risk (flags) and scheduling (cycles, reactions,
    rescheduling chairs), so it stands above scheduling and below clinic."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "pathway"
