"""What the FHIR API serves, in one registry: the views accept exactly these resources,
interactions and search parameters (anything else is 400 or 404), and the CapabilityStatement
is generated from it, so the two cannot disagree."""

from dataclasses import dataclass

FHIR_VERSION = "4.0.1"
# The date of this statement's content: change it with the registry.
STATEMENT_DATE = "2026-12-04"
FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # FHIR search param type: token, string, reference, date
    documentation: str


@dataclass(frozen=True)
class Operation:
    name: str  # as in the URL after "$"
    definition: str  # the canonical OperationDefinition
    documentation: str


@dataclass(frozen=True)
class ServedResource:
    type: str
    interactions: tuple[str, ...]  # "read", "search-type"
    search_params: tuple[SearchParam, ...] = ()
    documentation: str = ""
    operations: tuple[Operation, ...] = ()


# Result parameters every search accepts: _count (page size, 1-100, default 20; 0 gives the total
# only), _offset (where the page starts: what the `next` link carries) and _format (json only).
RESULT_PARAMS: tuple[str, ...] = ("_count", "_offset", "_format")
DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_TRANSACTION_ENTRIES = 500

# Patient/{id}/$everything: the result parameters above and _type (comma list of types).
EVERYTHING_PARAMS: tuple[str, ...] = ("_type", *RESULT_PARAMS)
# Bulk $export kick-off: what we read; anything else (_typeFilter, patient, _elements...) is 400.
EXPORT_PARAMS: tuple[str, ...] = ("_outputFormat", "_type", "_since")
# _outputFormat values, all meaning NDJSON of FHIR resources; the first is what we write.
EXPORT_FORMATS: tuple[str, ...] = ("application/fhir+ndjson", "application/ndjson", "ndjson")
BULK_DATA_IG = "http://hl7.org/fhir/uv/bulkdata"
EXPORT_DOC = (
    "Bulk Data Access IG v2: Prefer: respond-async required; _outputFormat application/fhir+ndjson; "
    "_type (comma list of exported types); _since (an instant: resources whose meta.lastUpdated is "
    "after it; a resource without meta.lastUpdated is always included). Needs the export permission."
)
SYSTEM_OPERATIONS: tuple[Operation, ...] = (
    Operation("export", f"{BULK_DATA_IG}/OperationDefinition/export", EXPORT_DOC),
)

SERVED: tuple[ServedResource, ...] = (
    ServedResource(
        "Patient",
        ("read", "search-type"),
        (
            SearchParam(
                "identifier",
                "token",
                "The MRN: system|value (system: the site's MRN system), |value, or value alone. Exact match.",
            ),
            SearchParam("name", "string", "Start of the family or given name, any case."),
        ),
        "Registry patients; id is our UUID, identifier the MRN.",
        (
            Operation(
                "everything",
                "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                "Every resource of the patient's compartment, the Patient first; _type (comma list) and "
                "_count/_offset paging as in search.",
            ),
            Operation("export", f"{BULK_DATA_IG}/OperationDefinition/patient-export", EXPORT_DOC),
        ),
    ),
    ServedResource(
        "Observation",
        ("read", "search-type", "create"),
        (
            SearchParam("patient", "reference", "Required: Patient/<id> or <id>."),
            SearchParam("code", "token", "system|code, |code or code; several separated by commas (any of them)."),
            SearchParam("date", "date", "YYYY-MM-DD with eq (default), ge, le, gt or lt; repeat for a range."),
        ),
        "Body weight and height, laboratory results, each visit's myositis core set measures and TIS. "
        "create (POST, or in a transaction Bundle): a lab result, body weight or height; see accepted_codes.",
    ),
    ServedResource(
        "MedicationRequest",
        ("read", "search-type"),
        (
            SearchParam("patient", "reference", "Required: Patient/<id> or <id>."),
            SearchParam(
                "date",
                "date",
                "The day authored (local), YYYY-MM-DD with eq (default), ge, le, gt or lt; repeat for a range.",
            ),
            SearchParam("status", "token", "One status or several separated by commas (any of them)."),
        ),
        "IVIG dose orders: grams a day, days, interval, dosing weight and its basis, the rate ladder, the "
        "product; status follows pharmacist verification.",
    ),
    ServedResource(
        "MedicationAdministration",
        ("read", "search-type"),
        (
            SearchParam("patient", "reference", "Required: Patient/<id> or <id>."),
            SearchParam(
                "date",
                "date",
                "The day the rate was set (local), YYYY-MM-DD with eq (default), ge, le, gt or lt; repeat for a range.",
            ),
            SearchParam("status", "token", "One status or several separated by commas (any of them)."),
        ),
        "Each pump rate recorded at an infusion: its period, rate, the volume run, the lot; voided ones as "
        "entered-in-error.",
    ),
    ServedResource(
        "CodeSystem",
        ("read",),
        (),
        "Our local CodeSystems: ivig-clinic-measures, ivig-clinic-risk-flags, ivig-clinic-infusion-reactions.",
    ),
    ServedResource(
        "Flag",
        ("read", "search-type"),
        (
            SearchParam("patient", "reference", "Required: Patient/<id> or <id>."),
            SearchParam("status", "token", "active or inactive (resolved); several separated by commas."),
            SearchParam("date", "date", "The period the flag stood: [eq|ge|le|gt|lt]YYYY-MM-DD; repeat for a range."),
        ),
        "Risk flags, active and resolved, each under its code in ivig-clinic-risk-flags.",
    ),
    ServedResource(
        "AdverseEvent",
        ("read", "search-type"),
        (
            SearchParam("patient", "reference", "Required: Patient/<id> or <id>."),
            SearchParam("date", "date", "The day of the reaction: [eq|ge|le|gt|lt]YYYY-MM-DD; repeat for a range."),
        ),
        "Infusion reactions. A voided reaction (entered in error) is not sent: its read is 410 Gone.",
    ),
    ServedResource(
        "Appointment",
        ("read", "search-type"),
        (
            SearchParam("patient", "reference", "Required: Patient/<id> or <id>."),
            SearchParam("date", "date", "The day of the start: [eq|ge|le|gt|lt]YYYY-MM-DD; repeat for a range."),
            SearchParam(
                "status", "token", "pending, booked, arrived, fulfilled, noshow or cancelled; several by commas."
            ),
        ),
        "Infusion sessions, each in its chair (Location) with its dose order (MedicationRequest).",
    ),
    ServedResource(
        "Location",
        ("read", "search-type"),
        (SearchParam("name", "string", 'Start of the name, any case ("Chair 3", "IVIG infusion unit").'),),
        "The infusion unit (infusion-unit) and its chairs (chair-<n>), part of it.",
    ),
)
SERVED_BY_TYPE = {resource.type: resource for resource in SERVED}
# Whole-system interactions: a Bundle POSTed to the base.
SYSTEM_INTERACTIONS: tuple[str, ...] = ("transaction",)


def capability_statement(*, base_url: str, software_version: str, create_documentation: str) -> dict:
    """create_documentation: what an Observation create accepts (terminology.inbound_documentation,
    from the code and unit tables; passed in so this registry stays free of them)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STATEMENT_DATE,
        "publisher": "IVIG Clinic",
        "kind": "instance",
        "instantiates": [f"{BULK_DATA_IG}/CapabilityStatement/bulk-data"],
        "software": {"name": "IVIG Clinic", "version": software_version},
        "implementation": {"description": "IVIG Clinic FHIR API", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Unknown search parameters are refused (400), not ignored. Paging: the "
                "searchset's next link (_offset). Writes: POST Observation and a transaction Bundle of "
                f"POST Observation entries at the base (all or nothing, at most {MAX_TRANSACTION_ENTRIES} "
                "entries). " + create_documentation,
                "security": {
                    "cors": False,
                    "description": "A per-user API token (Authorization: Bearer <token>) or a logged-in "
                    "session; any clinic role may read. Creating an Observation needs the role's permission "
                    "to add lab results or measurements (physician, nurse). A read-only token may only read. "
                    "A bulk $export needs the export permission (physicians); its files go only to who asked "
                    "for them.",
                },
                "resource": [
                    {
                        "type": resource.type,
                        "documentation": resource.documentation,
                        "interaction": [{"code": code} for code in resource.interactions],
                        **({"conditionalCreate": False} if "create" in resource.interactions else {}),
                        **(
                            {
                                "searchParam": [
                                    {"name": p.name, "type": p.type, "documentation": p.documentation}
                                    for p in resource.search_params
                                ]
                            }
                            if resource.search_params
                            else {}
                        ),
                        **({"operation": _operations(resource.operations)} if resource.operations else {}),
                    }
                    for resource in SERVED
                ],
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
                "operation": _operations(SYSTEM_OPERATIONS),
            }
        ],
    }


def _operations(operations: tuple[Operation, ...]) -> list[dict]:
    return [{"name": op.name, "definition": op.definition, "documentation": op.documentation} for op in operations]
