from django.urls import path

from . import views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_create, name="create"),
    path("<uuid:patient_uuid>/edit/", views.patient_edit, name="edit"),
    path("<uuid:patient_uuid>/history/", views.patient_history, name="history"),
    path("<uuid:patient_uuid>/remove/", views.patient_archive, name="archive"),
    path("<uuid:patient_uuid>/<slug:kind_slug>/add/", views.record_add, name="record_add"),
    path("<uuid:patient_uuid>/<slug:kind_slug>/<uuid:record_uuid>/edit/", views.record_edit, name="record_edit"),
    path("<uuid:patient_uuid>/<slug:kind_slug>/<uuid:record_uuid>/delete/", views.record_delete, name="record_delete"),
]
