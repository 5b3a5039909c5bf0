from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from ninja import NinjaAPI
from ninja.security import django_auth

from patients.api import router as patients_router
from patients.views import healthz

api = NinjaAPI(title="IVIG Clinic API", version="1", urls_namespace="api-v1", auth=django_auth, docs_url="/docs")
api.add_router("", patients_router)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="patients:list"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("patients/", include("patients.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
