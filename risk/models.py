"""Risk flags: the rules' findings stored per patient, with when they were first
seen, their evidence, who acknowledged them and when they stopped applying.
A flag whose condition no longer holds is resolved, never deleted."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Case, IntegerField, Q, Value, When
from simple_history.models import HistoricalRecords

from . import rules

# Flags most severe first: annotate(rank=SEVERITY_RANK).order_by("rank").
SEVERITY_RANK = Case(
    *[When(severity=severity, then=Value(rank)) for rank, severity in enumerate(rules.SEVERITIES)],
    output_field=IntegerField(),
)


# rules.puts_at_risk as a filter on flag rows: the one at-risk test, for the database.
PUTS_AT_RISK = Q(category__in=rules.AT_RISK_CATEGORIES) & ~Q(severity=rules.INFO)
# "Renal risk", defined once: an at-risk flag of the renal category (creatinine and BUN before each
# cycle). dosing reads the same from the verdict's at-risk entries of category renal.
PUTS_AT_RENAL_RISK = PUTS_AT_RISK & Q(category=rules.RENAL)


class FlagQuerySet(models.QuerySet):
    def active(self):
        return self.filter(resolved_at__isnull=True)

    def unacknowledged(self):
        return self.active().filter(acknowledged_at__isnull=True)

    def putting_at_risk(self):
        """Active thrombosis or renal flags that are not informational: they lower the rate cap."""
        return self.active().filter(PUTS_AT_RISK)

    def contraindications(self):
        return self.active().filter(category=rules.CONTRAINDICATION)


class RiskFlag(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="risk_flags")
    code = models.CharField(max_length=40)
    category = models.CharField(max_length=16, choices=[(c, c.capitalize()) for c in rules.CATEGORIES])
    severity = models.CharField(max_length=10, choices=[(s, s.capitalize()) for s in rules.SEVERITIES])
    title = models.CharField(max_length=120)
    evidence = models.TextField()
    evidence_on = models.DateField(null=True, blank=True)
    mitigation = models.TextField()
    source = models.CharField(max_length=200)
    first_seen_at = models.DateTimeField()
    last_evaluated_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement_comment = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    objects = FlagQuerySet.as_manager()

    class Meta:
        ordering = [models.F("resolved_at").asc(nulls_first=True), "-first_seen_at"]
        permissions = [("acknowledge_riskflag", "Can acknowledge risk flags")]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "code"], condition=Q(resolved_at__isnull=True), name="risk_flag_one_active_per_code"
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True) | Q(acknowledged_by__isnull=False),
                name="risk_flag_acknowledged_by_someone",
            ),
        ]
        indexes = [
            models.Index(fields=["resolved_at", "severity"]),
            models.Index(fields=["patient", "resolved_at"]),
            # The dashboard's lists, read newest first off these instead of sorting every active flag.
            models.Index(
                fields=["severity", "-first_seen_at"],
                condition=Q(resolved_at__isnull=True, acknowledged_at__isnull=True) & ~Q(severity=rules.INFO),
                name="risk_flag_unacknowledged",
            ),
            models.Index(
                fields=["-evidence_on"],
                condition=Q(resolved_at__isnull=True, code=rules.CONFIRMED_DETERIORATION),
                name="risk_flag_deterioration",
            ),
        ]

    def __str__(self):
        return f"{self.title} ({self.patient.mrn})"

    @property
    def is_active(self) -> bool:
        return self.resolved_at is None

    @property
    def puts_at_risk(self) -> bool:
        return rules.puts_at_risk(self.category, self.severity)


class PatientFlagSummary(models.Model):
    """One patient's active flags folded under one key (risk.tally): the worst severity's rank
    and how many. Kept by risk.services.flag_summary_refresh in the transaction that changes the
    flags, so the dashboard ranks patients off an index instead of grouping every active flag.
    Derived, not recorded: a key the patient no longer has loses its row (the flags keep their
    history), and `manage.py risk_tally_rebuild` rebuilds every row from the flags."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=40)
    worst_rank = models.PositiveSmallIntegerField()  # rules.SEVERITIES.index: 0 is high
    flag_count = models.PositiveIntegerField()
    # The patient's family name, the ranking's tie-break, copied so the ranking is one index;
    # a patient's save recomputes their flags (risk.signals), which refreshes it.
    family_name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "key"], name="risk_summary_one_per_key")]
        indexes = [
            # The dashboard's "most severe patients first" for any filter: the first rows of this index.
            models.Index(
                fields=["key", "worst_rank", "-flag_count", "family_name", "patient"], name="risk_summary_ranking"
            ),
        ]

    def __str__(self):
        return f"{self.key}: worst {self.worst_rank}, {self.flag_count} flags (patient {self.patient_id})"


class FlagTally(models.Model):
    """The clinic's totals per key (risk.tally): how many patients have a flag under it and how
    many flags. Equal, in every committed state, to the PatientFlagSummary rows summed per key:
    each refresh adds its patient's change in the same transaction (a test and
    `manage.py risk_tally_rebuild --check` hold that)."""

    key = models.CharField(max_length=40, unique=True)
    patients = models.PositiveIntegerField(default=0)
    flags = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.key}: {self.patients} patients, {self.flags} flags"
