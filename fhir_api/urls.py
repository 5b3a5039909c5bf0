from django.urls import path, re_path

from . import operations, views

# FHIR ids: [A-Za-z0-9-.]{1,64}; resource types: a capital letter, then letters. The operations
# ($ in the path) come first: the generic patterns do not take a "$" and would answer 404.
urlpatterns = [
    path("", views.system, name="fhir-system"),
    path("metadata", views.metadata, name="fhir-metadata"),
    path("$export", operations.export, name="fhir-export"),
    path("Patient/$export", operations.export, name="fhir-export-patients"),
    path("$export-status/<uuid:job_uuid>", operations.export_status, name="fhir-export-status"),
    path("$export-files/<uuid:job_uuid>/<slug:resource_type>.ndjson", operations.export_file, name="fhir-export-file"),
    re_path(
        r"^Patient/(?P<resource_id>[A-Za-z0-9\-.]{1,64})/\$everything$", operations.everything, name="fhir-everything"
    ),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]+)$", views.search, name="fhir-search"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})$", views.read, name="fhir-read"),
    re_path(r"^(?P<path>.*)$", views.unknown, name="fhir-unknown"),
]
