"""Read-only registry API (JSON). Authentication: an API token or the browser session, like the rest of the API."""

from datetime import date
from decimal import Decimal
from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from ninja.pagination import PageNumberPagination, paginate

from .api_common import InvalidInputOut, MessageOut
from .models import Patient

router = Router(tags=["patients"])


class PatientOut(Schema):
    uuid: UUID
    mrn: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex_at_birth: str
    diagnosis: str
    antibodies: list[str]
    iga_status: str
    current_weight_kg: Decimal | None = None
    current_weight_on: date | None = None
    current_height_cm: Decimal | None = None
    current_height_on: date | None = None


# Far beyond any registry's last page, and small enough that the offset, (page - 1) × page size,
# stays within a 64-bit database integer: page 2^57 of 1881 made SQLite fail (found by schemathesis).
MAX_PAGE = 1_000_000


class PatientPages(PageNumberPagination):
    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_PAGE)
        page_size: int | None = Field(None, ge=1, description="At most 100; larger asks get 100.")


# Every answer these operations give, so a client knows each shape before it meets it.
ERRORS = {401: MessageOut, 403: MessageOut, 422: InvalidInputOut}


def _require_view(request) -> None:
    if not request.user.has_perm("patients.view_patient"):
        raise HttpError(403, "Your role does not allow this.")


@router.get("/patients", response={200: list[PatientOut], **ERRORS})
@paginate(PatientPages, page_size=25)
def list_patients(request, q: str = ""):
    """Patients matching `q` (MRN prefix or part of a name), 25 a page."""
    _require_view(request)
    return Patient.objects.in_registry().search(q).with_current_measurements()


@router.get("/patients/{patient_uuid}", response={200: PatientOut, 404: MessageOut, **ERRORS})
def get_patient(request, patient_uuid: UUID):
    _require_view(request)
    return get_object_or_404(Patient.objects.with_current_measurements(), uuid=patient_uuid)
