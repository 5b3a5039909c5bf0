"""Forms for planning a course, moving a session, setting its status and the unit's settings.

They convert input (dates, local clock times, chair numbers); the scheduling rules live in
scheduling/conflicts.py and the services (courses, sessions, unit). A form that can meet
warnings carries an "I accept" checkbox and the fingerprint of the warnings it showed, so a
tick only ever accepts what was read."""

from datetime import date, time

from django import forms

from accounts.clinic_dates import ClinicFormatMixin
from accounts.form_errors import PageVersionForm, PageVersionMixin, page_version_field
from accounts.input_rules import DateWindowsMixin
from dosing.chart_limits import MAX_LADDER_TOLERANCE_MINUTES

from .conflicts import warnings_digest
from .models import UnitSettings
from .services.sessions import NURSE_STATUSES

DEFAULT_START = time(9, 0)
CYCLES_FORM_MAX = 52  # a year of weekly cycles; open-ended courses leave the number empty


# Date and time inputs are text inputs in the clinic's format (accounts.clinic_dates, through
# DateWindowsMixin or ClinicFormatMixin), not the browser's locale-dependent pickers.
def _date_input():
    return forms.DateInput()


def _time_input():
    return forms.TimeInput()


class AcceptWarningsForm(forms.Form):
    """Adds the acceptance checkbox, hidden until the service has returned warnings."""

    accept_warnings = forms.BooleanField(
        label="I have read these warnings and accept them", required=False, widget=forms.HiddenInput
    )
    warnings_shown = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.warnings: tuple[str, ...] = ()
        self.warnings_changed = False

    def warnings_accepted(self, warnings) -> bool:
        """True when the box was ticked for exactly these warnings."""
        ticked = bool(self.cleaned_data.get("accept_warnings"))
        accepted = ticked and self.cleaned_data.get("warnings_shown") == warnings_digest(warnings)
        self.warnings_changed = ticked and not accepted
        return accepted

    def present_warnings(self, warnings) -> None:
        """Show ``warnings`` with the box; a tick given for other warnings is cleared."""
        self.warnings = tuple(warnings)
        self.fields["accept_warnings"].widget = forms.CheckboxInput()
        if not self.warnings_accepted(self.warnings):
            data = self.data.copy()
            data[self.add_prefix("warnings_shown")] = warnings_digest(self.warnings)
            data[self.add_prefix("accept_warnings")] = ""
            self.data = data


def _chair_choices(unit: UnitSettings) -> list[tuple[int, str]]:
    return [(number, f"Chair {number}") for number in range(1, unit.chairs + 1)]


class CourseForm(DateWindowsMixin, AcceptWarningsForm):
    first_day = forms.DateField(label="First infusion day", widget=_date_input())
    start_time = forms.TimeField(
        label="Start time (local)",
        widget=_time_input(),
        help_text="Every infusion day starts at this clock time, on both sides of a daylight-saving change.",
    )
    chair = forms.TypedChoiceField(label="Chair", coerce=int)
    cycles = forms.IntegerField(
        label="Number of cycles",
        required=False,
        min_value=1,
        max_value=CYCLES_FORM_MAX,
        help_text="Leave empty for an open-ended course: cycles are booked 26 weeks ahead and more can be "
        "booked from the course page.",
    )
    interval_weeks = forms.IntegerField(label="Interval between cycle starts (weeks)", min_value=1, max_value=52)

    def __init__(self, *args, order, unit: UnitSettings, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["chair"].choices = _chair_choices(unit)
        label_weeks = order.indication.interval_weeks_min
        if label_weeks:
            self.fields["interval_weeks"].help_text = f"{order.indication.name}: every {label_weeks} weeks."
        self.initial.setdefault("first_day", today)
        self.initial.setdefault("start_time", max(DEFAULT_START, unit.opens_at))
        self.initial.setdefault("chair", 1)
        self.initial.setdefault("interval_weeks", label_weeks or 4)


class MoveForm(DateWindowsMixin, PageVersionMixin, AcceptWarningsForm):
    new_date = forms.DateField(label="New day", widget=_date_input())
    new_start = forms.TimeField(label="New start time (local)", widget=_time_input())
    chair = forms.TypedChoiceField(label="Chair", coerce=int, empty_value=None, required=False)
    following = forms.BooleanField(
        label="Move this and all following open sessions of the course by the same shift", required=False
    )
    version = page_version_field()

    def __init__(self, *args, unit: UnitSettings, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["chair"].choices = [("", "Keep the current chair (each session its own)")] + _chair_choices(unit)


class StatusForm(PageVersionForm):
    status = forms.ChoiceField(
        label="New status",
        choices=[(status.value, status.label) for status in NURSE_STATUSES],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required for missed and cancelled sessions.",
    )
    version = page_version_field()


class UnitSettingsForm(ClinicFormatMixin, forms.Form):
    chairs = forms.IntegerField(label="Infusion chairs", min_value=1, max_value=60)
    opens_at = forms.TimeField(label="Opens at (local)", widget=_time_input())
    closes_at = forms.TimeField(label="Closes at (local)", widget=_time_input())
    setup_minutes = forms.IntegerField(
        label="Set-up time per session (minutes)",
        min_value=0,
        max_value=240,
        help_text=UnitSettings._meta.get_field("setup_minutes").help_text
        + " Sessions already booked keep the time they were booked with.",
    )
    upcoming_reminder_days = forms.IntegerField(
        label="Remind the nursing team before an infusion (days)",
        min_value=0,
        max_value=14,
        help_text="0 switches the upcoming-infusion reminders off.",
    )
    ladder_tolerance_minutes = forms.IntegerField(
        label="A step of the rate ladder may begin early by (minutes)",
        min_value=0,
        max_value=MAX_LADDER_TOLERANCE_MINUTES,
        help_text=f"Site policy, 0 to {MAX_LADDER_TOLERANCE_MINUTES} minutes. A pump rate is refused above the "
        "limit of the highest step that may have begun: a step may begin when the steps before it have run "
        "their minutes, less this.",
    )


class WeekForm(DateWindowsMixin, forms.Form):
    start = forms.DateField(required=False)
    chairs_from = forms.IntegerField(required=False, min_value=1, max_value=10_000)
    book = forms.UUIDField(required=False)  # the order the board is booking (its cells offer "Book day 1 here")
