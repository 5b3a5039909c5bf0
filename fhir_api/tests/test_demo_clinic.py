"""Issue 16's "done when": on the seeded demo clinic, everything the FHIR API returns is valid R4
(read back by its fhir.resources R4B model): the CapabilityStatement, every CodeSystem our codes
point at, every patient found by search, every patient's $everything page by page, and every line
of a bulk export. One test: seeding takes about a second and the walk reads only."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from fhir_api import compartment
from fhir_api.resources import MODELS
from fhir_api.tasks import bulk_export_build
from patients.models import Patient

pytestmark = pytest.mark.django_db
BASE = "http://testserver/fhir"


def get_valid(client, url: str, **headers):
    """The response at `url`, its body read back by the R4B model of its resourceType."""
    response = client.get(url.removeprefix("http://testserver"), **headers)
    assert response.status_code == 200, (url, response.content[:500])
    data = json.loads(response.content)
    MODELS[data["resourceType"]].model_validate_json(response.content)
    return data


def pages(client, url: str) -> list[dict]:
    """Every resource of a searchset, through its next links, each page validated as a Bundle."""
    found = []
    while url:
        bundle = get_valid(client, url)
        found += [entry["resource"] for entry in bundle.get("entry", [])]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return found


def codings(data):
    if isinstance(data, dict):
        if "system" in data and "code" in data:
            yield data["system"]
        for value in data.values():
            yield from codings(value)
    elif isinstance(data, list):
        for item in data:
            yield from codings(item)


def test_every_resource_the_api_returns_for_the_demo_clinic_is_valid(
    client, make_user, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.FHIR_CANONICAL_BASE = BASE
    settings.FHIR_EXPORT_ROOT = tmp_path
    call_command("seed_demo", force=True, stdout=StringIO())
    client.force_login(make_user("physician"))

    statement = get_valid(client, f"{BASE}/metadata")
    assert statement["resourceType"] == "CapabilityStatement"

    patients = pages(client, f"{BASE}/Patient?_count=3")
    assert len(patients) == Patient.objects.count() >= 8
    every = []
    for patient in patients:
        resources = pages(client, f"{BASE}/Patient/{patient['id']}/$everything?_count=50")
        assert resources[0] == patient
        assert len(resources) == len({(r["resourceType"], r["id"]) for r in resources})
        every += resources
    by_type = {name: sum(r["resourceType"] == name for r in every) for name in compartment.BUILDERS}
    assert by_type["Observation"] > 100  # weights, heights, labs, visits' measures and TIS

    ours = {system for system in codings(every) if system.startswith(f"{BASE}/CodeSystem/")}
    assert ours  # the measures' local codes
    for system in sorted(ours):
        assert get_valid(client, system)["resourceType"] == "CodeSystem"

    monkeypatch.setitem(bulk_export_build.app.conf, "task_always_eager", True)
    with django_capture_on_commit_callbacks(execute=True):
        kicked_off = client.get("/fhir/$export", HTTP_PREFER="respond-async")
    manifest = json.loads(client.get(kicked_off["Content-Location"].removeprefix("http://testserver")).content)
    assert manifest["error"] == []
    exported = {}
    for item in manifest["output"]:
        response = client.get(item["url"].removeprefix("http://testserver"))
        content = b"".join(response.streaming_content).decode().splitlines()
        for line in content:
            MODELS[item["type"]].model_validate_json(line)
        exported[item["type"]] = len(content)
    # The export holds what $everything served, each shared resource once.
    assert exported == {name: len({r["id"] for r in every if r["resourceType"] == name}) for name in exported}
    assert set(exported) == {name for name, count in by_type.items() if count}
