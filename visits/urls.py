from django.urls import path

from . import report_views, views

app_name = "visits"

urlpatterns = [
    path("patient/<uuid:patient_uuid>/", views.patient_visits, name="patient_visits"),
    path("patient/<uuid:patient_uuid>/new/", views.visit_create, name="create"),
    path("cohort/", report_views.cohort_report, name="cohort"),
    path("cohort.csv", report_views.cohort_csv, name="cohort_csv"),
    path("<uuid:visit_uuid>/", views.visit_detail, name="detail"),
    path("<uuid:visit_uuid>/edit/", views.visit_edit, name="edit"),
    path("<uuid:visit_uuid>/baseline/", views.visit_set_baseline, name="set_baseline"),
]
