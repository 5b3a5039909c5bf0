"""The treatment course page (authorisation, orders, reviews; edit or renew by a physician) and
the stewardship review page (the evidence, then the decision form). Every clinic role reads;
only physicians write (dosing.change_treatmentcourse, pathway.add_review, pathway.change_review)."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.form_errors import add_service_errors, carry_version, conflict_status
from dosing.models import TreatmentCourse
from dosing.services.treatment_courses import treatment_course_update

from .evidence import review_evidence, scheduling_courses
from .forms import CourseEditForm, ReviewForm, VoidForm
from .models import Review
from .services import review_record, review_void

VIEW = "dosing.view_treatmentcourse"


def _course(course_uuid) -> TreatmentCourse:
    return get_object_or_404(TreatmentCourse.objects.select_related("patient", "created_by"), uuid=course_uuid)


@require_http_methods(["GET"])
@permission_required(VIEW, raise_exception=True)
def course_detail(request, course_uuid):
    course = _course(course_uuid)
    context = {
        "course": course,
        "orders": course.orders.select_related("product", "indication", "prescribed_by"),
        "reviews": course.reviews.select_related("by", "voided_by"),
        "booked": scheduling_courses(course).order_by("-first_day"),
        "history": course.history.select_related("history_user"),
        "void_form": VoidForm(),
    }
    return render(request, "pathway/course_detail.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("dosing.change_treatmentcourse", raise_exception=True)
def course_edit(request, course_uuid):
    course = _course(course_uuid)
    initial = {
        "authorised_until": course.authorised_until,
        "next_review_due": course.next_review_due,
        "max_dose_g_per_kg": course.max_dose_g_per_kg,
        "interval_weeks": course.interval_weeks,
        "objective_measures": course.objective_measures,
        "version": course.version,
    }
    form = CourseEditForm(request.POST or None, initial=initial)
    if form.is_bound and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            treatment_course_update(by=request.user, course=course, expected_version=data.pop("version"), **data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Treatment course saved; the reason is in its history.")
            return redirect(course)
    status = conflict_status(form)
    if status == 409:
        course = _course(course_uuid)
        carry_version(form, course.version)
    return render(request, "pathway/course_edit.html", {"course": course, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@permission_required(VIEW, raise_exception=True)
def review(request, course_uuid):
    """GET: the evidence and (for a physician) the decision form. POST: record the decision."""
    course = _course(course_uuid)
    if request.method == "POST" and not request.user.has_perm("pathway.add_review"):
        raise PermissionDenied
    form = ReviewForm(request.POST or None, initial={"version": course.version})
    if form.is_bound and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            done = review_record(by=request.user, course=course, expected_version=data.pop("version"), **data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Review recorded: {done.get_decision_display().lower()}.")
            for change in done.schedule_changes:
                messages.info(request, change)
            return redirect(course)
    status = conflict_status(form)
    if status == 409:
        course = _course(course_uuid)
        carry_version(form, course.version)
    context = {"course": course, "form": form, "evidence": review_evidence(course, timezone.localdate())}
    return render(request, "pathway/review.html", context, status=status)


@require_POST
@permission_required("pathway.change_review", raise_exception=True)
def review_void_view(request, review_uuid):
    review = get_object_or_404(Review.objects.select_related("course"), uuid=review_uuid)
    form = VoidForm(request.POST)
    if form.is_valid():
        try:
            review_void(by=request.user, review=review, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Review voided; it stays on file with your reason.")
    else:
        messages.error(request, "Give the reason to void the review.")
    return redirect(review.course)
