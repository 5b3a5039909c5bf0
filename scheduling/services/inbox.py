"""Who a reminder is for and what it is called, and each user's inbox of them.

A reminder goes to a role (every active member sees it) or to one user. The inbox, not the
e-mail, is the record of a reminder: it lists what is due, read or done, and shows a reminder
whose e-mail may not have left (scheduling/services/delivery.py) as uncertain."""

from datetime import datetime

from django.db.models import Count, Q, QuerySet

from accounts.roles import NURSE, PHYSICIAN, roles_of
from accounts.transactions import service

from ..models import Reminder, ReminderStatus
from ..timing import ReminderKind

LIVE_STATUSES = (ReminderStatus.PENDING, ReminderStatus.SENT)

KIND_LABELS = {
    ReminderKind.UPCOMING_INFUSION: "Upcoming infusion",
    ReminderKind.LABS_CREATININE_BUN: "Labs: creatinine and BUN",
    ReminderKind.LABS_HB_HCT: "Labs: Hb/Hct",
    ReminderKind.THROMBOSIS_CHECK: "Thrombosis check (72 h)",
    ReminderKind.VENOUS_CHECK: "Venous symptom check (day 14)",
    ReminderKind.HAEMOLYSIS_CHECK: "Haemolysis check (36–96 h)",
    ReminderKind.TIS_ASSESSMENT: "TIS assessment due",
    ReminderKind.STEWARDSHIP_REVIEW: "Stewardship review",
    ReminderKind.CYCLE_OVERDUE: "Cycle overdue",
    ReminderKind.INFUSION_INCOMPLETE: "Infusion incomplete: review",
    ReminderKind.INFUSION_REACTION: "Infusion reaction: review",
}
KIND_ROLES = dict.fromkeys(ReminderKind, NURSE) | {
    ReminderKind.TIS_ASSESSMENT: PHYSICIAN,
    ReminderKind.STEWARDSHIP_REVIEW: PHYSICIAN,
    # Addressed to the prescriber; to every physician when the prescriber can no longer receive it.
    ReminderKind.INFUSION_INCOMPLETE: PHYSICIAN,
    ReminderKind.INFUSION_REACTION: PHYSICIAN,
}
LAB_KINDS = (ReminderKind.LABS_CREATININE_BUN, ReminderKind.LABS_HB_HCT)
# Who else sees a role's reminders in the inbox (not by e-mail): physicians see the labs.
ALSO_SHOWN_TO = {PHYSICIAN: LAB_KINDS}


def kind_label(kind: str) -> str:
    try:
        return KIND_LABELS[ReminderKind(kind)]
    except ValueError:
        return kind.replace("_", " ").capitalize()


def reminders_visible_to(user) -> QuerySet:
    """A personal reminder is its user's; a role's reminder is every member's (physicians also
    see the nurses' lab reminders)."""
    roles = roles_of(user)
    shared = Q(user__isnull=True) & (
        Q(role__in=roles) | Q(kind__in=[kind for role in roles for kind in ALSO_SHOWN_TO.get(role, ())])
    )
    return Reminder.objects.filter(Q(user=user) | shared)


INBOX_TABS = ("all", "unread", "done")


def inbox_reminders(user, *, tab: str, now: datetime) -> QuerySet:
    """The user's reminders due by `now`: live ones ("all"), live and unread, or done."""
    if tab not in INBOX_TABS:
        raise ValueError(f"tab: must be one of {', '.join(INBOX_TABS)}, not {tab!r}")
    due = reminders_visible_to(user).filter(due_at__lte=now).select_related("patient", "done_by")
    if tab == "done":
        return due.filter(status=ReminderStatus.DONE).order_by("-done_at", "-due_at")
    live = due.filter(status__in=LIVE_STATUSES).order_by("-due_at", "-id")
    return live.filter(read_at__isnull=True) if tab == "unread" else live


def inbox_counts(user, *, now: datetime) -> dict[str, int]:
    due = reminders_visible_to(user).filter(due_at__lte=now)
    return due.aggregate(
        all=Count("id", filter=Q(status__in=LIVE_STATUSES)),
        unread=Count("id", filter=Q(status__in=LIVE_STATUSES, read_at__isnull=True)),
        done=Count("id", filter=Q(status=ReminderStatus.DONE)),
    )


def unread_count(user, *, now: datetime) -> int:
    return reminders_visible_to(user).filter(due_at__lte=now, status__in=LIVE_STATUSES, read_at__isnull=True).count()


@service
def reminder_mark_read(*, reminder: Reminder, by, now: datetime) -> Reminder:
    """Mark read (for everyone the reminder is for). Idempotent: the first reading is kept."""
    reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
    if reminder.read_at is None:
        reminder.read_at = now
        reminder._history_user = by
        reminder.save(update_fields=["read_at"])
    return reminder


@service
def reminder_mark_done(*, reminder: Reminder, by, now: datetime) -> Reminder:
    """Mark done: it leaves everyone's list. A cancelled reminder stays cancelled; done twice
    keeps the first person and time."""
    reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
    if reminder.status in (ReminderStatus.DONE, ReminderStatus.CANCELLED):
        return reminder
    reminder.status = ReminderStatus.DONE
    reminder.done_by = by
    reminder.done_at = now
    reminder.read_at = reminder.read_at or now
    reminder._history_user = by
    reminder.save(update_fields=["status", "done_by", "done_at", "read_at"])
    return reminder
