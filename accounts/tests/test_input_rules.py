"""accounts.input_rules: the named date windows and printable identifiers, and that every date
field of every form and every API body has its window."""

import importlib
from datetime import date

import pytest
from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError

from accounts.input_rules import (
    BIRTH,
    BOOKING,
    CLINICAL,
    DATE_WINDOWS,
    LOT_EXPIRY,
    DateWindowsMixin,
    unprintable_characters,
    validate_identifier,
)

TODAY = date(2026, 11, 22)
PROJECT_APPS = ("accounts", "patients", "dosing", "visits", "risk", "scheduling", "pathway", "clinic")


@pytest.mark.parametrize(
    ("window", "low", "high"),
    [
        (BIRTH, date(1900, 1, 1), TODAY),
        (CLINICAL, date(1950, 1, 1), date(2027, 11, 23)),
        (LOT_EXPIRY, date(2021, 11, 21), date(2036, 11, 22)),
        (BOOKING, date(2024, 11, 21), date(2028, 11, 22)),
    ],
)
def test_each_window_takes_its_bounds_and_refuses_a_day_beyond(window, low, high):
    assert window.bounds(TODAY) == (low, high)
    window.check(low, TODAY)
    window.check(high, TODAY)
    for outside in (date.fromordinal(low.toordinal() - 1), date.fromordinal(high.toordinal() + 1))[
        : 1 if window is BIRTH else 2
    ]:
        with pytest.raises(ValidationError, match=f"Enter a date from {low.isoformat()} to {high.isoformat()}"):
            window.check(outside, TODAY)


@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 31)])
def test_year_1_and_9999_are_outside_every_window(day):
    for window in (BIRTH, CLINICAL, LOT_EXPIRY, BOOKING):
        with pytest.raises(ValidationError):
            window.check(day, TODAY)


@pytest.mark.parametrize(
    "text",
    [
        "SEC\u202eexe.fdp",  # right-to-left override: shows as SECpdf.exe
        "MRN\r\nBcc: x@example.org",  # splits an e-mail
        "MRN\u200b1",  # zero-width space: two MRNs that look alike
        "MRN\u2028",  # line separator
        "MRN\x1b",
        "\ufeffMRN",
        "MRN\u2066",  # left-to-right isolate
    ],
)
def test_identifiers_refuse_control_format_and_separator_characters(text):
    with pytest.raises(ValidationError, match="Only printable characters"):
        validate_identifier(text)


@pytest.mark.parametrize("text", ["MRN-0042", "Müller-Ødegård 12", "NÚM 5/2026", "مريض ١٢", "患者 7"])
def test_identifiers_keep_any_printable_text_of_any_script(text):
    validate_identifier(text)
    assert unprintable_characters(text) == []


def _project_forms() -> list[type[forms.BaseForm]]:
    for app in PROJECT_APPS:
        for module in ("forms", "record_forms", "order_forms"):
            try:
                importlib.import_module(f"{app}.{module}")
            except ModuleNotFoundError:
                continue
    found, stack = [], [forms.BaseForm]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PROJECT_APPS:
            found.append(cls)
    return found


def test_the_walk_finds_the_forms():
    names = {cls.__name__ for cls in _project_forms()}
    assert {"PatientForm", "MedicationForm", "CourseForm", "MoveForm", "LotForm", "CourseEditForm"} <= names


@pytest.mark.parametrize("form_class", _project_forms(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_date_field_of_every_form_has_a_window(form_class):
    dates = [name for name, field in form_class.base_fields.items() if isinstance(field, forms.DateField)]
    if dates:
        assert issubclass(form_class, DateWindowsMixin), f"{form_class.__name__} has date fields {dates}"
        assert set(dates) <= set(DATE_WINDOWS)


def _api_bodies():
    from patients.api_common import JsonObjectBody

    for app in PROJECT_APPS:
        if apps.is_installed(app):
            try:
                importlib.import_module(f"{app}.api")
            except ModuleNotFoundError:
                continue
    found, stack = [], [JsonObjectBody]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        found.append(cls)
    return found


def test_every_date_of_every_api_body_has_a_window():
    checked = []
    for body in _api_bodies():
        for name, field in body.model_fields.items():
            if date in (field.annotation, *getattr(field.annotation, "__args__", ())):
                assert name in DATE_WINDOWS, f"{body.__name__}.{name}"
                checked.append(name)
    assert {"expiry", "reviewed_on"} <= set(checked)
