from django.apps import AppConfig


class RiskConfig(AppConfig):
    name = "risk"
    verbose_name = "Risk flags"

    def ready(self):
        from . import signals  # noqa: F401 - connects the receivers
