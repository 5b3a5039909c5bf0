"""The role matrix: who may do what. Allowed gets the page, anything else 403."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.roles import NURSE, PHARMACIST, PHYSICIAN, ROLE_PERMISSIONS, VIEWER
from patients.tests.factories import LabResultFactory, MeasurementFactory, PatientFactory

EVERYONE = {PHYSICIAN, PHARMACIST, NURSE, VIEWER}

# action, url name, the record kind it needs (if any), roles allowed
MATRIX = [
    ("patient list", "patients:list", None, EVERYONE),
    ("patient page", "patients:detail", None, EVERYONE),
    ("audit trail", "patients:history", None, EVERYONE),
    ("register a patient", "patients:create", None, {PHYSICIAN}),
    ("edit a patient", "patients:edit", None, {PHYSICIAN}),
    ("add weight/height", "patients:record_add", "measurements", {PHYSICIAN, NURSE}),
    ("add a lab result", "patients:record_add", "labs", {PHYSICIAN, NURSE}),
    ("add a medication", "patients:record_add", "medications", {PHYSICIAN, PHARMACIST}),
    ("add a risk factor", "patients:record_add", "risk-factors", {PHYSICIAN}),
    ("edit a weight", "patients:record_edit", "measurements", {PHYSICIAN, NURSE}),
    ("remove a weight", "patients:record_delete", "measurements", {PHYSICIAN, NURSE}),
    ("edit a lab result", "patients:record_edit", "labs", {PHYSICIAN}),
    ("remove a lab result", "patients:record_delete", "labs", {PHYSICIAN}),
]


def _url(name, kind, patient, records):
    if name == "patients:list" or name == "patients:create":
        return reverse(name)
    kwargs = {"patient_uuid": patient.uuid}
    if kind:
        kwargs["kind_slug"] = kind
    if name in ("patients:record_edit", "patients:record_delete"):
        kwargs["record_uuid"] = records[kind].uuid
    return reverse(name, kwargs=kwargs)


@pytest.mark.django_db
def test_role_groups_hold_exactly_the_listed_permissions():
    for role, names in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert held == set(names), role


@pytest.mark.django_db
def test_viewer_has_no_write_permission():
    assert all(name.split(".")[1].startswith("view_") for name in ROLE_PERMISSIONS[VIEWER])


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "name", "kind", "allowed"), MATRIX, ids=[row[0] for row in MATRIX])
@pytest.mark.parametrize("role", sorted(EVERYONE) + [None])
def test_role_matrix(role_client, role, action, name, kind, allowed):
    patient = PatientFactory()
    records = {"measurements": MeasurementFactory(patient=patient), "labs": LabResultFactory(patient=patient)}
    response = role_client(role).get(_url(name, kind, patient, records))
    assert response.status_code == (200 if role in allowed else 403), f"{role} → {action}"
