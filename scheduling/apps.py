from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Infusion scheduling and reminders"

    def ready(self):
        from . import signals  # noqa: F401 - connects the receivers
