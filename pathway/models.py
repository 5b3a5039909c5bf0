"""Stewardship reviews of a treatment course (issue 15, point 2): the decision, its reason, what
the review page showed when it was taken, and the course's window after it. A review recorded in
error is voided with a reason; it stays on file, struck through, and in the history."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class Decision(models.TextChoices):
    CONTINUE = "continue", "Continue"
    STEP_DOWN = "step_down", "Step down (lower dose or longer interval)"
    TRIAL_OFF = "trial_off", "Trial off IVIG"
    STOP = "stop", "Stop IVIG"


class ReviewQuerySet(models.QuerySet):
    def live(self):
        return self.filter(voided_at__isnull=True)


class Review(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    course = models.ForeignKey("dosing.TreatmentCourse", on_delete=models.PROTECT, related_name="reviews")
    reviewed_on = models.DateField("reviewed on")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    dose_g_per_kg = models.DecimalField(
        "new dose (g/kg per cycle)",
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("3"))],
    )
    interval_weeks = models.PositiveSmallIntegerField(
        "new interval (weeks)", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(52)]
    )
    reason = models.CharField(max_length=300)
    # What the review page showed (pathway.evidence.review_evidence), as kept data: later records
    # never rewrite what the decision was taken on.
    evidence = models.JSONField(default=dict)
    # The course after the decision, and what the rescheduling did ("cycle 3 moved ...").
    authorised_until = models.DateField("authorised until after the review")
    next_review_due = models.DateField("next review due after the review", null=True, blank=True)
    schedule_changes = models.JSONField(default=list, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    void_reason = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["-reviewed_on", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="review_has_reason"),
            models.CheckConstraint(
                condition=Q(decision__in=["continue", "step_down", "trial_off", "stop"]), name="review_decision_known"
            ),
            models.CheckConstraint(
                condition=(Q(voided_at__isnull=True) & Q(voided_by__isnull=True) & Q(void_reason=""))
                | (Q(voided_at__isnull=False) & Q(voided_by__isnull=False) & ~Q(void_reason="")),
                name="review_void_has_who_when_why",
            ),
        ]

    def __str__(self):
        return f"{self.get_decision_display()} on {self.reviewed_on:%Y-%m-%d}"

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None
