"""Infusion courses, cycles and sessions in the unit's chairs; what actually happened
at each infusion; and the reminders that keep the 4-weekly rhythm.

Times are stored in UTC and shown in the clinic's local time (settings.TIME_ZONE).
Scheduling arithmetic lives in scheduling/timing.py (pure)."""

import uuid
from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from accounts.input_rules import validate_identifier
from dosing.chart_limits import MAX_LADDER_TOLERANCE_MINUTES
from dosing.models import validate_gtin14


class UnitSettings(models.Model):
    """The infusion unit: chairs, opening hours, set-up time, reminder lead time, ladder tolerance. One row."""

    chairs = models.PositiveSmallIntegerField(default=6, validators=[MinValueValidator(1), MaxValueValidator(60)])
    opens_at = models.TimeField(default=time(8, 0))
    closes_at = models.TimeField(default=time(18, 0))
    setup_minutes = models.PositiveSmallIntegerField(
        "set-up minutes per session",
        default=30,
        validators=[MaxValueValidator(240)],
        help_text="Cannulation, pre-infusion checks and observation added to the plan's infusion time.",
    )
    upcoming_reminder_days = models.PositiveSmallIntegerField(
        "days before an infusion to remind the nursing team", default=3, validators=[MaxValueValidator(14)]
    )
    ladder_tolerance_minutes = models.PositiveSmallIntegerField(
        "minutes a step of the ladder may begin early",
        default=MAX_LADDER_TOLERANCE_MINUTES,
        validators=[MaxValueValidator(MAX_LADDER_TOLERANCE_MINUTES)],
        help_text="Site policy: a step may begin when the steps before it have run their minutes, less this.",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "infusion unit settings"
        verbose_name_plural = "infusion unit settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="unit_settings_single_row"),
            models.CheckConstraint(condition=Q(closes_at__gt=models.F("opens_at")), name="unit_opens_before_closing"),
        ]

    def __str__(self):
        return "Infusion unit settings"

    @classmethod
    def load(cls) -> "UnitSettings":
        return cls.objects.get_or_create(pk=1)[0]


class CourseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped"


class Course(models.Model):
    """A planned series of cycles from one verified dose order."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey("dosing.DoseOrder", on_delete=models.PROTECT, related_name="courses")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="courses")
    interval_weeks = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(52)])
    days_per_cycle = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(7)])
    planned_cycles = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty: open-ended, reviewed at 3 and 6 months."
    )
    first_day = models.DateField()
    status = models.CharField(max_length=10, choices=CourseStatus.choices, default=CourseStatus.ACTIVE)
    # Why a course ended: "all 6 cycles given", "order cancelled: ...", "replaced by ...".
    status_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-first_day"]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_cycles__isnull=True) | Q(planned_cycles__gte=1), name="course_cycles_positive"
            ),
        ]

    def __str__(self):
        return f"Course from {self.first_day:%Y-%m-%d} every {self.interval_weeks} weeks ({self.patient.mrn})"

    def get_absolute_url(self) -> str:
        return reverse("scheduling:course_detail", kwargs={"course_uuid": self.uuid})


class Cycle(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="cycles")
    number = models.PositiveSmallIntegerField()
    start_date = models.DateField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["course", "number"]
        constraints = [models.UniqueConstraint(fields=["course", "number"], name="cycle_number_unique_in_course")]

    def __str__(self):
        return f"Cycle {self.number} from {self.start_date:%Y-%m-%d}"


class SessionStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    CONFIRMED = "confirmed", "Confirmed"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    MISSED = "missed", "Missed"
    CANCELLED = "cancelled", "Cancelled"


OPEN_SESSION_STATUSES = (SessionStatus.PLANNED, SessionStatus.CONFIRMED, SessionStatus.IN_PROGRESS)


class SessionQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_SESSION_STATUSES)

    def between(self, start, end):
        """Sessions starting in [start, end) (aware datetimes)."""
        return self.filter(planned_start__gte=start, planned_start__lt=end)


class InfusionSession(models.Model):
    """One infusion day in a chair."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="sessions")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="infusion_sessions")
    day_number = models.PositiveSmallIntegerField(help_text="Day of the cycle (1 to the order's days).")
    chair = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    planned_start = models.DateTimeField()
    expected_minutes = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(1440)])
    status = models.CharField(max_length=12, choices=SessionStatus.choices, default=SessionStatus.PLANNED)
    status_reason = models.CharField(max_length=300, blank=True)
    # Raised by every save; a form posts the version it showed, so two people editing one
    # session cannot silently overwrite each other.
    version = models.PositiveIntegerField(default=1)
    history = HistoricalRecords()

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["planned_start", "chair"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "day_number"], name="session_day_unique_in_cycle"),
        ]
        indexes = [
            models.Index(fields=["planned_start", "status"]),
            models.Index(fields=["patient", "planned_start"]),
            # The week view: one short range per chair shown (chair IN (...) AND planned_start in the
            # week), and the week's highest chair read backwards off it, instead of every session
            # of the week, which grows with the clinic.
            models.Index(fields=["chair", "planned_start"], name="session_chair_start"),
        ]

    def __str__(self):
        start = timezone.localtime(self.planned_start)
        return f"Infusion {start:%Y-%m-%d %H:%M} chair {self.chair} ({self.patient.mrn})"

    def get_absolute_url(self) -> str:
        return reverse("scheduling:session_detail", kwargs={"session_uuid": self.uuid})

    @property
    def planned_end(self):
        from datetime import timedelta

        return self.planned_start + timedelta(minutes=self.expected_minutes)


class InfusionRecord(models.Model):
    """What actually happened at one session, recorded by the nurse."""

    session = models.OneToOneField(InfusionSession, on_delete=models.CASCADE, related_name="record")
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    volume_given_ml = models.DecimalField(
        max_digits=6, decimal_places=1, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )
    grams_wasted = models.DecimalField(
        "grams opened but not given",
        max_digits=6,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    notes = models.TextField(blank=True)
    # The pre-infusion check as the nurse saw it at the start (scheduling.services.records.
    # pre_infusion_snapshot): its items, the policy, the active risk flags, and the acceptance of
    # any stale or missing item with its reason. Who and when are in the history.
    pre_infusion_check = models.JSONField(default=dict, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(stopped_at__isnull=True)
                | Q(started_at__isnull=False, stopped_at__gte=models.F("started_at")),
                name="record_stops_after_start",
            ),
        ]

    def __str__(self):
        return f"Record of {self.session}"


class EntryQuerySet(models.QuerySet):
    def live(self):
        """The entries that count: not voided."""
        return self.filter(voided_at__isnull=True)

    def voided(self):
        return self.filter(voided_at__isnull=False)


class RecordEntry(models.Model):
    """One entry of an infusion record. Never deleted and never edited: a wrong entry is voided
    with a reason (it stays, struck through, and no longer counts) and the right one is entered.

    ``uuid`` is the entry's id everywhere outside the database (pages, the chair API), one id
    space across every kind. ``late_reason`` is set on an entry made after the infusion was
    completed (an amendment)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    late_reason = models.CharField("reason for a late entry", max_length=300, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    void_reason = models.CharField(max_length=300, blank=True)

    objects = EntryQuerySet.as_manager()

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=(Q(voided_at__isnull=True) & Q(voided_by__isnull=True) & Q(void_reason=""))
                | (Q(voided_at__isnull=False) & Q(voided_by__isnull=False) & ~Q(void_reason="")),
                name="%(app_label)s_%(class)s_void_has_who_when_why",
            ),
        ]

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class RecordValueKind(models.TextChoices):
    START = "start", "Start"
    STOP = "stop", "Stop"
    VOLUME = "volume", "Volume given"
    WASTE = "waste", "Grams opened but not given"


class RecordValue(RecordEntry):
    """The start, the stop, the volume given or the grams wasted, as entered. The live entry of
    each kind is the record's value (kept on ``InfusionRecord`` for reading); a correction voids
    it with a reason and enters the new one."""

    record = models.ForeignKey("InfusionRecord", on_delete=models.CASCADE, related_name="values")
    kind = models.CharField(max_length=6, choices=RecordValueKind.choices)
    at = models.DateTimeField(null=True, blank=True, help_text="The start or stop time.")
    amount = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, help_text="mL for the volume, g for the waste."
    )
    # Empty only on entries carried over from records kept before entries were (their history says who).
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [
            *RecordEntry.Meta.constraints,
            models.UniqueConstraint(
                fields=["record", "kind"], condition=Q(voided_at__isnull=True), name="record_value_one_live_per_kind"
            ),
            models.CheckConstraint(
                condition=(Q(kind__in=["start", "stop"]) & Q(at__isnull=False) & Q(amount__isnull=True))
                | (Q(kind__in=["volume", "waste"]) & Q(at__isnull=True) & Q(amount__gte=0)),
                name="record_value_time_or_amount",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.shown}"

    @property
    def shown(self) -> str:
        """The value with its unit, in local time for a time."""
        if self.at is not None:
            return f"{timezone.localtime(self.at):%Y-%m-%d %H:%M}"
        unit = "mL" if self.kind == RecordValueKind.VOLUME else "g"
        return f"{self.amount.normalize():f} {unit}"


class RateChange(RecordEntry):
    record = models.ForeignKey(InfusionRecord, on_delete=models.CASCADE, related_name="rate_changes")
    at = models.DateTimeField()
    rate_ml_per_h = models.DecimalField(
        "rate (mL/h)", max_digits=6, decimal_places=1, validators=[MinValueValidator(Decimal("0"))]
    )
    step_number = models.PositiveSmallIntegerField(help_text="The plan's ladder step this rate belongs to.")
    reason = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["at", "pk"]
        constraints = [*RecordEntry.Meta.constraints]

    def __str__(self):
        return f"{self.rate_ml_per_h} mL/h at {self.at:%H:%M}"


class LotUsage(RecordEntry):
    """Traceability of a plasma product: which lots were opened for this infusion."""

    record = models.ForeignKey(InfusionRecord, on_delete=models.CASCADE, related_name="lots")
    lot_number = models.CharField(max_length=40, validators=[validate_identifier])
    vial_size_g = models.DecimalField(max_digits=5, decimal_places=2, validators=[MinValueValidator(Decimal("0.5"))])
    vials = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    expiry_date = models.DateField(null=True, blank=True)
    # Opened beyond the day's grams plus the smallest vial: why (scheduling.services.records.lot_record).
    excess_reason = models.CharField("reason for opening more than planned", max_length=300, blank=True)
    # Empty only on lots recorded before the recorder was kept on the lot (their history says who).
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    # The GTIN of the vial's package when the lot was scanned (empty when typed by hand).
    gtin = models.CharField("GTIN", max_length=14, blank=True, validators=[validate_gtin14])
    history = HistoricalRecords()

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [*RecordEntry.Meta.constraints]

    def __str__(self):
        return f"Lot {self.lot_number}: {self.vials} × {self.vial_size_g} g"


class VitalsPhase(models.TextChoices):
    BEFORE = "before", "Before"
    DURING = "during", "During"
    AFTER = "after", "After"


class VitalSigns(RecordEntry):
    record = models.ForeignKey(InfusionRecord, on_delete=models.CASCADE, related_name="vitals")
    phase = models.CharField(max_length=6, choices=VitalsPhase.choices)
    at = models.DateTimeField()
    systolic_mmhg = models.PositiveSmallIntegerField(validators=[MinValueValidator(40), MaxValueValidator(300)])
    diastolic_mmhg = models.PositiveSmallIntegerField(validators=[MinValueValidator(20), MaxValueValidator(200)])
    heart_rate_bpm = models.PositiveSmallIntegerField(validators=[MinValueValidator(20), MaxValueValidator(250)])
    temperature_c = models.DecimalField(
        max_digits=3, decimal_places=1, validators=[MinValueValidator(Decimal("30")), MaxValueValidator(Decimal("45"))]
    )
    spo2_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(50), MaxValueValidator(100)]
    )
    respiratory_rate = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(4), MaxValueValidator(80)]
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "vital signs"
        constraints = [*RecordEntry.Meta.constraints]

    def __str__(self):
        return f"{self.get_phase_display()} {self.at:%H:%M}: BP {self.systolic_mmhg}/{self.diastolic_mmhg}"


class ReactionType(models.TextChoices):
    HEADACHE = "headache", "Headache"
    FEVER_CHILLS = "fever_chills", "Fever or chills"
    FLUSHING = "flushing", "Flushing"
    NAUSEA = "nausea", "Nausea or vomiting"
    HYPOTENSION = "hypotension", "Hypotension"
    HYPERTENSION = "hypertension", "Hypertension"
    CHEST_PAIN = "chest_pain", "Chest pain or tightness"
    DYSPNOEA = "dyspnoea", "Shortness of breath"
    URTICARIA = "urticaria", "Urticaria or rash"
    ANAPHYLAXIS = "anaphylaxis", "Anaphylaxis"
    THROMBOSIS_SIGNS = "thrombosis_signs", "Signs of thrombosis"
    OTHER = "other", "Other"


class ReactionSeverity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


class ReactionAction(models.TextChoices):
    NONE = "none", "No change"
    SLOWED = "slowed", "Rate slowed"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"
    RESUMED = "resumed", "Resumed"


class Reaction(RecordEntry):
    record = models.ForeignKey(InfusionRecord, on_delete=models.CASCADE, related_name="reactions")
    at = models.DateTimeField()
    type = models.CharField(max_length=20, choices=ReactionType.choices)
    description = models.CharField(max_length=300, blank=True)
    severity = models.CharField(max_length=10, choices=ReactionSeverity.choices)
    action = models.CharField(max_length=10, choices=ReactionAction.choices)
    resumed_rate_ml_per_h = models.DecimalField(
        "resumed at (mL/h)", max_digits=6, decimal_places=1, null=True, blank=True
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            *RecordEntry.Meta.constraints,
            models.CheckConstraint(
                condition=~Q(action="resumed") | Q(resumed_rate_ml_per_h__isnull=False),
                name="reaction_resumed_has_rate",
            ),
        ]

    def __str__(self):
        return f"{self.get_type_display()} ({self.get_severity_display()}) at {self.at:%H:%M}"


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


LIVE_REMINDER_STATUSES = (ReminderStatus.PENDING, ReminderStatus.SENT)
# Reminders that are work for the unit (labs to draw, post-infusion checks to make).
CHECK_KINDS = ("labs_creatinine_bun", "labs_hb_hct", "thrombosis_check", "venous_check", "haemolysis_check")


class Reminder(models.Model):
    """One reminder of one kind for one target (a session, cycle or patient) on one due date.

    `subject_key` (kind:target:local due date, from scheduling.timing.subject_key) is unique:
    the sweep may run twice at once and still create each reminder once."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject_key = models.CharField(max_length=160, unique=True)
    kind = models.CharField(max_length=32)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="reminders")
    session = models.ForeignKey(
        InfusionSession, on_delete=models.CASCADE, related_name="reminders", null=True, blank=True
    )
    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="reminders", null=True, blank=True)
    due_at = models.DateTimeField()
    window_end = models.DateTimeField(null=True, blank=True)
    message = models.CharField(max_length=300)
    # Who it is for: a role (group name) and/or one user.
    role = models.CharField(max_length=20, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders", null=True, blank=True
    )
    status = models.CharField(max_length=10, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    # Delivery: claimed by one worker, then e-mailed once. A claim without emailed_at is an
    # interrupted delivery; it is never blindly repeated (see the delivery service).
    delivery_claimed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Set when a send's outcome is unknown (it failed after the message left, or its worker died):
    # never retried; a person confirms it arrived or resends it (scheduling/services/delivery.py).
    email_uncertain_at = models.DateTimeField("e-mail uncertain since", null=True, blank=True)
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A reminder's history is read by reminder (its id) and by date; the other indexes simple-history
    # would add (key, uuid and every foreign key) were never read, yet cost most of each history row's
    # insert, about a third of a first run's writing of 86,000 reminders at 10,000 patients.
    history = HistoricalRecords(
        excluded_fields=["delivery_claimed_at", "delivery_attempts", "last_error"],
        no_db_index=["uuid", "subject_key", "patient", "session", "cycle", "user", "done_by"],
    )

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.CheckConstraint(condition=Q(role__gt="") | Q(user__isnull=False), name="reminder_has_a_recipient"),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["role", "status"]),
            # The dashboard's "checks and labs due": live ones of these kinds in due order.
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=LIVE_REMINDER_STATUSES, kind__in=CHECK_KINDS),
                name="reminder_live_check_due",
            ),
            # The periodic sweep's window: pending reminders never yet tried, in due order. Only
            # these rows are in it, so the sweep reads what is due, not the clinic's history.
            models.Index(
                fields=["due_at"],
                condition=Q(
                    status=ReminderStatus.PENDING,
                    emailed_at__isnull=True,
                    delivery_claimed_at__isnull=True,
                    delivery_attempts=0,
                    last_error="",
                ),
                name="reminder_undelivered_due",
            ),
            # Claims that may have gone stale, for the sweep's interrupted-delivery check.
            models.Index(
                fields=["delivery_claimed_at"],
                condition=Q(
                    emailed_at__isnull=True, email_uncertain_at__isnull=True, delivery_claimed_at__isnull=False
                ),
                name="reminder_open_claim",
            ),
            # The inbox badge on every page: live, unread reminders of a role or of one user, due by now.
            models.Index(
                fields=["role", "due_at"],
                condition=Q(status__in=LIVE_REMINDER_STATUSES, read_at__isnull=True, user__isnull=True),
                name="reminder_unread_role_due",
            ),
            models.Index(
                fields=["user", "due_at"],
                condition=Q(status__in=LIVE_REMINDER_STATUSES, read_at__isnull=True),
                name="reminder_unread_user_due",
            ),
            # The same badge's other branch: physicians also see the nurses' lab reminders.
            models.Index(
                fields=["kind", "due_at"],
                condition=Q(status__in=LIVE_REMINDER_STATUSES, read_at__isnull=True, user__isnull=True),
                name="reminder_unread_kind_due",
            ),
            # What a recompute compares against: a patient's live reminders not yet due.
            models.Index(
                fields=["patient", "due_at"],
                condition=Q(status__in=LIVE_REMINDER_STATUSES),
                name="reminder_live_patient",
            ),
            # The home page's "needs review" (scheduling.infusion_review.REVIEW_KINDS), newest first,
            # and its count, instead of every live reminder of the clinic filtered by kind.
            models.Index(
                fields=["due_at", "id"],
                condition=Q(status__in=LIVE_REMINDER_STATUSES, kind__in=("infusion_incomplete", "infusion_reaction")),
                name="reminder_live_review",
            ),
        ]

    def __str__(self):
        return f"{self.kind} for {self.patient.mrn} due {self.due_at:%Y-%m-%d %H:%M}"
