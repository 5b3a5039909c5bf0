"""The FHIR endpoints. Each: authenticate and authorise (`fhir_endpoint`), read the search
parameters the registry declares (capability.SERVED), answer a resource or a Bundle; every
error is an OperationOutcome with its status."""

from collections.abc import Callable
from functools import partial, wraps
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db.models import Q
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts.auth import token_for_secret
from accounts.transactions import service_transaction
from dosing.models import DoseOrder
from patients.models import BodyMeasurement, LabResult, Patient
from risk.models import RiskFlag
from scheduling.models import RateChange
from visits.models import Visit

from . import clinical, compartment, exact_json, inbound, medication, resources
from . import terminology as t
from .capability import FHIR_JSON, MAX_TRANSACTION_ENTRIES, RESULT_PARAMS, SERVED_BY_TYPE, capability_statement
from .search import SearchError, parse_count, parse_date, parse_offset, parse_token

CONTENT_TYPE = f"{FHIR_JSON}; fhirVersion=4.0"
ACCEPTABLE = frozenset({FHIR_JSON, "application/json", "application/*", "*/*", "application/json+fhir"})
FORMAT_VALUES = {"json", FHIR_JSON, "application/json"}


def fhir_response(resource: dict, status: int = 200, headers: dict | None = None) -> HttpResponse:
    return HttpResponse(exact_json.dumps(resource), status=status, content_type=CONTENT_TYPE, headers=headers)


def outcome(
    status: int, code: str, diagnostics: str, headers: dict | None = None, *, expression: str | None = None
) -> HttpResponse:
    resource = resources.operation_outcome(code=code, diagnostics=diagnostics, expression=expression)
    return fhir_response(resource, status, headers)


def base_url(request) -> str:
    """Where links (Bundle.link, fullUrl) point: SITE_URL when set, else the host asked."""
    if settings.SITE_URL:
        return f"{settings.SITE_URL.rstrip('/')}/fhir"
    return request.build_absolute_uri("/fhir")


def _accepts(request, media_types: frozenset[str]) -> bool:
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return True
    return any(part.split(";")[0].strip().lower() in media_types for part in accept.split(","))


# Writing: POST /fhir/Observation and a transaction Bundle at the base. Either permission lets a
# request through the door; each Observation is then checked against the one it needs (a lab
# result or a measurement), as the patient page checks its form.
WRITE_PERMISSIONS = ("patients.add_labresult", "patients.add_bodymeasurement")
READS = ("GET", "HEAD")
WRITES = ("GET", "HEAD", "POST")


def _methods_of(methods: list[str], resource_type: str | None) -> list[str]:
    """The methods one URL takes: POST /fhir/<type> only for a served type the registry lets be created."""
    served = SERVED_BY_TYPE.get(resource_type) if resource_type else None
    if served is not None and "create" not in served.interactions:
        return [method for method in methods if method != "POST"]
    return methods


def fhir_endpoint(
    view: Callable | None = None,
    *,
    methods: tuple[str, ...] = READS,
    permission: str | None = None,
    media_types: frozenset[str] = ACCEPTABLE,
) -> Callable:
    """Who and how, before any data: a bearer token (bad: 401; read-only and not a read: 403) or a
    session (none: 401), a user allowed to view patients (403) and, for an endpoint that names
    one, holding its `permission` (403), one of its `methods` (405; a POST also needs a permission
    to add results, 403), JSON (406).

    `@fhir_endpoint` reads; `@fhir_endpoint(methods=..., permission=...)` for the others."""
    if view is None:
        return partial(fhir_endpoint, methods=methods, permission=permission, media_types=media_types)
    # Named as Django's require_http_methods names it, so tools that read a view's methods from
    # its closure (the write-permission walk in ivig_clinic/tests) see what each accepts.
    request_method_list = list(methods)

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
            request.fhir_source = f"received through FHIR (token {token.name!r})"
        elif not request.user.is_authenticated:
            return outcome(
                401,
                "login",
                "Authentication required: send Authorization: Bearer <token>.",
                {"WWW-Authenticate": "Bearer"},
            )
        else:
            request.fhir_source = "received through FHIR (signed-in session)"
        if not request.user.has_perm("patients.view_patient"):
            return outcome(403, "forbidden", "Your role does not allow reading patients.")
        if permission and not request.user.has_perm(permission):
            return outcome(403, "forbidden", f"Your role does not allow this ({permission}).")
        allowed = _methods_of(request_method_list, kwargs.get("resource_type"))
        if request.method not in allowed:
            allow = ", ".join(allowed)
            return outcome(405, "not-supported", f"{request.method} is not supported here.", {"Allow": allow})
        if request.method == "POST" and not any(request.user.has_perm(p) for p in WRITE_PERMISSIONS):
            return outcome(403, "forbidden", "Your role does not allow adding lab results or measurements.")
        if not _accepts(request, media_types) or request.GET.get("_format", "json") not in FORMAT_VALUES:
            return outcome(406, "not-supported", "Only JSON (application/fhir+json) is served.")
        if any("\x00" in value for values in request.GET.lists() for value in values[1]):
            return outcome(400, "invalid", "A search parameter holds a NUL character.")
        try:
            return view(request, *args, **kwargs)
        except SearchError as exc:
            return outcome(400, "invalid", str(exc))
        except inbound.Refusal as exc:
            return outcome(exc.status, exc.code, exc.message, expression=exc.where)

    # Authentication here, not by the login redirect: an EHR cannot follow one. No CSRF check: a
    # GET changes no clinical record (an export's kick-off only records who asked); a browser
    # never sends the bearer token on its own, sends no cross-site DELETE without a CORS preflight
    # we never grant, and a session's POST must carry a FHIR JSON body (Content-Type
    # application/fhir+json), which no cross-site form can send; a write with a token should get
    # its OperationOutcome (403 read-only, 405), not Django's CSRF page.
    return login_not_required(csrf_exempt(never_cache(wrapped)))


# --------------------------------------------------------------------------- the endpoints


@fhir_endpoint
def metadata(request):
    statement = capability_statement(
        base_url=base_url(request),
        software_version=settings.FHIR_SOFTWARE_VERSION,
        create_documentation=t.inbound_documentation(),
    )
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


@fhir_endpoint(methods=WRITES)
def search(request, resource_type: str):
    if request.method == "POST":
        return create(request, resource_type)
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


def _required_patient(request, resource_type: str) -> UUID:
    if "patient" not in request.GET:
        raise SearchError("patient", f"is required: {resource_type} search is per patient (patient=Patient/<id>)")
    reference = request.GET["patient"]
    patient_uuid = _uuid_or_none(reference.removeprefix("Patient/"))
    if patient_uuid is None:
        raise SearchError("patient", f"{reference!r} is not Patient/<id> or <id>")
    return patient_uuid


def search_observations(request) -> list[dict]:
    patient_uuid = _required_patient(request, "Observation")
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


# --------------------------------------------------------------------------- writing: create and transaction

MAX_BODY_BYTES = 2_000_000  # below Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), so ours speaks first
JSON_BODY_TYPES = {FHIR_JSON, "application/json", "application/json+fhir"}


def create(request, resource_type: str):
    """POST /fhir/Observation: one lab result, weight or height. 201 + Location for a new one; 200
    with the one on file for a duplicate; an OperationOutcome (400, 403, 415, 422) and nothing
    written otherwise."""
    if resource_type not in SERVED_BY_TYPE:
        return _unknown_type(resource_type)
    resource = _read_body(request)
    if resource.get("resourceType") != resource_type:
        raise inbound.Refusal(400, "invalid", f"The body is a {resource.get('resourceType')!r}, not {resource_type}.")
    incoming = _incoming(request, resource)
    try:
        obs_id, created = inbound.observation_receive(by=request.user, incoming=incoming, reason=request.fhir_source)
    except ValidationError as exc:
        raise inbound.service_refusal(exc) from None
    location = f"{base_url(request)}/Observation/{obs_id}"
    return fhir_response(read_observation(request, obs_id), 201 if created else 200, {"Location": location})


@fhir_endpoint(methods=WRITES)
def system(request):
    """The base: POST a transaction Bundle of Observation creates. Nothing is read here."""
    if request.method != "POST":
        return outcome(404, "not-supported", "Nothing is served at the base: see /fhir/metadata.")
    bundle = _read_body(request)
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise inbound.Refusal(
            400, "invalid", "The base takes a Bundle of type transaction (resourceType Bundle, type transaction)."
        )
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise inbound.Refusal(400, "structure", "Bundle.entry is not a list.", "Bundle.entry")
    if len(entries) > MAX_TRANSACTION_ENTRIES:
        raise inbound.Refusal(
            413, "too-costly", f"The Bundle has {len(entries)} entries; at most {MAX_TRANSACTION_ENTRIES} are taken "
            "at once: split it.", "Bundle.entry",
        )  # fmt: skip
    incoming = [_transaction_entry(request, index, entry) for index, entry in enumerate(entries)]
    answers = []
    # One transaction: a refused entry raises out of it, and nothing of the Bundle is kept.
    with service_transaction():
        for index, item in enumerate(incoming):
            try:
                answers.append(inbound.observation_receive(by=request.user, incoming=item, reason=request.fhir_source))
            except ValidationError as exc:
                raise inbound.service_refusal(exc).at(f"Bundle.entry[{index}].resource") from None
    response = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "link": [{"relation": "self", "url": base_url(request)}],
        "entry": [
            {
                "response": {
                    "status": "201 Created" if created else "200 OK",
                    "location": f"Observation/{obs_id}",
                }
            }
            for obs_id, created in answers
        ],
    }
    if not response["entry"]:
        del response["entry"]
    return fhir_response(resources.validated(response))


def _transaction_entry(request, index: int, entry) -> inbound.Incoming:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict):
        raise inbound.Refusal(400, "structure", f"{where} is not an object.", where)
    method, url = entry.get("request", {}).get("method"), entry.get("request", {}).get("url", "")
    if method != "POST" or url.rstrip("/").rsplit("/", 1)[-1] != "Observation":
        raise inbound.Refusal(
            422, "not-supported", f"{where}: only POST Observation is taken (got {method} {url}).", f"{where}.request"
        )
    if entry.get("request", {}).get("ifNoneExist"):
        raise inbound.Refusal(
            422, "not-supported", f"{where}: conditional create (ifNoneExist) is not supported; duplicates are "
            "found without it (same patient, code, date and value).", f"{where}.request.ifNoneExist",
        )  # fmt: skip
    resource = entry.get("resource")
    if not isinstance(resource, dict):
        raise inbound.Refusal(400, "structure", f"{where} has no resource.", f"{where}.resource")
    try:
        return _incoming(request, resource)
    except inbound.Refusal as exc:
        raise exc.at(f"{where}.resource") from None


def _incoming(request, resource: dict) -> inbound.Incoming:
    inbound.validate_observation(resource)
    incoming = inbound.read_observation(resource, mrn_system=compartment.mrn_system(), places=inbound.stored_places())
    if not request.user.has_perm(incoming.permission):
        what = "measurements" if incoming.permission.endswith("bodymeasurement") else "lab results"
        raise inbound.Refusal(403, "forbidden", f"Your role does not allow adding {what}.")
    return incoming


def _read_body(request) -> dict:
    content_type = request.content_type.lower() if request.content_type else ""
    if content_type not in JSON_BODY_TYPES:
        raise inbound.Refusal(415, "not-supported", f"Send the body as {FHIR_JSON} (got {content_type or 'none'}).")
    if request.headers.get("If-None-Exist"):
        raise inbound.Refusal(
            422, "not-supported", "Conditional create (If-None-Exist) is not supported; duplicates are found "
            "without it (same patient, code, date and value).",
        )  # fmt: skip
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise inbound.Refusal(413, "too-costly", f"The body is {length} bytes; at most {MAX_BODY_BYTES} are taken.")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise inbound.Refusal(413, "too-costly", f"The body is too large; at most {MAX_BODY_BYTES} bytes.") from None
    if len(raw) > MAX_BODY_BYTES:
        raise inbound.Refusal(413, "too-costly", f"The body is {len(raw)} bytes; at most {MAX_BODY_BYTES} are taken.")
    return inbound.parse_json(raw)


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


def _codes(request, param: str, allowed: tuple[str, ...]) -> set[str] | None:
    """A token parameter of fixed codes (several separated by commas): None when not given."""
    if param not in request.GET:
        return None
    codes = set(request.GET[param].split(","))
    unknown = sorted(codes - set(allowed))
    if unknown:
        raise SearchError(param, f"{unknown[0]!r} is not one of {', '.join(allowed)}")
    return codes


# ------------------------------------------------------------------- MedicationRequest, MedicationAdministration


def read_medication_request(request, resource_id: str) -> dict | None:
    order_uuid = _uuid_or_none(resource_id)
    order = None if order_uuid is None else DoseOrder.objects.select_related("patient").filter(uuid=order_uuid).first()
    if order is None:
        return None
    rows = medication.medication_request_rows(order.patient, base_url=settings.FHIR_CANONICAL_BASE)
    return next((row.resource for row in rows if row.id == resource_id), None)


def read_medication_administration(request, resource_id: str) -> dict | None:
    # Built with the rest of its infusion's rates: its end is the next rate's start.
    change_uuid = _uuid_or_none(resource_id)
    change = (
        None if change_uuid is None else RateChange.objects.select_related("record").filter(uuid=change_uuid).first()
    )
    if change is None:
        return None
    rows = medication.administration_rows(change.record)
    return next((row.resource for row in rows if row.id == resource_id), None)


def _search_rows(request, resource_type: str, rows_of, *, statuses: tuple[str, ...] = (), period: bool = False):
    """A per-patient search: patient= (required), status= (when `statuses`), date= (on the start
    day, or on the whole period when `period`). Every parameter is read before any lookup."""
    patient_uuid = _required_patient(request, resource_type)
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


def search_medication_requests(request) -> list[dict]:
    def build(patient: Patient) -> list[medication.MedicationRow]:
        return medication.medication_request_rows(patient, base_url=settings.FHIR_CANONICAL_BASE)

    return _search_rows(request, "MedicationRequest", build, statuses=medication.REQUEST_STATUSES)


def search_medication_administrations(request) -> list[dict]:
    return _search_rows(
        request,
        "MedicationAdministration",
        medication.medication_administration_rows,
        statuses=medication.ADMINISTRATION_STATUSES,
    )


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
    "MedicationRequest": read_medication_request,
    "MedicationAdministration": read_medication_administration,
    "Flag": read_flag,
    "AdverseEvent": read_adverse_event,
    "Appointment": read_appointment,
    "Location": read_location,
}
SEARCHERS = {
    "Patient": search_patients,
    "Observation": search_observations,
    "MedicationRequest": search_medication_requests,
    "MedicationAdministration": search_medication_administrations,
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
    return searchset_page(request, resource_type, matches, count=count, offset=offset)


def searchset_page(request, path: str, matches: list[dict], *, count: int, offset: int) -> dict:
    """One page of a searchset Bundle of `matches` (of any types), linked to the same query at
    `path` (under /fhir/) with the next page's _offset."""
    base = base_url(request)
    page = matches[offset : offset + count]
    params = [(k, v) for k, values in request.GET.lists() if k != "_offset" for v in values]

    def link(relation: str, at: int) -> dict:
        return {"relation": relation, "url": f"{base}/{path}?{urlencode([*params, ('_offset', at)])}"}

    links = [link("self", offset)]
    if count and offset + count < len(matches):
        links.append(link("next", offset + count))
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "link": links,
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in page
        ],
    }
    if not bundle["entry"]:
        del bundle["entry"]
    return resources.validated(bundle)
