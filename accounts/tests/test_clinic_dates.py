"""One date format, shown and typed: the format module, the inputs and the parser's message."""

from datetime import date, datetime, time, timedelta

import pytest
from django import forms
from django.template import Context, Template
from django.utils import formats, timezone

from accounts.clinic_dates import ClinicFormatMixin, clinic_input_html, typed_format
from accounts.input_rules import DateWindowsMixin


class Booking(DateWindowsMixin, forms.Form):
    first_day = forms.DateField()
    start = forms.DateField(widget=forms.HiddenInput, required=False)


class Started(ClinicFormatMixin, forms.Form):
    started_at = forms.DateTimeField()
    opens_at = forms.TimeField()


def test_pages_show_dates_and_times_in_the_clinic_format_not_the_language_default():
    moment = datetime(2026, 12, 4, 16, 30)
    rendered = Template('{{ day }} · {{ day|date }} · {{ moment }} · {{ moment|date:"DATETIME_FORMAT" }}').render(
        Context({"day": date(2026, 12, 4), "moment": moment})
    )
    assert rendered == "2026-12-04 · 2026-12-04 · 2026-12-04 16:30 · 2026-12-04 16:30"  # not "Dec. 4, 2026, 4:30 p.m."


def test_a_date_input_is_a_text_input_that_shows_the_format():
    html = str(Booking(initial={"first_day": date(2026, 12, 7)})["first_day"])
    assert 'type="text"' in html and 'value="2026-12-07"' in html
    assert 'placeholder="YYYY-MM-DD"' in html and r'pattern="\d{4}-\d{2}-\d{2}"' in html
    assert 'inputmode="numeric"' in html
    assert 'type="hidden"' in str(Booking()["start"])  # a hidden date stays hidden


@pytest.mark.parametrize("typed", ["12/04/2026", "04.12.2026", "2026-13-01", "4 Dec 2026"])
def test_a_date_in_another_format_is_refused_with_the_format_named(typed):
    form = Booking(data={"first_day": typed})
    assert form.errors["first_day"] == ["Enter the date as YYYY-MM-DD, for example 2026-12-04."]


def test_the_clinic_format_is_read_and_date_windows_still_apply():
    next_week = timezone.localdate() + timedelta(days=7)
    assert Booking(data={"first_day": f"{next_week:%Y-%m-%d}"}).is_valid()
    far = Booking(data={"first_day": "2206-12-07"})
    assert not far.is_valid() and "a booking date" in far.errors["first_day"][0]


def test_date_times_and_times_are_typed_with_a_24_hour_clock():
    form = Started(data={"started_at": "2026-12-04 16:30", "opens_at": "07:30"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["opens_at"] == time(7, 30)
    assert form.cleaned_data["started_at"].hour == 16
    assert 'placeholder="YYYY-MM-DD HH:MM"' in str(form["started_at"])
    assert 'placeholder="HH:MM"' in str(form["opens_at"])
    refused = Started(data={"started_at": "12/04/2026 4:30 PM", "opens_at": "7:30 AM"})
    assert refused.errors["started_at"] == [
        "Enter the date and time as YYYY-MM-DD HH:MM, for example 2026-12-04 16:30."
    ]
    assert refused.errors["opens_at"] == ["Enter the time (24-hour) as HH:MM, for example 16:30."]


def test_the_format_module_reads_only_the_clinic_format_and_iso():
    assert formats.get_format("DATE_INPUT_FORMATS") == ["%Y-%m-%d"]
    assert "%m/%d/%Y" not in formats.get_format("DATETIME_INPUT_FORMATS")


def test_a_page_filter_input_in_the_clinic_format():
    html = clinic_input_html("time", name="start", value=time(9, 0), attrs={"id": "id_start"})
    assert 'type="text"' in html and 'value="09:00"' in html and 'id="id_start"' in html


def test_another_clinic_format_gives_its_own_placeholder_pattern_and_filter_format():
    shown = typed_format("%d/%m/%Y")
    assert (shown.django, shown.placeholder, shown.pattern, shown.example) == (
        "d/m/Y",
        "DD/MM/YYYY",
        r"\d{2}/\d{2}/\d{4}",
        "04/12/2026",
    )
    with pytest.raises(ValueError, match="CLINIC_DATE_FORMAT"):
        typed_format("%Y-%m-%dT")
