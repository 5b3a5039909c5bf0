"""A patient's audit trail, read from the django-simple-history tables of the
patient and of every record under it: who, when, what, and the values before
and after each change."""

from dataclasses import dataclass, field
from itertools import groupby

from .models import BodyMeasurement, LabResult, Medication, MyositisAntibody, Patient, RiskFactor

ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
# Bookkeeping columns that would only add noise to a clinical audit view.
HIDDEN_FIELDS = {"id", "uuid", "created_at", "updated_at", "recorded_by", "patient", "version"}
# Lists of codes stored in JSON fields, shown by their labels.
LIST_LABELS = {"antibodies": dict(MyositisAntibody.choices)}


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class AuditEntry:
    when: object
    who: str
    record_type: str
    record: str
    action: str
    reason: str
    changes: list[FieldChange] = field(default_factory=list)


def _display(model_field, value) -> str:
    if value is None or value == "":
        return "—"
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        labels = LIST_LABELS.get(model_field.name, {})
        return ", ".join(str(labels.get(item, item)) for item in value) or "—"
    return str(value)


def _entered(row, fields) -> list[FieldChange]:
    # At creation, list what was entered, not fields left at their defaults.
    return [
        FieldChange(field=str(model_field.verbose_name), before="", after=_display(model_field, value))
        for model_field in fields
        if (value := getattr(row, model_field.attname)) not in (None, "", [], False)
        and value != model_field.get_default()
    ]


def _changed(row, previous, fields) -> list[FieldChange]:
    """What one change altered: simple-history's diff of the two history rows, in the model's field order."""
    # diff_against reads fields as a form would (model_to_dict), so it cannot compare those the
    # app fills in itself (editable=False), such as a lab result's unit, which follows its test.
    editable = [model_field.name for model_field in fields if model_field.editable]
    delta = row.diff_against(previous, included_fields=editable)
    values = {change.field: (change.old, change.new) for change in delta.changes}
    for model_field in fields:
        if not model_field.editable:
            before, after = getattr(previous, model_field.attname), getattr(row, model_field.attname)
            if before != after:
                values[model_field.name] = (before, after)
    return [
        FieldChange(
            field=str(model_field.verbose_name),
            before=_display(model_field, values[model_field.name][0]),
            after=_display(model_field, values[model_field.name][1]),
        )
        for model_field in fields
        if model_field.name in values
    ]


def _entries_for(history_rows, model) -> list[AuditEntry]:
    # Only what the history keeps (derived data such as the risk verdict is not kept).
    kept = {f.name for f in model.history.model._meta.concrete_fields}
    fields = [f for f in model._meta.concrete_fields if f.name not in HIDDEN_FIELDS and f.name in kept]
    entries = []
    rows = sorted(history_rows, key=lambda row: (row.id, row.history_date, row.history_id))
    for _, versions in groupby(rows, key=lambda row: row.id):
        previous = None
        for row in versions:
            if row.history_type == "-":
                changes = []
            elif previous is None:
                changes = _entered(row, fields)
            else:
                changes = _changed(row, previous, fields)
            entries.append(
                AuditEntry(
                    when=row.history_date,
                    who=row.history_user.get_username() if row.history_user else "system",
                    record_type=str(model._meta.verbose_name),
                    record=str(row.instance),
                    action=ACTIONS[row.history_type],
                    reason=row.history_change_reason or "",
                    changes=changes,
                )
            )
            previous = row
    return entries


def patient_audit_trail(patient: Patient) -> list[AuditEntry]:
    """Every change to the patient and the records under it, newest first."""
    sources = [(Patient.history.filter(id=patient.id), Patient)]
    for model in (BodyMeasurement, LabResult, Medication, RiskFactor):
        sources.append((model.history.filter(patient_id=patient.id), model))
    entries = []
    for queryset, model in sources:
        entries.extend(_entries_for(queryset.select_related("history_user"), model))
    return sorted(entries, key=lambda entry: entry.when, reverse=True)


# django-simple-history keeps the change reason in a 100-character column (varchar on PostgreSQL).
