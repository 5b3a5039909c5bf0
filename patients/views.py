"""Patient registry pages. Each view: authorise, bind the form, call a service,
then redirect or render. Business rules live in models and services."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET, require_http_methods

from accounts.form_errors import call_service, conflict_status

from . import services
from .audit import patient_audit_trail
from .forms import (
    ArchivePatientForm,
    DeleteRecordForm,
    LabResultForm,
    MeasurementForm,
    MedicationForm,
    PatientCreateForm,
    PatientEditForm,
    RiskFactorForm,
)
from .models import BodyMeasurement, LabResult, Medication, Patient, RiskFactor

PATIENTS_PER_PAGE = 25


@dataclass(frozen=True)
class RecordKind:
    """A kind of dated record on a patient's chart, with its form and its section on the detail page."""

    slug: str
    model: type
    form: type
    noun: str
    section: str

    def permission(self, action: str) -> str:
        return f"patients.{action}_{self.model._meta.model_name}"


RECORD_KINDS = {
    kind.slug: kind
    for kind in [
        RecordKind("measurements", BodyMeasurement, MeasurementForm, "weight / height", "measurements"),
        RecordKind("labs", LabResult, LabResultForm, "lab result", "labs"),
        RecordKind("medications", Medication, MedicationForm, "medication", "medications"),
        RecordKind("risk-factors", RiskFactor, RiskFactorForm, "risk factor", "risk-factors"),
    ]
}


def _get_patient(patient_uuid) -> Patient:
    return get_object_or_404(Patient, uuid=patient_uuid)


def _get_kind(request, slug: str, action: str) -> RecordKind:
    kind = RECORD_KINDS.get(slug)
    if kind is None:
        raise Http404("No such record type.")
    if not request.user.has_perm(kind.permission(action)):
        raise PermissionDenied
    return kind


@require_GET
@permission_required("patients.view_patient", raise_exception=True)
def patient_list(request):
    query = request.GET.get("q", "").strip()
    patients = Patient.objects.in_registry().search(query).with_current_measurements()
    page = Paginator(patients, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "patients/patient_list.html", {"page": page, "query": query})


@require_http_methods(["GET", "POST"])
@permission_required("patients.add_patient", raise_exception=True)
def patient_create(request):
    form = PatientCreateForm(request.POST or None)
    if form.is_bound and form.is_valid():
        patient = call_service(form, services.patient_create, by=request.user)
        if patient is not None:
            messages.success(request, f"Registered {patient.full_name} (MRN {patient.mrn}).")
            return redirect("patients:detail", patient_uuid=patient.uuid)
    return render(request, "patients/patient_form.html", {"form": form, "title": "Register a patient"})


@require_http_methods(["GET", "POST"])
@permission_required("patients.change_patient", raise_exception=True)
def patient_edit(request, patient_uuid):
    patient = _get_patient(patient_uuid)
    form = PatientEditForm(request.POST or None, instance=patient, initial={"expected_version": patient.version})
    if (
        form.is_bound
        and form.is_valid()
        and call_service(form, services.patient_update, by=request.user, patient=patient)
    ):
        messages.success(request, "Patient details saved.")
        return redirect("patients:detail", patient_uuid=patient.uuid)
    # After a stale refusal the form keeps what this person typed and the version they opened,
    # so saving it again is refused too: they reload and see the other person's change first.
    context = {"form": form, "patient": patient, "title": "Edit patient details"}
    return render(request, "patients/patient_form.html", context, status=conflict_status(form))


@require_GET
@permission_required("patients.view_patient", raise_exception=True)
def patient_history(request, patient_uuid):
    patient = _get_patient(patient_uuid)
    return render(
        request, "patients/patient_history.html", {"patient": patient, "entries": patient_audit_trail(patient)}
    )


@require_http_methods(["GET", "POST"])
def record_add(request, patient_uuid, kind_slug):
    kind = _get_kind(request, kind_slug, "add")
    patient = _get_patient(patient_uuid)
    form = kind.form(request.POST or None, instance=kind.model(patient=patient))
    if form.is_bound and form.is_valid():
        record = call_service(form, services.clinical_record_create, by=request.user, model=kind.model, patient=patient)
        if record is not None:
            messages.success(request, f"Added {kind.noun}: {record}.")
            return redirect(f"{patient.get_absolute_url()}#{kind.section}")
    context = {"form": form, "patient": patient, "kind": kind, "title": f"Add {kind.noun}"}
    return render(request, "patients/record_form.html", context)


@require_http_methods(["GET", "POST"])
def record_edit(request, patient_uuid, kind_slug, record_uuid):
    kind = _get_kind(request, kind_slug, "change")
    patient = _get_patient(patient_uuid)
    record = get_object_or_404(kind.model, uuid=record_uuid, patient=patient)
    form = kind.form(request.POST or None, instance=record)
    if (
        form.is_bound
        and form.is_valid()
        and call_service(form, services.clinical_record_update, by=request.user, record=record)
    ):
        messages.success(request, f"Saved {kind.noun}: {record}.")
        return redirect(f"{patient.get_absolute_url()}#{kind.section}")
    context = {"form": form, "patient": patient, "kind": kind, "record": record, "title": f"Edit {kind.noun}"}
    return render(request, "patients/record_form.html", context)


@require_http_methods(["GET", "POST"])
def record_delete(request, patient_uuid, kind_slug, record_uuid):
    kind = _get_kind(request, kind_slug, "delete")
    patient = _get_patient(patient_uuid)
    record = get_object_or_404(kind.model, uuid=record_uuid, patient=patient)
    form = DeleteRecordForm(request.POST or None)
    if form.is_bound and form.is_valid():
        label = str(record)
        services.clinical_record_delete(by=request.user, record=record, reason=form.cleaned_data["reason"])
        messages.success(request, f"Removed {kind.noun}: {label}. The audit trail keeps it.")
        return redirect(f"{patient.get_absolute_url()}#{kind.section}")
    context = {"form": form, "patient": patient, "kind": kind, "record": record}
    return render(request, "patients/record_confirm_delete.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("patients.change_patient", raise_exception=True)
def patient_archive(request, patient_uuid):
    patient = _get_patient(patient_uuid)
    if patient.archived_at is not None:
        return redirect("patients:history", patient_uuid=patient.uuid)
    form = ArchivePatientForm(request.POST or None, initial={"expected_version": patient.version})
    if (
        form.is_bound
        and form.is_valid()
        and call_service(form, services.patient_archive, by=request.user, patient=patient)
    ):
        messages.success(
            request,
            f"Removed {patient.full_name} (MRN {patient.mrn}) from the registry. The audit trail keeps the chart.",
        )
        return redirect("patients:history", patient_uuid=patient.uuid)
    context = {"form": form, "patient": patient}
    return render(request, "patients/patient_confirm_archive.html", context, status=conflict_status(form))


@login_not_required
@require_GET
def healthz(request):
    """For container health checks: the app answers and reaches its database."""
    connection.ensure_connection()
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
@require_GET
def favicon(request):
    # Resolved per request: the hashed static name exists only after collectstatic.
    return redirect(static("favicon.svg"))
