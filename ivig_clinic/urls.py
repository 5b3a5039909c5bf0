from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.core.exceptions import RequestDataTooBig
from django.urls import include, path
from ninja import NinjaAPI
from ninja.errors import ValidationError
from ninja.security import django_auth

from accounts.auth import ApiTokenAuth
from clinic import urls as clinic_urls
from dosing.api import router as dosing_router
from fhir_api import views as fhir_views
from pathway.api import router as pathway_router
from patients import urls as patients_urls
from patients.api import router as patients_router
from patients.api_common import DecimalJsonParser, invalid_input_body
from patients.views import favicon, healthz
from scheduling.api import router as scheduling_router
from visits import urls as visits_urls
from visits.api import router as visits_router

# Scripts authenticate with a per-user token (Authorization: Bearer ...); the browser with its session.
api = NinjaAPI(
    title="IVIG Clinic API",
    version="1",
    urls_namespace="api-v1",
    auth=[ApiTokenAuth(), django_auth],
    docs_url="/docs",
    parser=DecimalJsonParser(),
)


@api.exception_handler(ValidationError)
def invalid_input(request, exc):
    # Every 422 of every route in the one shape the README gives.
    return api.create_response(request, invalid_input_body(exc), status=422)


@api.exception_handler(RequestDataTooBig)
def body_too_large(request, exc):
    # Django would answer its HTML 400 page; a script reads JSON like every other API error.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    detail = f"The request body is larger than this API accepts ({limit} bytes)."
    return api.create_response(request, {"detail": detail, "errors": [{"field": None, "message": detail}]}, status=413)


api.add_router("", patients_router)
api.add_router("", dosing_router)
api.add_router("", visits_router)
api.add_router("", scheduling_router)
api.add_router("", pathway_router)

urlpatterns = [
    *clinic_urls.home,
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/", include("accounts.urls")),
    # The patient's chart page and trend chart compose several apps: they live in clinic/ and
    # keep the names of the pages they belong to.
    path("patients/", include((patients_urls.urlpatterns + clinic_urls.patient_pages, "patients"))),
    path("dosing/", include("dosing.urls")),
    path("visits/", include((visits_urls.urlpatterns + clinic_urls.visit_pages, "visits"))),
    path("risk/", include("risk.urls")),
    path("scheduling/", include("scheduling.urls")),
    path("pathway/", include("pathway.urls")),
    path("api/v1/", api.urls),
    # The FHIR base itself, without the slash, as EHRs write it: a transaction Bundle is POSTed to it.
    path("fhir", fhir_views.system, name="fhir-base"),
    path("fhir/", include("fhir_api.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico whatever the page says; answer from the app's own static files.
    path("favicon.ico", favicon, name="favicon"),
]
