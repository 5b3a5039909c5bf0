"""The FHIR operations: Patient/{id}/$everything, and the bulk $export (kick-off, status URL,
files) of the Bulk Data Access IG v2. Both walk compartment.BUILDERS, so every resource type of
a patient appears in them without a change here.

Who may export: a user whose role holds fhir.export_bulk (physicians); a read-only token may
kick one off (the IG's kick-off is a GET, and it changes no clinical record) but only a
read-write token may DELETE one. The status URL and the files answer only the user who asked:
anyone else gets 404, as for an export that does not exist."""

from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse
from django.utils import timezone
from django.utils.http import http_date

from patients.models import Patient

from . import bulk, compartment, exact_json, resources, tasks
from .capability import EVERYTHING_PARAMS, EXPORT_FORMATS, EXPORT_PARAMS
from .models import BulkExportJob, ExportStatus
from .search import SearchError, parse_count, parse_instant, parse_offset, parse_types
from .views import base_url, fhir_endpoint, fhir_response, outcome, searchset_page

NDJSON = "application/fhir+ndjson"
# Accept headers a bulk client sends for the files (the IG: application/fhir+ndjson).
NDJSON_ACCEPTABLE = frozenset({NDJSON, "application/ndjson", "application/*", "*/*"})
POLL_AFTER_SECONDS = 10


def _refuse_unknown_and_repeated(request, allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(request.GET) - set(allowed) - {"_format"})
    if unknown:
        raise SearchError(unknown[0], f"is not a parameter of {what} here (see /fhir/metadata)")
    for name, values in request.GET.lists():
        if len(values) > 1:
            raise SearchError(name, "may be given once (a comma list where it takes several)")


def _types(request) -> tuple[str, ...]:
    served = tuple(compartment.BUILDERS)
    return parse_types("_type", request.GET["_type"], served) if "_type" in request.GET else served


# --------------------------------------------------------------------------- $everything


@fhir_endpoint
def everything(request, resource_id: str):
    _refuse_unknown_and_repeated(request, EVERYTHING_PARAMS, "Patient/$everything")
    types = _types(request)
    count, offset = parse_count(request.GET.get("_count")), parse_offset(request.GET.get("_offset"))
    patient = _patient_or_none(resource_id)
    if patient is None:
        return outcome(404, "not-found", f"Patient/{resource_id} is not known here.")
    # The Patient first, then each type in BUILDERS order; a resource reached twice once.
    ordered = sorted(types, key=lambda name: name != "Patient")
    matches, seen = [], set()
    for resource_type in ordered:
        for resource in compartment.BUILDERS[resource_type](patient):
            if (resource_type, resource["id"]) not in seen:
                seen.add((resource_type, resource["id"]))
                matches.append(resource)
    path = f"Patient/{resource_id}/$everything"
    return fhir_response(searchset_page(request, path, matches, count=count, offset=offset))


def _patient_or_none(resource_id: str) -> Patient | None:
    try:
        patient_uuid = UUID(resource_id) if len(resource_id) == 36 else None
    except ValueError:
        return None
    return None if patient_uuid is None else Patient.objects.filter(uuid=patient_uuid).first()


# --------------------------------------------------------------------------- $export kick-off


@fhir_endpoint(methods=("GET",), permission=bulk.EXPORT_PERMISSION)
def export(request):
    """GET /fhir/$export and /fhir/Patient/$export (the same here: every resource we serve
    belongs to a patient). 202 with the status URL in Content-Location."""
    preferences = {part.strip().lower() for part in request.headers.get("Prefer", "").split(",")}
    if "respond-async" not in preferences:
        return outcome(400, "invalid", "A bulk export runs in the background: send Prefer: respond-async.")
    if "handling=lenient" not in preferences:  # lenient: unknown parameters are ignored (the IG)
        _refuse_unknown_and_repeated(request, EXPORT_PARAMS, "$export")
    # A "+" sent unencoded arrives as a space: "application/fhir ndjson" can only mean the one format.
    output_format = request.GET.get("_outputFormat", EXPORT_FORMATS[0]).replace(" ", "+")
    if output_format not in EXPORT_FORMATS:
        raise SearchError("_outputFormat", f"{output_format!r} is not served: use {', '.join(EXPORT_FORMATS)}")
    types = _types(request)
    since = parse_instant("_since", request.GET["_since"]) if "_since" in request.GET else None
    kick_off_url = base_url(request) + request.get_full_path().removeprefix("/fhir")
    try:
        job = bulk.bulk_export_request(
            by=request.user,
            request_url=kick_off_url,
            types=types,
            since=since,
            output_format=output_format,
            now=timezone.now(),
        )
    except PermissionDenied as exc:
        return outcome(403, "forbidden", str(exc))
    tasks.bulk_export_queue(job.pk)
    status_url = f"{base_url(request)}/$export-status/{job.uuid}"
    accepted = resources.operation_outcome(
        code="informational", severity="information", diagnostics=f"Export queued; poll {status_url}."
    )
    return fhir_response(accepted, 202, {"Content-Location": status_url})


# --------------------------------------------------------------------------- status, delete, files


def _own_job(request, job_uuid: UUID) -> BulkExportJob | None:
    return BulkExportJob.objects.filter(uuid=job_uuid, requested_by=request.user).first()


def _gone(job_uuid: UUID, job: BulkExportJob | None) -> HttpResponse:
    why = "" if job is None else f" (it was {job.get_status_display().lower()})"
    return outcome(404, "not-found", f"There is no export {job_uuid} of yours here{why}.")


@fhir_endpoint(methods=("GET", "HEAD", "DELETE"), permission=bulk.EXPORT_PERMISSION)
def export_status(request, job_uuid: UUID):
    job = _own_job(request, job_uuid)
    if job is None or job.status in (ExportStatus.DELETED, ExportStatus.EXPIRED):
        return _gone(job_uuid, job)
    if request.method == "DELETE":
        bulk.bulk_export_delete(by=request.user, job=job)
        return HttpResponse(status=202)
    if job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING):
        return HttpResponse(
            status=202, headers={"X-Progress": job.get_status_display(), "Retry-After": str(POLL_AFTER_SECONDS)}
        )
    if job.status == ExportStatus.FAILED:
        return outcome(500, "exception", job.error)
    return HttpResponse(
        exact_json.dumps(_manifest(request, job)),
        content_type="application/json",
        headers={"Expires": _http_date(bulk.expires_at(job))},
    )


def _manifest(request, job: BulkExportJob) -> dict:
    files = f"{base_url(request)}/$export-files/{job.uuid}"
    error = [{"type": bulk.ERROR_TYPE, "url": f"{files}/{bulk.ERROR_TYPE}.ndjson", "count": job.error_count}]
    return {
        "transactionTime": job.transaction_time.isoformat(),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [{**item, "url": f"{files}/{item['type']}.ndjson"} for item in job.output],
        "error": error if job.error_count else [],
    }


def _http_date(moment) -> str:
    return http_date(moment.timestamp())


@fhir_endpoint(permission=bulk.EXPORT_PERMISSION, media_types=NDJSON_ACCEPTABLE)
def export_file(request, job_uuid: UUID, resource_type: str):
    job = _own_job(request, job_uuid)
    if job is None:
        return _gone(job_uuid, job)
    try:
        path = bulk.bulk_export_download(
            by=request.user, job=job, resource_type=resource_type, audit=request.method == "GET"
        )
    except FileNotFoundError:
        return outcome(404, "not-found", f"Export {job_uuid} has no file {resource_type}.ndjson.")
    return FileResponse(path.open("rb"), content_type=NDJSON)
