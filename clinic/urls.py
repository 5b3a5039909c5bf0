"""The clinic's composed pages. The wiring (ivig_clinic/urls.py) mounts them under the namespaces
their pages belong to, so their names stay what templates and models reverse: "home",
"patients:detail", "visits:trend"."""

from django.urls import path

from . import views

home = [path("", views.home, name="home")]
patient_pages = [path("<uuid:patient_uuid>/", views.patient_detail, name="detail")]
visit_pages = [path("patient/<uuid:patient_uuid>/trend.svg", views.trend_chart, name="trend")]
