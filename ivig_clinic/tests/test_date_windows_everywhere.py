"""Every date field of every form and of every JSON API body has a named window from
accounts.input_rules (issue 18, item 6): the walk finds each form class and body schema of the
project, so a date field added later without a window fails here."""

import importlib
from datetime import date

import pytest
from django import forms

from accounts.input_rules import DATE_WINDOWS, DateWindowsMixin
from patients.api_common import JsonObjectBody

PROJECT_APPS = ("accounts", "patients", "dosing", "visits", "risk", "scheduling", "pathway", "clinic")


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
    for app in PROJECT_APPS:
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
