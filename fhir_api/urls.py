from django.urls import path, re_path

from . import views

# FHIR ids: [A-Za-z0-9-.]{1,64}; resource types: a capital letter, then letters.
urlpatterns = [
    path("", views.system, name="fhir-system"),
    path("metadata", views.metadata, name="fhir-metadata"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]+)$", views.search, name="fhir-search"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})$", views.read, name="fhir-read"),
    re_path(r"^(?P<path>.*)$", views.unknown, name="fhir-unknown"),
]
