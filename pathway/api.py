"""Treatment course API (JSON), issue 15 points 1 and 2.

    GET  /patients/{patient_id}/treatment-courses      the patient's courses, newest first
    GET  /treatment-courses/{course_id}                one course with its orders and reviews
    POST /treatment-courses/{course_id}/reviews        record a review decision: 201, the review

Authentication as for the rest of the API (a per-user token, or the browser session with CSRF).
Any clinic role reads (dosing.view_treatmentcourse); recording a review needs the physician's
``pathway.add_review``: anyone else gets 403, checked before the course is looked up (404). The
POST calls the review page's service (pathway.services.review_record) with the same arguments;
its refusal is the API's one 422 with each message at its request field (a message about the
course as a whole at field null). ``expected_version`` is the course's ``version`` as read;
omitted, no check (a script). Numbers out are decimal strings with their unit in their name;
dates ISO 8601."""

from datetime import date
from typing import Literal
from uuid import UUID

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from ninja import Field, Router, Schema, Status
from ninja.errors import AuthorizationError, HttpError

from dosing.models import TreatmentCourse
from patients.api_common import ExactDecimal, InvalidInput, InvalidInputOut, JsonObjectBody, MessageOut, WholeNumber
from patients.models import Patient

from .models import Review
from .services import review_record

router = Router(tags=["pathway"])

# 422: a path id that is not a UUID (the shared 422 shape, as for any invalid input).
READ_ERRORS = {401: MessageOut, 403: MessageOut, 404: MessageOut, 422: InvalidInputOut}
WRITE_ERRORS = READ_ERRORS
REVIEW_FIELDS = {
    "decision": "decision",
    "reason": "reason",
    "dose_g_per_kg": "dose_g_per_kg",
    "interval_weeks": "interval_weeks",
    "reviewed_on": "reviewed_on",
    "accept_warnings": "accept_warnings",
}


def _g(value) -> str | None:
    return None if value is None else format(value.normalize(), "f")


class ReviewOut(Schema):
    id: UUID
    reviewed_on: date
    by: str
    decision: str
    dose_g_per_kg: str | None
    interval_weeks: int | None
    reason: str
    authorised_until: date
    next_review_due: date | None
    schedule_changes: list[str]
    evidence: dict
    voided: bool
    void_reason: str


class OrderOut(Schema):
    id: UUID
    product: str
    dose_g_per_kg: str
    status: str
    prescribed_on: date
    authorisation_reason: str


class CourseOut(Schema):
    id: UUID
    patient: UUID
    indication: str
    indication_name: str
    started_on: date
    objective_measures: list[str]
    authorised_until: date
    max_dose_g_per_kg: str
    interval_weeks: int
    current_dose_g_per_kg: str
    current_interval_weeks: int
    next_review_due: date
    status: str
    status_reason: str
    version: int


class CourseDetailOut(CourseOut):
    orders: list[OrderOut]
    reviews: list[ReviewOut]


def _course_out(course: TreatmentCourse) -> dict:
    return {
        "id": course.uuid,
        "patient": course.patient.uuid,
        "indication": course.indication_slug,
        "indication_name": course.indication_name,
        "started_on": course.started_on,
        "objective_measures": list(course.objective_measures),
        "authorised_until": course.authorised_until,
        "max_dose_g_per_kg": _g(course.max_dose_g_per_kg),
        "interval_weeks": course.interval_weeks,
        "current_dose_g_per_kg": _g(course.current_dose_g_per_kg),
        "current_interval_weeks": course.current_interval_weeks,
        "next_review_due": course.next_review_due,
        "status": course.status,
        "status_reason": course.status_reason,
        "version": course.version,
    }


def _review_out(review: Review) -> dict:
    return {
        "id": review.uuid,
        "reviewed_on": review.reviewed_on,
        "by": review.by.get_full_name() or review.by.get_username(),
        "decision": review.decision,
        "dose_g_per_kg": _g(review.dose_g_per_kg),
        "interval_weeks": review.interval_weeks,
        "reason": review.reason,
        "authorised_until": review.authorised_until,
        "next_review_due": review.next_review_due,
        "schedule_changes": list(review.schedule_changes),
        "evidence": review.evidence,
        "voided": review.is_voided,
        "void_reason": review.void_reason,
    }


def _allowed(request, permission: str, what: str) -> None:
    if not request.auth.has_perm(permission):
        raise AuthorizationError(message=f"Your role does not allow you to {what}.")


def _course_for(course_id: UUID) -> TreatmentCourse:
    course = TreatmentCourse.objects.select_related("patient").filter(uuid=course_id).first()
    if course is None:
        raise HttpError(404, "No treatment course has this id.")
    return course


@router.get("/patients/{patient_id}/treatment-courses", response={200: list[CourseOut], **READ_ERRORS})
def patient_courses(request, patient_id: UUID):
    _allowed(request, "dosing.view_treatmentcourse", "see treatment courses")
    patient = Patient.objects.filter(uuid=patient_id).first()
    if patient is None:
        raise HttpError(404, "No patient has this id.")
    return [_course_out(course) for course in patient.treatment_courses.select_related("patient")]


@router.get("/treatment-courses/{course_id}", response={200: CourseDetailOut, **READ_ERRORS})
def course_detail(request, course_id: UUID):
    _allowed(request, "dosing.view_treatmentcourse", "see treatment courses")
    course = _course_for(course_id)
    orders = [
        {
            "id": order.uuid,
            "product": order.product.name,
            "dose_g_per_kg": _g(order.dose_g_per_kg),
            "status": order.status,
            "prescribed_on": order.prescribed_at.date(),
            "authorisation_reason": order.authorisation_reason,
        }
        for order in course.orders.select_related("product")
    ]
    reviews = [_review_out(review) for review in course.reviews.select_related("by")]
    return {**_course_out(course), "orders": orders, "reviews": reviews}


class ReviewIn(JsonObjectBody):
    decision: Literal["continue", "step_down", "trial_off", "stop"]
    reason: str = Field(max_length=300)
    dose_g_per_kg: ExactDecimal | None = Field(None, gt=0, le=3, description="New dose (g/kg per cycle), step down.")
    interval_weeks: WholeNumber | None = Field(None, ge=1, le=52, description="New interval (weeks), step down.")
    reviewed_on: date | None = Field(None, description="Default: today.")
    expected_version: int | None = Field(None, description="The course's version as read; omitted: no check.")
    accept_warnings: bool = False


@router.post("/treatment-courses/{course_id}/reviews", response={201: ReviewOut, **WRITE_ERRORS})
def review_create(request, course_id: UUID, body: ReviewIn):
    _allowed(request, "pathway.add_review", "record stewardship reviews")
    course = _course_for(course_id)
    try:
        review = review_record(by=request.auth, course=course, **body.model_dump())
    except ValidationError as exc:
        by_name = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
        raise InvalidInput(
            [
                {"field": REVIEW_FIELDS.get(name), "message": message}
                for name, messages in by_name.items()
                for message in messages
            ]
        ) from None
    return Status(201, _review_out(review))
