"""Recompute a patient's risk flags from the chart, acknowledge them, and read the
chart into the rules' snapshot. Writes run in one transaction and leave history."""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from accounts.transactions import BEFORE_COMMIT, in_service, scratch
from dosing.calculations import body_mass_index
from dosing.models import OPEN_STATUSES
from dosing.services.orders import dose_orders_follow_chart
from patients.models import Patient

from . import rules, tally
from .models import FlagTally, PatientFlagSummary, RiskFlag

LAB_TESTS_READ = ("creatinine", "egfr", "triglycerides")


PENDING = "risk.flags_recompute"  # the scratch key: patients whose chart the service touched


def flags_recompute_later(patient_id: int) -> bool:
    """Leave the patient's recompute for the end of the open service transaction (once per
    patient, however many rows the service saves); False outside a service: recompute now."""
    if not in_service():
        return False
    scratch().setdefault(PENDING, set()).add(patient_id)
    return True


def _recompute_pending() -> bool:
    """The before-commit hook: recompute each patient the service touched, once. True if it did."""
    patient_ids = scratch().pop(PENDING, None)
    if not patient_ids:
        return False
    for patient in Patient.objects.filter(pk__in=patient_ids).order_by("pk"):
        flags_recompute(patient=patient)
    return True


if _recompute_pending not in BEFORE_COMMIT:
    BEFORE_COMMIT.append(_recompute_pending)


def site_policy() -> rules.SitePolicy:
    from dosing.models import SiteSettings

    site = SiteSettings.load()
    return rules.SitePolicy(hyperviscosity_triglycerides_mg_dl=site.hyperviscosity_triglycerides_mg_dl)


def chart_snapshot(patient: Patient, today: date) -> rules.ChartSnapshot:
    """What the rules read, taken from the chart as of `today` (later-dated entries are ignored)."""
    bmi, bmi_on = bmi_and_date(
        patient.latest_measurement("weight_kg", today), patient.latest_measurement("height_cm", today)
    )
    labs: dict[str, list[rules.LabValue]] = {}
    for result in patient.lab_results.filter(test__in=LAB_TESTS_READ, collected_on__lte=today).order_by(
        "-collected_on", "-created_at"
    ):
        labs.setdefault(result.test, []).append(rules.LabValue(result.value, result.unit, result.collected_on))
    factors = tuple(
        (factor.kind, factor.get_kind_display(), factor.noted_on)
        for factor in patient.risk_factors.active().filter(noted_on__lte=today)
    )
    medications = tuple((m.category, m.name) for m in patient.medications.current_on(today))
    order = patient.dose_orders.filter(status__in=OPEN_STATUSES).order_by("-prescribed_at").first()
    return rules.ChartSnapshot(
        **patient_snapshot_fields(patient, today),
        bmi=bmi,
        bmi_on=bmi_on,
        risk_factors=factors,
        medications=medications,
        labs={test: tuple(values) for test, values in labs.items()},
        next_cycle_on=_next_cycle_on(patient, today),
        planned_dose_g_per_kg=order.dose_g_per_kg if order else None,
        confirmed_deterioration_on=_confirmed_deterioration_on(patient),
    )


def patient_snapshot_fields(patient: Patient, today: date) -> dict:
    """The snapshot's fields read off the patient row itself (the synthetic seeder shares them)."""
    return {
        "today": today,
        "age_years": patient.age_on(today),
        "diagnosis": patient.diagnosis,
        "diagnosis_date": patient.diagnosis_date,
        "antibodies": tuple(patient.antibodies),
        "iga_status": patient.iga_status,
        "hypersensitivity_to_immunoglobulin": patient.hypersensitivity_to_immunoglobulin,
        "corn_allergy": patient.corn_allergy,
        "hyperprolinaemia": patient.hyperprolinaemia,
        "blood_group": patient.blood_group,
        "cancer_screen_on": patient.cancer_screen_on,
        "antiphospholipid_screen": patient.antiphospholipid_screen,
        "antiphospholipid_screen_on": patient.antiphospholipid_screen_on,
        "first_infusion_on": week0.on if (week0 := patient.ivig_week_zero) else None,
    }


def bmi_and_date(weight, height) -> tuple:
    """BMI from the latest weight and height measurements and the later of their dates;
    (None, None) when either is missing."""
    if not (weight and height):
        return None, None
    return (
        body_mass_index(weight_kg=weight.weight_kg, height_cm=height.height_cm),
        max(weight.measured_on, height.measured_on),
    )


# Where the rules learn the first day of the patient's cycle being given or next to be given:
# scheduling, a layer above, registers its reader here from its ready() (risk never imports it).
NEXT_CYCLE_SOURCES: list = []


def _next_cycle_on(patient: Patient, today: date) -> date | None:
    days = [day for source in NEXT_CYCLE_SOURCES if (day := source(patient, today)) is not None]
    return min(days, default=None)


def _confirmed_deterioration_on(patient: Patient) -> date | None:
    from visits.scoring import patient_response

    response = patient_response(patient)
    return response.deterioration.confirmed_on if response.confirmed_deterioration else None


def verdict_of(active_flags, considerations=()) -> dict:
    """The verdict kept on the patient (Patient.risk_verdict) from its active flags: those that
    put the patient at risk (by category, code) and the contraindications (by code); and, when
    there are any, the considerations shown beside them (rules.prophylaxis_consideration)."""

    def entry(flag) -> dict:
        fields = ("code", "category", "severity", "title", "evidence", "mitigation")
        return {name: getattr(flag, name) for name in fields}

    flags = list(active_flags)
    verdict = {
        "at_risk": [entry(f) for f in sorted(flags, key=lambda f: (f.category, f.code)) if f.puts_at_risk],
        "contraindications": [
            entry(f) for f in sorted(flags, key=lambda f: f.code) if f.category == rules.CONTRAINDICATION
        ],
    }
    if considerations:
        fields = ("code", "title", "evidence", "mitigation", "source")
        verdict["considerations"] = [{name: getattr(c, name) for name in fields} for c in considerations]
    return verdict


@transaction.atomic
def flags_recompute(*, patient: Patient, now: datetime | None = None) -> dict[str, list[str]]:
    """Bring the patient's flags in line with the rules: new findings open a flag, findings
    that no longer hold resolve theirs (kept in the history), others are refreshed.
    Returns the codes opened, resolved and kept. Running it twice changes nothing."""
    now = now or timezone.now()
    Patient.objects.select_for_update().filter(pk=patient.pk).first()  # one recompute per patient at a time
    chart = chart_snapshot(patient, timezone.localdate(now))
    findings = {f.code: f for f in rules.evaluate(chart, site_policy())}
    active = {flag.code: flag for flag in patient.risk_flags.active()}
    opened, resolved, kept = [], [], []
    for code, flag in active.items():
        if code not in findings:
            flag.resolved_at = now
            flag._change_reason = "condition no longer holds"
            flag.save()
            resolved.append(code)
    for code, finding in findings.items():
        flag = active.get(code)
        fields = {
            "category": finding.category,
            "severity": finding.severity,
            "title": finding.title,
            "evidence": finding.evidence,
            "evidence_on": finding.evidence_on,
            "mitigation": finding.mitigation,
            "source": finding.source,
        }
        if flag is None:
            flag = RiskFlag(patient=patient, code=code, first_seen_at=now, last_evaluated_at=now, **fields)
            flag._change_reason = "raised by the rules"
            flag.save()
            opened.append(code)
            continue
        changed = any(getattr(flag, name) != value for name, value in fields.items())
        if changed:
            for name, value in fields.items():
                setattr(flag, name, value)
            flag.last_evaluated_at = now
            flag._change_reason = "evidence updated"
            flag.save()
        kept.append(code)
    considerations = rules.prophylaxis_consideration(chart, list(findings.values()))
    now_active = list(patient.risk_flags.active())
    patient.risk_verdict = verdict_of(now_active, considerations)
    flag_summary_refresh(patient=patient, active_flags=now_active)
    Patient.objects.filter(pk=patient.pk).update(risk_verdict=patient.risk_verdict)
    # Every open order follows the chart just evaluated: a lower cap reaches the chair at once.
    dose_orders_follow_chart(patient=patient, today=timezone.localdate(now))
    return {"opened": opened, "resolved": resolved, "kept": kept}


@transaction.atomic
def flag_acknowledge(*, by, flag: RiskFlag, comment: str, now: datetime | None = None) -> RiskFlag:
    # The patient first, as flags_recompute locks it before its flags: the same order, no deadlock.
    Patient.objects.select_for_update().filter(pk=flag.patient_id).first()
    flag = RiskFlag.objects.select_for_update().get(pk=flag.pk)
    if not flag.is_active:
        raise ValidationError("This flag no longer applies; there is nothing to acknowledge.")
    if flag.acknowledged_at is not None:
        raise ValidationError("This flag is already acknowledged.")
    if not comment.strip():
        raise ValidationError({"comment": "Say what you checked or did, e.g. 'hydration ordered, rate capped'."})
    flag.acknowledged_by = by
    flag.acknowledged_at = now or timezone.now()
    flag.acknowledgement_comment = comment.strip()
    flag._history_user = by
    flag._change_reason = "acknowledged"
    flag.save()
    flag_summary_refresh(patient=flag.patient)  # one fewer "new" flag
    return flag


def flags_unacknowledged_total() -> int:
    """The dashboard's "flags not yet acknowledged": the kept total (FlagTally), one query."""
    kept = FlagTally.objects.filter(key=tally.UNACKNOWLEDGED).values_list("flags", flat=True).first()
    return kept or 0


def flags_recompute_all(*, now: datetime | None = None) -> dict[str, int]:
    """Recompute every patient's flags, one transaction per patient. Returns totals."""
    now = now or timezone.now()
    totals = {"patients": 0, "opened": 0, "resolved": 0}
    for patient in Patient.objects.order_by("pk").iterator(chunk_size=500):
        result = flags_recompute(patient=patient, now=now)
        totals["patients"] += 1
        totals["opened"] += len(result["opened"])
        totals["resolved"] += len(result["resolved"])
    # Each recompute refreshed its patient's summary; the totals are set from them once more, so
    # whatever drifted past the services (a patient deleted, rows written in bulk) is put right nightly.
    totals["tally_corrected"] = flag_tally_reconcile()
    return totals


def _facts(category: str, severity: str, code: str, acknowledged_at) -> tally.FlagFacts:
    return tally.FlagFacts(category, severity, code, acknowledged_at is not None)


@transaction.atomic
def flag_summary_refresh(*, patient: Patient, active_flags=None) -> dict[str, tuple[int, int]]:
    """Bring the patient's PatientFlagSummary rows in line with their active flags (pass them
    when already read) and add the change to the clinic's FlagTally, in the caller's transaction.
    Returns the change per key, (patients, flags); {} when nothing moved.

    The patient row is locked first, so two writers of one patient's flags fold one after the
    other; tally rows are then updated in key order, so two patients' refreshes never deadlock."""
    family_name = Patient.objects.select_for_update().filter(pk=patient.pk).values_list("family_name", flat=True)
    family_name = family_name.first()
    if family_name is None:  # the patient is being deleted: their rows go with them
        return {}
    flags = patient.risk_flags.active() if active_flags is None else active_flags
    after = tally.fold(_facts(f.category, f.severity, f.code, f.acknowledged_at) for f in flags)
    rows = {row.key: row for row in PatientFlagSummary.objects.filter(patient_id=patient.pk)}
    before = {key: tally.KeyFigures(row.worst_rank, row.flag_count) for key, row in rows.items()}
    gone = [rows[key].pk for key in rows.keys() - after.keys()]
    if gone:
        PatientFlagSummary.objects.filter(pk__in=gone).delete()
    added, changed = [], []
    for key, figures in after.items():
        row = rows.get(key)
        if row is None:
            added.append(
                PatientFlagSummary(patient_id=patient.pk, key=key, family_name=family_name, **figures._asdict())
            )
        elif (row.worst_rank, row.flag_count, row.family_name) != (*figures, family_name):
            row.worst_rank, row.flag_count, row.family_name = *figures, family_name
            changed.append(row)
    if added:
        PatientFlagSummary.objects.bulk_create(added)
    if changed:
        PatientFlagSummary.objects.bulk_update(changed, ["worst_rank", "flag_count", "family_name"])
    change = tally.tally_change(before, after)
    if change:
        FlagTally.objects.bulk_create([FlagTally(key=key) for key in change], ignore_conflicts=True)
        for key, (patients, flag_count) in change.items():  # sorted by key: one lock order
            FlagTally.objects.filter(key=key).update(patients=F("patients") + patients, flags=F("flags") + flag_count)
    return change


def flag_tally_counted() -> dict[str, tuple[int, int]]:
    """The clinic's totals per key counted afresh from the summary rows: (patients, flags)."""
    counted = PatientFlagSummary.objects.values("key").annotate(patients=Count("id"), flags=Sum("flag_count"))
    return {row["key"]: (row["patients"], row["flags"]) for row in counted}


def flag_tally_kept() -> dict[str, tuple[int, int]]:
    """The totals as kept, keys at zero left out (a key no patient has any more keeps its row)."""
    kept = FlagTally.objects.exclude(patients=0, flags=0).values_list("key", "patients", "flags")
    return {key: (patients, flags) for key, patients, flags in kept}


@transaction.atomic
def flag_tally_reconcile() -> int:
    """Set every FlagTally row to the totals counted from the summary rows. Returns how many
    keys were wrong (0 when the incremental upkeep held, as it should).

    The tally rows are locked first: a refresh running meanwhile waits to add its change until
    this commits, and its summary rows, not yet committed, are not counted here, so its change
    is added once, on top of the counted totals."""
    list(FlagTally.objects.select_for_update().order_by("key").values_list("pk", flat=True))
    counted = flag_tally_counted()
    kept = {
        key: (patients, flags) for key, patients, flags in FlagTally.objects.values_list("key", "patients", "flags")
    }
    wrong = 0
    for key in sorted(counted.keys() | kept.keys()):
        patients, flags = counted.get(key, (0, 0))
        if kept.get(key, (0, 0)) == (patients, flags):
            continue
        wrong += 1
        FlagTally.objects.update_or_create(key=key, defaults={"patients": patients, "flags": flags})
    return wrong


REBUILD_BATCH = 1000  # patients rewritten per transaction by flag_summaries_rebuild


def _folded(patient_ids=None) -> tuple[dict[int, dict], dict[int, str]]:
    """Every (or the given) patient's active flags folded per key, and their family names."""
    flags = RiskFlag.objects.active()
    if patient_ids is not None:
        flags = flags.filter(patient_id__in=patient_ids)
    facts: dict[int, list] = {}
    names: dict[int, str] = {}
    for patient_id, family_name, *fields in flags.values_list(
        "patient_id", "patient__family_name", "category", "severity", "code", "acknowledged_at"
    ).iterator(chunk_size=REBUILD_BATCH):
        facts.setdefault(patient_id, []).append(_facts(*fields))
        names[patient_id] = family_name
    return {patient_id: tally.fold(flags) for patient_id, flags in facts.items()}, names


def flag_summaries_rebuild(*, check_only: bool = False) -> dict[str, int]:
    """Compare every patient's summary rows with a fold of their active flags, rewrite those
    that differ (unless check_only), then set the totals from the summaries. Returns how many
    patients and totals were wrong. The bulk seeder calls it after writing flags past the services.

    Each batch of patients is locked and folded again inside its transaction, so a flag changed
    since the first read is not undone."""
    expected, names = _folded()
    stored: dict[int, dict] = {}
    for patient_id, key, worst_rank, flag_count, family_name in PatientFlagSummary.objects.values_list(
        "patient_id", "key", "worst_rank", "flag_count", "family_name"
    ).iterator(chunk_size=REBUILD_BATCH):
        stored.setdefault(patient_id, {})[key] = tally.KeyFigures(worst_rank, flag_count)
        if family_name != names.get(patient_id, family_name):
            stored[patient_id]["family name"] = None  # not the patient's: rewrite
    wrong = sorted(pid for pid in expected.keys() | stored.keys() if expected.get(pid, {}) != stored.get(pid, {}))
    if check_only:
        kept, counted = flag_tally_kept(), flag_tally_counted()
        keys = sum(kept.get(key) != counted.get(key) for key in kept.keys() | counted.keys())
        return {"patients": len(wrong), "keys": keys}
    for start in range(0, len(wrong), REBUILD_BATCH):
        batch = wrong[start : start + REBUILD_BATCH]
        with transaction.atomic():
            list(Patient.objects.select_for_update().filter(pk__in=batch).values_list("pk", flat=True))
            folded, names = _folded(batch)
            PatientFlagSummary.objects.filter(patient_id__in=batch).delete()
            PatientFlagSummary.objects.bulk_create(
                [
                    PatientFlagSummary(patient_id=pid, key=key, family_name=names[pid], **figures._asdict())
                    for pid, keys in folded.items()
                    for key, figures in keys.items()
                ],
                batch_size=REBUILD_BATCH,
            )
    return {"patients": len(wrong), "keys": flag_tally_reconcile()}
