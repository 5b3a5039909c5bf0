"""A bulk FHIR export (Bulk Data Access IG, $export): who asked for what, when, and how it went.

The files themselves (one NDJSON per resource type) live under settings.FHIR_EXPORT_ROOT, in a
folder named by the job's UUID; the row stays after the files are deleted or expire, so the
history shows every export and every download (simple-history, like every record that matters).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from .capability import EXPORT_FORMATS


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    DELETED = "deleted", "Deleted by the requester"
    EXPIRED = "expired", "Expired (files removed)"


# A job in these states may still get files; the others have none (any more).
ACTIVE_STATUSES = (ExportStatus.QUEUED, ExportStatus.RUNNING)
GONE_STATUSES = (ExportStatus.DELETED, ExportStatus.EXPIRED)


class BulkExportJob(models.Model):
    uuid = models.UUIDField(unique=True, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    request_url = models.CharField(max_length=2000, help_text="The kick-off request, as the manifest repeats it.")
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    types = models.JSONField(help_text="The resource types asked for (all served types when _type was not given).")
    since = models.DateTimeField(null=True, blank=True, help_text="_since: only resources changed after it.")
    output_format = models.CharField(max_length=30, default=EXPORT_FORMATS[0])
    transaction_time = models.DateTimeField(null=True, blank=True, help_text="When the data was read.")
    completed_at = models.DateTimeField(null=True, blank=True)
    # [{"type": "Observation", "count": 12}, ...]: the files written, in BUILDERS order.
    output = models.JSONField(default=list, blank=True)
    # How many OperationOutcome lines the error file holds (resources that could not be exported).
    error_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the whole export failed.")
    downloads = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_at", "-id"]
        default_permissions = ()
        permissions = [("export_bulk", "Export every patient's record (FHIR bulk $export)")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ExportStatus.values), name="bulkexportjob_status_known"),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(completed_at__gte=models.F("requested_at")),
                name="bulkexportjob_completed_after_requested",
            ),
        ]

    def __str__(self):
        return f"FHIR export {self.uuid} ({self.status})"
