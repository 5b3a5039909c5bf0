"""The FHIR endpoints. Each: authenticate and authorise (`fhir_endpoint`), read the search
parameters the registry declares (capability.SERVED), answer a resource or a Bundle; every
error is an OperationOutcome with its status."""

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Q
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts.auth import token_for_secret
from patients.models import BodyMeasurement, LabResult, Patient
from risk.models import RiskFlag
from visits.models import Visit

from . import clinical, compartment, exact_json, resources
from . import terminology as t
from .capability import FHIR_JSON, RESULT_PARAMS, SERVED_BY_TYPE, capability_statement
from .search import SearchError, parse_count, parse_date, parse_offset, parse_token

CONTENT_TYPE = f"{FHIR_JSON}; fhirVersion=4.0"
ACCEPTABLE = {FHIR_JSON, "application/json", "application/*", "*/*", "application/json+fhir"}
FORMAT_VALUES = {"json", FHIR_JSON, "application/json"}


def fhir_response(resource: dict, status: int = 200, headers: dict | None = None) -> HttpResponse:
    return HttpResponse(exact_json.dumps(resource), status=status, content_type=CONTENT_TYPE, headers=headers)


def outcome(status: int, code: str, diagnostics: str, headers: dict | None = None) -> HttpResponse:
    return fhir_response(resources.operation_outcome(code=code, diagnostics=diagnostics), status, headers)


def base_url(request) -> str:
    """Where links (Bundle.link, fullUrl) point: SITE_URL when set, else the host asked."""
    if settings.SITE_URL:
        return f"{settings.SITE_URL.rstrip('/')}/fhir"
    return request.build_absolute_uri("/fhir")


def _accepts_json(request) -> bool:
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return True
    return any(part.split(";")[0].strip().lower() in ACCEPTABLE for part in accept.split(","))


def fhir_endpoint(view: Callable) -> Callable:
    """Who and how, before any data: a bearer token (bad: 401; read-only and not a read: 403) or a
    session (none: 401), a user allowed to view patients (403), a read (405), JSON (406)."""
    # Named as Django's require_http_methods names it, so tools that read a view's methods from
    # its closure (the write-permission walk in ivig_clinic/tests) see that these only read.
    request_method_list = ["GET", "HEAD"]

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme:
            token = token_for_secret(secret.strip()) if scheme.lower() == "bearer" else None
            if token is None:
                return outcome(401, "login", "The token is not valid.", {"WWW-Authenticate": "Bearer"})
            if not token.allows_method(request.method):
                return outcome(403, "forbidden", "This token is read-only: it may only read (GET).")
            request.user = token.user
        elif not request.user.is_authenticated:
            return outcome(
                401,
                "login",
                "Authentication required: send Authorization: Bearer <token>.",
                {"WWW-Authenticate": "Bearer"},
            )
        if not request.user.has_perm("patients.view_patient"):
            return outcome(403, "forbidden", "Your role does not allow reading patients.")
        if request.method not in request_method_list:
            return outcome(405, "not-supported", "This FHIR API is read only.", {"Allow": "GET, HEAD"})
        if not _accepts_json(request) or request.GET.get("_format", "json") not in FORMAT_VALUES:
            return outcome(406, "not-supported", "Only JSON (application/fhir+json) is served.")
        if any("\x00" in value for values in request.GET.lists() for value in values[1]):
            return outcome(400, "invalid", "A search parameter holds a NUL character.")
        try:
            return view(request, *args, **kwargs)
        except SearchError as exc:
            return outcome(400, "invalid", str(exc))

    # Authentication here, not by the login redirect: an EHR cannot follow one. No CSRF check:
    # nothing here writes (every other method is refused above), and a write with a token should
    # get its OperationOutcome (403 read-only, 405), not Django's CSRF page.
    return login_not_required(csrf_exempt(never_cache(wrapped)))


# --------------------------------------------------------------------------- the endpoints


@fhir_endpoint
def metadata(request):
    statement = capability_statement(base_url=base_url(request), software_version=settings.FHIR_SOFTWARE_VERSION)
    return fhir_response(resources.validated(statement))


@fhir_endpoint
def read(request, resource_type: str, resource_id: str):
    reader = READERS.get(resource_type)
    if reader is None or "read" not in SERVED_BY_TYPE[resource_type].interactions:
        return _unknown_type(resource_type)
    resource = reader(request, resource_id)
    if resource is None:
        return outcome(404, "not-found", f"{resource_type}/{resource_id} is not known here.")
    if isinstance(resource, resources.Gone):
        return outcome(410, "deleted", resource.diagnostics)
    return fhir_response(resource)


@fhir_endpoint
def search(request, resource_type: str):
    searcher = SEARCHERS.get(resource_type)
    if searcher is None or "search-type" not in SERVED_BY_TYPE[resource_type].interactions:
        return _unknown_type(resource_type)
    allowed = {p.name for p in SERVED_BY_TYPE[resource_type].search_params} | set(RESULT_PARAMS)
    unknown = sorted(set(request.GET) - allowed)
    if unknown:
        raise SearchError(unknown[0], f"is not a search parameter of {resource_type} here (see /fhir/metadata)")
    for name in request.GET:
        if name != "date" and len(request.GET.getlist(name)) > 1:
            raise SearchError(name, "may be given once")
    count, offset = parse_count(request.GET.get("_count")), parse_offset(request.GET.get("_offset"))
    matches = searcher(request)
    return fhir_response(_searchset(request, resource_type, matches, count=count, offset=offset))


@fhir_endpoint
def unknown(request, path: str):
    return _unknown_type(path.split("/")[0])


def _unknown_type(resource_type: str):
    return outcome(404, "not-supported", f"{resource_type!r} is not served here (see /fhir/metadata).")


# --------------------------------------------------------------------------- Patient


def read_patient(request, resource_id: str) -> dict | None:
    patient_uuid = _uuid_or_none(resource_id)
    patient = None if patient_uuid is None else Patient.objects.filter(uuid=patient_uuid).first()
    return None if patient is None else resources.patient_resource(patient, mrn_system=compartment.mrn_system())


def search_patients(request) -> list[dict]:
    patients = Patient.objects.all()
    if "identifier" in request.GET:
        token = parse_token("identifier", request.GET["identifier"])
        if token.system not in (None, compartment.mrn_system()):
            return []  # an identifier of another system (or none): no MRN of ours is one
        patients = patients.filter(mrn=token.code)
    if "name" in request.GET:
        name = request.GET["name"].strip()
        if not name:
            raise SearchError("name", "is empty")
        patients = patients.filter(Q(family_name__istartswith=name) | Q(given_name__istartswith=name))
    return [
        resources.patient_resource(p, mrn_system=compartment.mrn_system())
        for p in patients.order_by("family_name", "given_name", "pk")
    ]


# --------------------------------------------------------------------------- Observation


def read_observation(request, resource_id: str) -> dict | None:
    # "<uuid>" or "<uuid>-<suffix>": the record tells the patient; the patient's rows are built as
    # search builds them, so a read always equals the search entry.
    record_uuid = _uuid_or_none(resource_id[:36])
    if record_uuid is None or (len(resource_id) > 36 and resource_id[36] != "-"):
        return None
    patient = None
    for model in (LabResult, BodyMeasurement, Visit):
        record = model.objects.select_related("patient").filter(uuid=record_uuid).first()
        if record is not None:
            patient = record.patient
            break
    if patient is None:
        return None
    rows = resources.observation_rows(patient, local_system=compartment.local_system())
    return next((row.resource for row in rows if row.id == resource_id), None)


def search_observations(request) -> list[dict]:
    if "patient" not in request.GET:
        raise SearchError("patient", "is required: Observation search is per patient (patient=Patient/<id>)")
    reference = request.GET["patient"]
    patient_uuid = _uuid_or_none(reference.removeprefix("Patient/"))
    if patient_uuid is None:
        raise SearchError("patient", f"{reference!r} is not Patient/<id> or <id>")
    # Every parameter is read before any lookup, so a bad one is 400 whoever the patient is.
    codes = None
    if "code" in request.GET:
        codes = [parse_token("code", value) for value in request.GET["code"].split(",")]
    bounds = [parse_date("date", value) for value in request.GET.getlist("date")]
    patient = Patient.objects.filter(uuid=patient_uuid).first()
    if patient is None:
        return []
    rows = resources.observation_rows(patient, local_system=compartment.local_system())
    return [
        row.resource
        for row in rows
        if (codes is None or any(_code_matches(token, row.codes) for token in codes))
        and all(bound.matches(row.effective) for bound in bounds)
    ]


def _code_matches(token, codes: frozenset[tuple[str, str]]) -> bool:
    return any(code == token.code and (token.system is None or token.system == system) for system, code in codes)


# --------------------------------------------------------------------------- CodeSystem


# Every local CodeSystem we publish, by id.
CODE_SYSTEMS = {
    t.LOCAL_CODE_SYSTEM_ID: resources.local_code_system,
    clinical.RISK_FLAG_SYSTEM_ID: clinical.risk_flag_code_system,
    clinical.REACTION_SYSTEM_ID: clinical.reaction_code_system,
}


def read_code_system(request, resource_id: str) -> dict | None:
    build = CODE_SYSTEMS.get(resource_id)
    return None if build is None else build(base_url=settings.FHIR_CANONICAL_BASE)


# --------------------------------------------------------------------------- Flag, AdverseEvent, Appointment


def _required_patient_uuid(request, resource_type: str) -> UUID:
    """The patient= of a per-patient search (required), as the patient's UUID."""
    if "patient" not in request.GET:
        raise SearchError("patient", f"is required: {resource_type} search is per patient (patient=Patient/<id>)")
    reference = request.GET["patient"]
    patient_uuid = _uuid_or_none(reference.removeprefix("Patient/"))
    if patient_uuid is None:
        raise SearchError("patient", f"{reference!r} is not Patient/<id> or <id>")
    return patient_uuid


def _codes(request, param: str, allowed: tuple[str, ...]) -> set[str] | None:
    """A token parameter of fixed codes (several separated by commas): None when not given."""
    if param not in request.GET:
        return None
    codes = set(request.GET[param].split(","))
    unknown = sorted(codes - set(allowed))
    if unknown:
        raise SearchError(param, f"{unknown[0]!r} is not one of {', '.join(allowed)}")
    return codes


def _search_rows(request, resource_type: str, rows_of, *, statuses: tuple[str, ...] = (), period: bool = False):
    """A per-patient search: patient= (required), status= (when `statuses`), date= (on the start
    day, or on the whole period when `period`). Every parameter is read before any lookup."""
    patient_uuid = _required_patient_uuid(request, resource_type)
    wanted = _codes(request, "status", statuses) if statuses else None
    bounds = [parse_date("date", value) for value in request.GET.getlist("date")]
    patient = Patient.objects.filter(uuid=patient_uuid).first()
    if patient is None:
        return []
    return [
        row.resource
        for row in rows_of(patient)
        if (wanted is None or row.status in wanted)
        and all(bound.overlaps(row.start, row.end) if period else bound.matches(row.start) for bound in bounds)
    ]


def _canonical() -> str:
    return settings.FHIR_CANONICAL_BASE


def read_flag(request, resource_id: str) -> dict | None:
    flag_uuid = _uuid_or_none(resource_id)
    flag = (
        None
        if flag_uuid is None
        else RiskFlag.objects.select_related("patient", "acknowledged_by").filter(uuid=flag_uuid).first()
    )
    return None if flag is None else clinical.flag_row(flag, base_url=_canonical()).resource


def search_flags(request) -> list[dict]:
    return _search_rows(
        request,
        "Flag",
        lambda patient: clinical.flag_rows(patient, base_url=_canonical()),
        statuses=clinical.FLAG_STATUSES,
        period=True,
    )


def read_adverse_event(request, resource_id: str) -> dict | resources.Gone | None:
    reaction_uuid = _uuid_or_none(resource_id)
    reaction = None if reaction_uuid is None else clinical.reaction_by_uuid(reaction_uuid)
    if reaction is None:
        return None
    if reaction.is_voided:
        return resources.Gone(
            f"AdverseEvent/{resource_id} was voided on {reaction.voided_at:%Y-%m-%d} (entered in error): "
            f"{reaction.void_reason}"
        )
    return clinical.reaction_row(reaction, base_url=_canonical()).resource


def search_adverse_events(request) -> list[dict]:
    return _search_rows(request, "AdverseEvent", lambda patient: clinical.reaction_rows(patient, base_url=_canonical()))


def read_appointment(request, resource_id: str) -> dict | None:
    session_uuid = _uuid_or_none(resource_id)
    session = None if session_uuid is None else clinical.session_by_uuid(session_uuid)
    return None if session is None else clinical.session_row(session).resource


def search_appointments(request) -> list[dict]:
    return _search_rows(request, "Appointment", clinical.session_rows, statuses=clinical.APPOINTMENT_STATUSES)


# --------------------------------------------------------------------------- Location


def read_location(request, resource_id: str) -> dict | None:
    return next((location for location in clinical.all_locations() if location["id"] == resource_id), None)


def search_locations(request) -> list[dict]:
    locations = clinical.all_locations()
    if "name" in request.GET:
        name = request.GET["name"].strip().casefold()
        if not name:
            raise SearchError("name", "is empty")
        locations = [location for location in locations if location["name"].casefold().startswith(name)]
    return locations


READERS = {
    "Patient": read_patient,
    "Observation": read_observation,
    "CodeSystem": read_code_system,
    "Flag": read_flag,
    "AdverseEvent": read_adverse_event,
    "Appointment": read_appointment,
    "Location": read_location,
}
SEARCHERS = {
    "Patient": search_patients,
    "Observation": search_observations,
    "Flag": search_flags,
    "AdverseEvent": search_adverse_events,
    "Appointment": search_appointments,
    "Location": search_locations,
}


# --------------------------------------------------------------------------- helpers


def _uuid_or_none(value: str) -> UUID | None:
    try:
        return UUID(value) if len(value) == 36 else None
    except ValueError:
        return None


def _searchset(request, resource_type: str, matches: list[dict], *, count: int, offset: int) -> dict:
    base = base_url(request)
    page = matches[offset : offset + count]
    params = [(k, v) for k, values in request.GET.lists() if k != "_offset" for v in values]

    def link(relation: str, at: int) -> dict:
        return {"relation": relation, "url": f"{base}/{resource_type}?{urlencode([*params, ('_offset', at)])}"}

    links = [link("self", offset)]
    if count and offset + count < len(matches):
        links.append(link("next", offset + count))
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "link": links,
        "entry": [
            {"fullUrl": f"{base}/{resource_type}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in page
        ],
    }
    if not bundle["entry"]:
        del bundle["entry"]
    return resources.validated(bundle)
