"""Every resource of one patient, by type: what `Patient/{id}/$everything` and the bulk `$export`
walk. A resource type that belongs to a patient adds its builder to BUILDERS, and both follow."""

from collections.abc import Callable

from django.conf import settings

from patients.models import Patient

from . import clinical, medication, resources


def mrn_system() -> str:
    return settings.FHIR_MRN_SYSTEM


def local_system() -> str:
    return resources.local_code_system_url(settings.FHIR_CANONICAL_BASE)


def _patient(patient: Patient) -> list[dict]:
    return [resources.patient_resource(patient, mrn_system=mrn_system())]


def _observations(patient: Patient) -> list[dict]:
    return [row.resource for row in resources.observation_rows(patient, local_system=local_system())]


def _medication_requests(patient: Patient) -> list[dict]:
    return [row.resource for row in medication.medication_request_rows(patient, base_url=settings.FHIR_CANONICAL_BASE)]


def _medication_administrations(patient: Patient) -> list[dict]:
    return [row.resource for row in medication.medication_administration_rows(patient)]


def _flags(patient: Patient) -> list[dict]:
    return [row.resource for row in clinical.flag_rows(patient, base_url=settings.FHIR_CANONICAL_BASE)]


def _adverse_events(patient: Patient) -> list[dict]:
    return [row.resource for row in clinical.reaction_rows(patient, base_url=settings.FHIR_CANONICAL_BASE)]


def _appointments(patient: Patient) -> list[dict]:
    return [row.resource for row in clinical.session_rows(patient)]


# Type -> the patient's resources of that type, each already validated, in a stable order.
BUILDERS: dict[str, Callable[[Patient], list[dict]]] = {
    "Patient": _patient,
    "Observation": _observations,
    "MedicationRequest": _medication_requests,
    "MedicationAdministration": _medication_administrations,
    "Flag": _flags,
    "AdverseEvent": _adverse_events,
    "Appointment": _appointments,
    # Not in the patient's compartment by FHIR's definition, but what its Appointments point at:
    # the chairs they use and the unit those are part of, so an export resolves every reference.
    "Location": clinical.patient_locations,
}


def patient_resources(patient: Patient) -> dict[str, list[dict]]:
    return {resource_type: build(patient) for resource_type, build in BUILDERS.items()}
