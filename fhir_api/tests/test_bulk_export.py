"""The bulk $export (Bulk Data Access IG v2): kick-off, status URL, the NDJSON files, delete, expiry."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fhir_api import compartment, exact_json
from fhir_api.models import BulkExportJob, ExportStatus
from fhir_api.resources import MODELS
from fhir_api.tasks import bulk_export_build, bulk_exports_expire
from patients.tests.factories import LabResultFactory, MeasurementFactory, PatientFactory

from .conftest import body, parsed

pytestmark = pytest.mark.django_db
ASYNC = {"HTTP_PREFER": "respond-async"}


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path):
    settings.FHIR_EXPORT_ROOT = tmp_path / "exports"
    return settings.FHIR_EXPORT_ROOT


@pytest.fixture(autouse=True)
def eager(monkeypatch):
    monkeypatch.setitem(bulk_export_build.app.conf, "task_always_eager", True)  # .delay() runs here


@pytest.fixture
def clinic():
    """Two patients: one with a weight, a height and a lab, one with a lab."""
    ann, bob = PatientFactory(), PatientFactory()
    MeasurementFactory(patient=ann, weight_kg=Decimal("70.0"), height_cm=Decimal("170"))
    LabResultFactory(patient=ann, test="creatinine", value=Decimal("0.90"))
    LabResultFactory(patient=bob, test="creatinine", value=Decimal("1.10"))
    return ann, bob


@pytest.fixture
def physician_client(client, make_user):
    client.force_login(make_user("physician"))
    return client


@pytest.fixture
def kick_off(django_capture_on_commit_callbacks):
    """GET $export with Prefer: respond-async; the build runs when the request commits (eager)."""

    def run(client, path="/fhir/$export", run_build=True, headers=None, **params):
        with django_capture_on_commit_callbacks(execute=run_build):
            return client.get(path, params, **ASYNC, **(headers or {}))

    return run


def local(url: str) -> str:
    return url.removeprefix("http://testserver")


def manifest_of(client, kick_off_response) -> dict:
    response = client.get(local(kick_off_response["Content-Location"]))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def lines(client, url: str) -> list[str]:
    response = client.get(local(url), HTTP_ACCEPT="application/fhir+ndjson")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    text = b"".join(response.streaming_content).decode()
    assert text.endswith("\n")
    return text.removesuffix("\n").split("\n")


def expected_types(patients) -> set[str]:
    return {name for name, build in compartment.BUILDERS.items() if any(build(p) for p in patients)}


# --------------------------------------------------------------------------- kick-off


def test_kick_off_answers_202_with_the_status_url(physician_client, clinic, kick_off):
    response = kick_off(physician_client, run_build=False)

    assert response.status_code == 202
    job = BulkExportJob.objects.get()
    assert response["Content-Location"] == f"http://testserver/fhir/$export-status/{job.uuid}"
    assert job.status == ExportStatus.QUEUED and job.types == list(compartment.BUILDERS)
    parsed(response)  # an OperationOutcome saying it is queued
    status = physician_client.get(local(response["Content-Location"]))
    assert status.status_code == 202
    assert status["X-Progress"] == "Queued"
    assert job.history.get().history_change_reason == "export requested: every type"


def test_without_prefer_respond_async_is_400_and_nothing_is_queued(physician_client, clinic):
    response = physician_client.get("/fhir/$export")
    assert response.status_code == 400
    assert "Prefer: respond-async" in body(response)["issue"][0]["diagnostics"]
    assert not BulkExportJob.objects.exists()


@pytest.mark.parametrize("role", ["pharmacist", "nurse", "viewer"])
def test_other_roles_are_403(client, token_for, role, kick_off):
    response = kick_off(client, headers={"HTTP_AUTHORIZATION": f"Bearer {token_for(role)}"})
    assert response.status_code == 403
    assert body(response)["issue"][0]["code"] == "forbidden"
    assert not BulkExportJob.objects.exists()


def test_a_read_only_token_of_a_physician_may_kick_off(client, token_for, clinic, kick_off):
    secret = token_for("physician", scope="read-only")
    with_token = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    response = client.get("/fhir/$export", **ASYNC, **with_token)
    assert response.status_code == 202
    assert client.get("/fhir/$export", **with_token).status_code == 400  # still needs Prefer


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"_type": "Patient,Encounter"}, "_type"),
        ({"_outputFormat": "application/fhir+json"}, "_outputFormat"),
        ({"_since": "2026-11-01"}, "_since"),  # an instant has a time and a zone
        ({"_since": "2026-02-30T10:00:00Z"}, "_since"),
        ({"_typeFilter": "Observation?code=1234"}, "_typeFilter"),
    ],
)
def test_bad_parameters_are_400(physician_client, kick_off, params, param):
    response = kick_off(physician_client, **params)
    assert response.status_code == 400
    assert body(response)["issue"][0]["diagnostics"].startswith(f"{param}:")
    assert not BulkExportJob.objects.exists()


def test_lenient_handling_ignores_an_unknown_parameter(physician_client, clinic):
    response = physician_client.get(
        "/fhir/$export", {"_typeFilter": "x"}, HTTP_PREFER="respond-async, handling=lenient"
    )
    assert response.status_code == 202


# --------------------------------------------------------------------------- the files


def test_the_manifest_lists_one_file_per_type_and_every_line_validates(physician_client, clinic, kick_off):
    response = kick_off(physician_client, path="/fhir/Patient/$export")

    manifest = manifest_of(physician_client, response)
    job = BulkExportJob.objects.get()
    assert manifest["transactionTime"] == job.transaction_time.isoformat()
    assert manifest["request"] == "http://testserver/fhir/Patient/$export"
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    assert {item["type"] for item in manifest["output"]} == expected_types(clinic) >= {"Patient", "Observation"}
    counts = {item["type"]: item["count"] for item in manifest["output"]}
    assert counts["Patient"] == 2 and counts["Observation"] == 4  # Ann: weight, height, lab; Bob: lab
    for item in manifest["output"]:
        assert item["url"] == f"http://testserver/fhir/$export-files/{job.uuid}/{item['type']}.ndjson"
        found = lines(physician_client, item["url"])
        assert len(found) == item["count"]
        for line in found:
            resource = MODELS[item["type"]].model_validate_json(line)
            assert resource.get_resource_type() == item["type"]
            assert line == exact_json.dumps(json.loads(line, parse_float=Decimal))  # compact, exact, one line
    # Exact decimals: the lab went out as stored, not through a float.
    observations = next(item["url"] for item in manifest["output"] if item["type"] == "Observation")
    assert any('"value":0.9,' in line for line in lines(physician_client, observations))


def test_every_type_of_the_compartment_is_exported_and_validates(physician_client, clinic, kick_off):
    # Grows with compartment.BUILDERS: every type that has a resource for these patients gets a file.
    manifest = manifest_of(physician_client, kick_off(physician_client))
    exported = {item["type"]: item for item in manifest["output"]}
    assert set(exported) == expected_types(clinic)
    for name, item in exported.items():
        assert item["count"] == len({r["id"] for p in clinic for r in compartment.BUILDERS[name](p)})
        for line in lines(physician_client, item["url"]):
            MODELS[name].model_validate_json(line)


def test_type_filters_the_files(physician_client, clinic, kick_off):
    manifest = manifest_of(physician_client, kick_off(physician_client, _type="Patient"))
    assert [item["type"] for item in manifest["output"]] == ["Patient"]


def test_since_leaves_out_patients_not_changed_since(physician_client, clinic, kick_off):
    later = (timezone.now() + timedelta(hours=1)).replace(microsecond=0).isoformat()
    manifest = manifest_of(physician_client, kick_off(physician_client, _since=later))
    types = {item["type"] for item in manifest["output"]}
    assert "Patient" not in types  # both changed before it
    assert "Observation" in types  # no meta.lastUpdated: always included
    earlier = (timezone.now() - timedelta(hours=1)).replace(microsecond=0).isoformat()
    manifest = manifest_of(physician_client, kick_off(physician_client, _since=earlier))
    assert {item["type"]: item["count"] for item in manifest["output"]}["Patient"] == 2


def test_an_unencoded_plus_in_the_output_format_is_understood(physician_client, clinic, kick_off):
    response = physician_client.get("/fhir/$export?_outputFormat=application/fhir+ndjson", **ASYNC)
    assert response.status_code == 202


def test_a_resource_shared_by_patients_is_written_once(physician_client, clinic, kick_off, monkeypatch):
    chair = {"resourceType": "Location", "id": "chair-1", "name": "Chair 1"}
    monkeypatch.setitem(compartment.BUILDERS, "Location", lambda patient: [chair])
    manifest = manifest_of(physician_client, kick_off(physician_client))
    location = next(item for item in manifest["output"] if item["type"] == "Location")
    assert location["count"] == 1
    assert lines(physician_client, location["url"]) == ['{"resourceType":"Location","id":"chair-1","name":"Chair 1"}']


def test_a_patient_whose_data_fails_is_in_the_error_file(physician_client, clinic, kick_off, monkeypatch):
    ann, bob = clinic
    build = compartment.BUILDERS["Observation"]

    def failing(patient):
        if patient == bob:
            raise ValueError("valueQuantity: not a number")
        return build(patient)

    monkeypatch.setitem(compartment.BUILDERS, "Observation", failing)
    manifest = manifest_of(physician_client, kick_off(physician_client))
    assert {item["type"]: item["count"] for item in manifest["output"]}["Observation"] == 3  # Ann's
    [error] = manifest["error"]
    assert (error["type"], error["count"]) == ("OperationOutcome", 1)
    [line] = lines(physician_client, error["url"])
    outcome = MODELS["OperationOutcome"].model_validate_json(line)
    assert outcome.issue[0].diagnostics == f"Observation of Patient/{bob.uuid} could not be exported: " + (
        "valueQuantity: not a number"
    )


def test_a_failed_export_is_500_and_leaves_no_files(physician_client, clinic, kick_off, monkeypatch, export_root):
    def broken(patient):
        raise RuntimeError("disk full")

    monkeypatch.setitem(compartment.BUILDERS, "Patient", broken)
    response = kick_off(physician_client)
    status = physician_client.get(local(response["Content-Location"]))
    assert status.status_code == 500
    assert body(status)["issue"][0]["code"] == "exception"
    assert "disk full" not in status.content.decode()  # the cause is in the log, not sent out
    parsed(status)
    assert list(export_root.iterdir()) == []


# --------------------------------------------------------------------------- who may read, delete, expiry


def test_another_user_cannot_read_the_status_or_the_files(client, make_user, physician_client, clinic, kick_off):
    manifest = manifest_of(physician_client, response := kick_off(physician_client))
    urls = [response["Content-Location"], *(item["url"] for item in manifest["output"])]
    client.force_login(make_user("physician"))  # even one allowed to export: not their export
    for url in urls:
        assert client.get(local(url)).status_code == 404
    client.force_login(make_user("viewer"))
    for url in urls:
        assert client.get(local(url)).status_code == 403
    client.logout()
    for url in urls:
        assert client.get(local(url)).status_code == 401


def test_each_download_is_audited(physician_client, clinic, kick_off):
    manifest = manifest_of(physician_client, kick_off(physician_client))
    patients = next(item["url"] for item in manifest["output"] if item["type"] == "Patient")
    assert physician_client.head(local(patients)).status_code == 200  # sends no data: not a download
    lines(physician_client, patients)
    job = BulkExportJob.objects.get()
    assert job.downloads == 1
    latest = job.history.order_by("-history_id").first()
    assert latest.history_change_reason == "downloaded Patient.ndjson"
    assert latest.history_user == job.requested_by


def test_delete_removes_the_files_and_the_status(physician_client, clinic, kick_off, export_root):
    response = kick_off(physician_client)
    manifest = manifest_of(physician_client, response)
    status_url = local(response["Content-Location"])
    assert any(export_root.iterdir())

    assert physician_client.delete(status_url).status_code == 202

    assert list(export_root.iterdir()) == []
    assert physician_client.get(status_url).status_code == 404
    assert physician_client.get(local(manifest["output"][0]["url"])).status_code == 404
    assert BulkExportJob.objects.get().status == ExportStatus.DELETED  # the row stays for the audit trail
    assert physician_client.delete(status_url).status_code == 404


def test_a_read_only_token_may_not_delete(client, token_for, clinic, kick_off):
    secret = token_for("physician", scope="read-only")
    response = kick_off(client, headers={"HTTP_AUTHORIZATION": f"Bearer {secret}"})
    status_url = local(response["Content-Location"])
    assert client.delete(status_url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403
    assert BulkExportJob.objects.get().status == ExportStatus.COMPLETED


def test_an_export_deleted_before_it_ran_writes_nothing(physician_client, clinic, kick_off, export_root):
    response = kick_off(physician_client, run_build=False)
    assert physician_client.delete(local(response["Content-Location"])).status_code == 202
    job = BulkExportJob.objects.get()
    assert bulk_export_build.apply(args=[job.pk]).get() == ExportStatus.DELETED
    assert not export_root.exists() or list(export_root.iterdir()) == []


def test_running_the_build_again_changes_nothing(physician_client, clinic, kick_off):
    kick_off(physician_client)
    job = BulkExportJob.objects.get()
    assert bulk_export_build.apply(args=[job.pk]).get() == ExportStatus.COMPLETED
    assert BulkExportJob.objects.get().history.count() == job.history.count()


def test_files_expire_after_the_retention(client, token_for, clinic, kick_off, export_root, settings, time_machine):
    settings.FHIR_EXPORT_RETENTION_HOURS = 24
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_for('physician')}"}  # a session would time out
    response = kick_off(client, headers=auth)
    job = BulkExportJob.objects.get()
    assert response.status_code == 202

    time_machine.move_to(job.completed_at + timedelta(hours=23))
    assert bulk_exports_expire.apply().get() == {"expired": 0, "abandoned": 0}
    assert client.get(local(response["Content-Location"]), **auth).status_code == 200

    time_machine.move_to(job.completed_at + timedelta(hours=24, minutes=1))
    assert bulk_exports_expire.apply().get() == {"expired": 1, "abandoned": 0}
    assert list(export_root.iterdir()) == []
    assert client.get(local(response["Content-Location"]), **auth).status_code == 404
    assert bulk_exports_expire.apply().get() == {"expired": 0, "abandoned": 0}


def test_an_export_never_built_is_given_up(physician_client, clinic, kick_off, time_machine):
    kick_off(physician_client, run_build=False)
    time_machine.move_to(timezone.now() + timedelta(hours=25))
    assert bulk_exports_expire.apply().get() == {"expired": 0, "abandoned": 1}
    assert BulkExportJob.objects.get().status == ExportStatus.EXPIRED


@pytest.mark.parametrize("role", ["pharmacist", "nurse", "viewer"])
def test_other_roles_cannot_delete_an_export(client, make_user, physician_client, clinic, kick_off, role):
    status_url = local(kick_off(physician_client)["Content-Location"])
    client.force_login(make_user(role))
    response = client.delete(status_url)
    assert response.status_code == 403
    assert body(response)["issue"][0]["code"] == "forbidden"
    assert BulkExportJob.objects.get().status == ExportStatus.COMPLETED
