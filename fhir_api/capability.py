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
class ServedResource:
    type: str
    interactions: tuple[str, ...]  # "read", "search-type"
    search_params: tuple[SearchParam, ...] = ()
    documentation: str = ""


# Result parameters every search accepts: _count (page size, 1-100, default 20; 0 gives the total
# only), _offset (where the page starts: what the `next` link carries) and _format (json only).
RESULT_PARAMS: tuple[str, ...] = ("_count", "_offset", "_format")
DEFAULT_COUNT = 20
MAX_COUNT = 100

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
    ),
    ServedResource(
        "Observation",
        ("read", "search-type"),
        (
            SearchParam("patient", "reference", "Required: Patient/<id> or <id>."),
            SearchParam("code", "token", "system|code, |code or code; several separated by commas (any of them)."),
            SearchParam("date", "date", "YYYY-MM-DD with eq (default), ge, le, gt or lt; repeat for a range."),
        ),
        "Body weight and height, laboratory results, each visit's myositis core set measures and TIS.",
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


def capability_statement(*, base_url: str, software_version: str) -> dict:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STATEMENT_DATE,
        "publisher": "IVIG Clinic",
        "kind": "instance",
        "software": {"name": "IVIG Clinic", "version": software_version},
        "implementation": {"description": "IVIG Clinic FHIR API (read only)", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Unknown search parameters are refused (400), not ignored. Paging: the "
                "searchset's next link (_offset).",
                "security": {
                    "cors": False,
                    "description": "A per-user API token (Authorization: Bearer <token>) or a logged-in "
                    "session; any clinic role may read. A read-only token may only read.",
                },
                "resource": [
                    {
                        "type": resource.type,
                        "documentation": resource.documentation,
                        "interaction": [{"code": code} for code in resource.interactions],
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
                    }
                    for resource in SERVED
                ],
            }
        ],
    }
