"""The reminder inbox: each user's reminders (their own and their roles'), due now or earlier."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.in_place import done_in_place, in_place

from ..models import Reminder
from ..services.delivery import reminder_email_confirm, reminder_email_resend
from ..services.inbox import (
    INBOX_TABS,
    inbox_counts,
    inbox_reminders,
    kind_label,
    reminder_mark_done,
    reminder_mark_read,
    reminders_visible_to,
)
from ..tasks import deliveries_queue

REMINDERS_PER_PAGE = 25
ACTIONS = {"read": reminder_mark_read, "done": reminder_mark_done}
DONE_MESSAGES = {"read": "Marked as read.", "done": "Marked as done."}
EMAIL_ACTIONS = {"confirm": reminder_email_confirm, "resend": reminder_email_resend}
EMAIL_MESSAGES = {
    "confirm": "Recorded: the e-mail arrived. It will not be sent again.",
    "resend": "The e-mail will be sent again in a moment.",
}


def _get_reminder_for_user(user, reminder_uuid) -> Reminder:
    """Someone else's reminder is not found, whether or not it exists."""
    return get_object_or_404(reminders_visible_to(user), uuid=reminder_uuid)


@require_GET
@permission_required("scheduling.view_reminder", raise_exception=True)
def inbox(request):
    tab = request.GET.get("tab", "all")
    if tab not in INBOX_TABS:
        raise Http404("No such tab.")
    context = _inbox_context(request.user, tab=tab, page_number=request.GET.get("page"), now=timezone.now())
    return render(request, "scheduling/inbox.html", context)


def _inbox_context(user, *, tab: str, page_number, now) -> dict:
    reminders = inbox_reminders(user, tab=tab, now=now)
    page = Paginator(reminders, REMINDERS_PER_PAGE).get_page(page_number)
    for reminder in page:
        reminder.kind_label = kind_label(reminder.kind)
    return {"tab": tab, "tabs": INBOX_TABS, "counts": inbox_counts(user, now=now), "page": page}


@require_POST
@permission_required("scheduling.view_reminder", raise_exception=True)
def reminder_action(request, reminder_uuid, action):
    """Mark read or done. In place (htmx): the inbox list as it now is, the header's unread count
    and the message; focus stays on the reminder's Done button if it is still listed."""
    service = ACTIONS.get(action)
    if service is None:
        raise Http404("No such action.")
    if not request.user.has_perm("scheduling.change_reminder"):
        raise PermissionDenied
    reminder = _get_reminder_for_user(request.user, reminder_uuid)
    now = timezone.now()
    service(reminder=reminder, by=request.user, now=now)
    messages.success(request, DONE_MESSAGES[action])
    tab = request.POST.get("tab")
    tab = tab if tab in INBOX_TABS else "all"
    page_url = f"{reverse('scheduling:inbox')}?tab={tab}"
    if not in_place(request):
        return redirect(page_url)
    context = _inbox_context(request.user, tab=tab, page_number=request.POST.get("page"), now=now)
    context |= {"oob": True, "focus_reminder": reminder.uuid}
    return done_in_place(request, page_url=page_url, template="scheduling/_inbox_list.html", context=context)


@require_POST
@permission_required("scheduling.change_reminder", raise_exception=True)
def reminder_email_action(request, reminder_uuid, action):
    """An uncertain e-mail: a person confirms it arrived, or has it sent again on purpose."""
    service = EMAIL_ACTIONS.get(action)
    if service is None:
        raise Http404("No such action.")
    reminder = _get_reminder_for_user(request.user, reminder_uuid)
    try:
        reminder = service(reminder=reminder, by=request.user, now=timezone.now())
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if action == "resend":
            deliveries_queue([reminder.pk])
        messages.success(request, EMAIL_MESSAGES[action])
    tab = request.POST.get("tab")
    return redirect(f"{reverse('scheduling:inbox')}?tab={tab if tab in INBOX_TABS else 'all'}")
