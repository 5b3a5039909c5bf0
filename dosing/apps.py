from django.apps import AppConfig


class DosingConfig(AppConfig):
    name = "dosing"
    verbose_name = "Dosing"

    def ready(self):
        from . import signals  # noqa: F401 - connects the receivers
