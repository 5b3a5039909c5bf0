"""The FHIR R4 (4.0.1) API under /fhir/: read and search of Patient, Observation,
MedicationRequest and MedicationAdministration, the local measures CodeSystem and the
CapabilityStatement.

Why this package is not called ``fhir``: ``fhir.resources``, the library that builds and
validates every resource here, installs a regular package named ``fhir``; an app of that name
at the project root would hide it. The Django app label is still ``fhir`` and the URLs /fhir/.

Why the R4B models of ``fhir.resources``: its default models are R5, which is not what an R4
EHR reads. It ships R4B (4.3.0) models and no R4 ones. R4B changed the R4 resources around
medicinal-product definitions, evidence, subscriptions and a few datatypes (CodeableReference
is R4B/R5 only); Patient, Observation, Bundle, CapabilityStatement, OperationOutcome and
CodeSystem read and write the same JSON in R4 4.0.1 and R4B for every element we emit. We use
no element that R4B added, so we declare ``fhirVersion`` "4.0.1". A resource added later
must be checked against R4 4.0.1 before it is served from an R4B model. MedicationRequest,
MedicationAdministration and Medication (contained) were: R4B left them as in R4 (medication[x],
not R5's CodeableReference; effective[x], statusReason, Dosage.doseAndRate, Medication.batch).
"""
