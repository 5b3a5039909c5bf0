"""Writes for visits: record, correct, choose the baseline. Each validates, runs in one
transaction and leaves who/why in the visit's history."""

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.audit import audited_save
from accounts.transactions import service
from patients.models import LabResult, Patient

from .models import ENZYME_NAMES, Visit


def _check_date(visit: Visit, today: date) -> None:
    if visit.visit_date and visit.visit_date > today:
        raise ValidationError({"visit_date": "This date is in the future."})


@service
def visit_record(*, by, patient: Patient, today: date | None = None, **fields) -> Visit:
    """Record a visit's core set measures. Marking it as baseline unmarks any other."""
    visit = Visit(patient=patient, recorded_by=by, **fields)
    visit.assessor_id = visit.assessor_id or by.pk
    _check_date(visit, today or timezone.localdate())
    if visit.is_baseline:
        _unmark_baseline(patient, by=by, keep=None)
    audited_save(visit, by=by, reason="recorded")
    return visit


@service
def visit_update(*, by, visit: Visit, today: date | None = None, **fields) -> Visit:
    for name, value in fields.items():
        setattr(visit, name, value)
    _check_date(visit, today or timezone.localdate())
    if visit.is_baseline:
        _unmark_baseline(visit.patient, by=by, keep=visit)
    audited_save(visit, by=by, reason="corrected")
    return visit


@service
def visit_set_baseline(*, by, visit: Visit) -> Visit:
    """Make this visit the baseline every later TIS is measured against."""
    _unmark_baseline(visit.patient, by=by, keep=visit)
    visit.is_baseline = True
    audited_save(visit, by=by, reason="marked as baseline")
    return visit


def _unmark_baseline(patient: Patient, *, by, keep: Visit | None) -> None:
    for other in patient.visits.select_for_update().filter(is_baseline=True):
        if keep is not None and other.pk == keep.pk:
            continue
        other.is_baseline = False
        audited_save(other, by=by, reason="baseline moved to another visit")


def enzyme_labs_on(patient: Patient, day: date) -> dict[str, tuple[Decimal, Decimal | None]]:
    """Muscle enzymes from that day's lab results, to prefill a visit: name -> (value U/L, ULN U/L).

    Example: a CK of 3000 U/L (ULN 200) collected on the visit day → {"ck": (Decimal("3000"), Decimal("200"))}.
    """
    results = LabResult.objects.filter(patient=patient, collected_on=day, test__in=ENZYME_NAMES).order_by("-created_at")
    panel: dict[str, tuple[Decimal, Decimal | None]] = {}
    for result in results:
        panel.setdefault(result.test, (result.value, result.upper_limit_normal))
    return panel
