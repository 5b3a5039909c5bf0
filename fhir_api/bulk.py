"""The bulk FHIR export (Bulk Data Access IG v2): the services behind $export, its status URL and
its files. Each validates, writes the job in one transaction with an audit entry (simple-history:
requested, started, completed or failed, each download, deleted, expired).

The export walks every patient through compartment.BUILDERS, so a resource type added there is
exported without a change here. Each resource goes on one line of its type's NDJSON file as
exact_json writes it (Decimals digit for digit); the builders hand over resources their R4B
model has accepted. A resource shared by several patients (the same id) is written once.

A builder that refuses one patient's data (ValueError, which pydantic's ValidationError is) does
not sink the export: that patient's resources of that type are left out and an OperationOutcome
line says so in the error file (the manifest's `error`). Anything else (a full disk, a lost
database) fails the whole export: the status URL then answers 500 with an OperationOutcome.

Files live under settings.FHIR_EXPORT_ROOT/<job uuid>/ rather than in the database: a large
clinic's export is tens of megabytes that a file serves in chunks, and deleting a folder when the
export expires leaves no bloat behind in the database.
"""

import logging
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.audit import audited_save
from patients.models import Patient

from . import compartment, exact_json, resources
from .capability import EXPORT_FORMATS
from .models import ACTIVE_STATUSES, GONE_STATUSES, BulkExportJob, ExportStatus

logger = logging.getLogger(__name__)

EXPORT_PERMISSION = "fhir.export_bulk"
ERROR_TYPE = "OperationOutcome"  # the error file: fhir+ndjson of OperationOutcomes
DIAGNOSTICS_MAX_CHARS = 1000


def export_dir(job: BulkExportJob) -> Path:
    return Path(settings.FHIR_EXPORT_ROOT) / str(job.uuid)


def export_file(job: BulkExportJob, resource_type: str) -> Path:
    return export_dir(job) / f"{resource_type}.ndjson"


def expires_at(job: BulkExportJob) -> datetime | None:
    """When a finished export's files are deleted (FHIR_EXPORT_RETENTION_HOURS after it finished)."""
    if job.completed_at is None:
        return None
    return job.completed_at + timedelta(hours=settings.FHIR_EXPORT_RETENTION_HOURS)


def changed_since(resource: dict, since: datetime | None) -> bool:
    """Whether a resource belongs in an export `_since`: its meta.lastUpdated is after `since`.
    A resource without meta.lastUpdated (we cannot tell when it changed) is always included:
    an export that leaves out a change is worse than one that repeats a resource."""
    if since is None:
        return True
    last_updated = resource.get("meta", {}).get("lastUpdated")
    return last_updated is None or datetime.fromisoformat(last_updated) > since


# --------------------------------------------------------------------------- kick-off


def bulk_export_request(
    *, by, request_url: str, types: tuple[str, ...], since: datetime | None, output_format: str, now: datetime
) -> BulkExportJob:
    """Record an export asked for by `by` (who must hold the export permission). The caller
    queues its build once this commits (fhir_api.tasks.bulk_export_queue)."""
    if not by.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied("Your role does not allow a bulk export.")
    unknown = [name for name in types if name not in compartment.BUILDERS]
    if not types or unknown:
        raise ValueError(f"types: {unknown or 'none'} not exported here; exported: {', '.join(compartment.BUILDERS)}")
    if output_format not in EXPORT_FORMATS:
        raise ValueError(f"output_format: {output_format!r} is not one of {', '.join(EXPORT_FORMATS)}")
    job = BulkExportJob(
        uuid=uuid.uuid4(),
        requested_by=by,
        requested_at=now,
        request_url=request_url,
        types=list(types),
        since=since,
        output_format=output_format,
    )
    with transaction.atomic():
        # The history reason is short (100 characters); the job's own `types` holds the full list.
        what = "every type" if set(types) == set(compartment.BUILDERS) else ", ".join(types)
        audited_save(job, by=by, reason=f"export requested: {what}")
    return job


# --------------------------------------------------------------------------- the build (Celery)


def bulk_export_build(job_id: int, *, now: datetime, clock: Callable[[], datetime] = timezone.now) -> str:
    """Write the job's files; `now` is its transactionTime. Returns the job's status.

    Safe to run twice (Celery redelivers a task whose worker died): a finished, deleted or
    expired job is left alone; a job caught running is rebuilt from the start."""
    with transaction.atomic():
        job = BulkExportJob.objects.select_for_update().get(pk=job_id)
        if job.status not in ACTIVE_STATUSES:
            return job.status
        job.status, job.transaction_time = ExportStatus.RUNNING, now
        audited_save(job, by=None, reason="export started")
    try:
        written = _write_files(job)
    except Exception:
        logger.exception("FHIR bulk export %s failed", job.uuid)
        shutil.rmtree(export_dir(job), ignore_errors=True)
        return _finish(job, clock(), failure="The export failed on the server; its log names the cause.")
    if written is None:  # deleted while it ran
        shutil.rmtree(export_dir(job), ignore_errors=True)
        return ExportStatus.DELETED
    return _finish(job, clock(), output=written[0], error_count=written[1])


def _still_running(job: BulkExportJob) -> bool:
    return BulkExportJob.objects.filter(pk=job.pk, status=ExportStatus.RUNNING).exists()


def _write_files(job: BulkExportJob) -> tuple[list[dict], int] | None:
    """[{type, count}] of the files written, and the number of error lines; None if the job was
    deleted meanwhile. Files are opened when their first line comes: a type with nothing to
    export gets no file (the IG: the manifest lists only files with content)."""
    directory = export_dir(job)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    files, counts, seen = {}, dict.fromkeys(job.types, 0), {name: set() for name in job.types}
    errors = 0

    def write(resource_type: str, resource: dict) -> None:
        if resource_type not in files:
            files[resource_type] = export_file(job, resource_type).open("w", encoding="utf-8", newline="\n")
        files[resource_type].write(exact_json.dumps(resource) + "\n")

    try:
        for patient in Patient.objects.order_by("pk").iterator(chunk_size=200):
            if not _still_running(job):
                return None
            for resource_type in job.types:
                try:
                    built = compartment.BUILDERS[resource_type](patient)
                except ValueError as exc:
                    errors += 1
                    message = f"{resource_type} of Patient/{patient.uuid} could not be exported: {exc}"
                    write(ERROR_TYPE, resources.operation_outcome(code="exception", diagnostics=_short(message)))
                    continue
                for resource in built:
                    if resource["id"] in seen[resource_type] or not changed_since(resource, job.since):
                        continue
                    seen[resource_type].add(resource["id"])
                    write(resource_type, resource)
                    counts[resource_type] += 1
    finally:
        for handle in files.values():
            handle.close()
    return [{"type": name, "count": count} for name, count in counts.items() if count], errors


def _short(text: str) -> str:
    return text if len(text) <= DIAGNOSTICS_MAX_CHARS else text[: DIAGNOSTICS_MAX_CHARS - 1] + "…"


def _finish(job: BulkExportJob, at: datetime, *, output=(), error_count: int = 0, failure: str = "") -> str:
    with transaction.atomic():
        job = BulkExportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ExportStatus.RUNNING:  # deleted (or expired) while it ran: no files stay
            shutil.rmtree(export_dir(job), ignore_errors=True)
            return job.status
        job.status = ExportStatus.FAILED if failure else ExportStatus.COMPLETED
        job.output, job.error_count, job.error, job.completed_at = list(output), error_count, failure, at
        audited_save(job, by=None, reason=f"export {job.status}")
    return job.status


# --------------------------------------------------------------------------- download, delete, expiry


def bulk_export_download(*, by, job: BulkExportJob, resource_type: str, audit: bool = True) -> Path:
    """The file of `resource_type` (or ERROR_TYPE) for its requester; each download is audited
    (`audit=False`: a HEAD, which sends no data). Raises PermissionDenied for anyone else and
    FileNotFoundError for a file the job has not."""
    if by.pk != job.requested_by_id or not by.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied("Only who asked for an export may download its files.")
    listed = {item["type"] for item in job.output} | ({ERROR_TYPE} if job.error_count else set())
    path = export_file(job, resource_type)
    if job.status != ExportStatus.COMPLETED or resource_type not in listed or not path.is_file():
        raise FileNotFoundError(f"{resource_type}.ndjson is not a file of export {job.uuid}")
    if not audit:
        return path
    with transaction.atomic():
        job = BulkExportJob.objects.select_for_update().get(pk=job.pk)
        job.downloads += 1
        audited_save(job, by=by, reason=f"downloaded {resource_type}.ndjson")
    return path


def bulk_export_delete(*, by, job: BulkExportJob) -> BulkExportJob:
    """Cancel a queued or running export, or delete a finished one's files. The row stays (the
    audit trail); the status URL and the files answer 404 from now on."""
    if by.pk != job.requested_by_id or not by.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied("Only who asked for an export may delete it.")
    with transaction.atomic():
        job = BulkExportJob.objects.select_for_update().get(pk=job.pk)
        if job.status in GONE_STATUSES:
            raise FileNotFoundError(f"export {job.uuid} is already {job.status}")
        job.status = ExportStatus.DELETED
        audited_save(job, by=by, reason="deleted by the requester")
    shutil.rmtree(export_dir(job), ignore_errors=True)
    return job


def bulk_exports_expire(*, now: datetime) -> dict[str, int]:
    """Delete the files of exports finished more than FHIR_EXPORT_RETENTION_HOURS ago, and give
    up on exports queued that long ago that never finished (a worker lost). Idempotent."""
    cutoff = now - timedelta(hours=settings.FHIR_EXPORT_RETENTION_HOURS)
    finished = BulkExportJob.objects.filter(
        status__in=(ExportStatus.COMPLETED, ExportStatus.FAILED), completed_at__lt=cutoff
    )
    abandoned = BulkExportJob.objects.filter(status__in=ACTIVE_STATUSES, requested_at__lt=cutoff)
    counts = {"expired": 0, "abandoned": 0}
    for key, jobs in (("expired", finished), ("abandoned", abandoned)):
        for job_id in list(jobs.values_list("pk", flat=True)):
            with transaction.atomic():
                job = BulkExportJob.objects.select_for_update().get(pk=job_id)
                if job.status in GONE_STATUSES:
                    continue
                job.status = ExportStatus.EXPIRED
                audited_save(job, by=None, reason=f"files removed after {settings.FHIR_EXPORT_RETENTION_HOURS} h")
            shutil.rmtree(export_dir(job), ignore_errors=True)
            counts[key] += 1
    return counts
