from django.urls import path

from . import views

app_name = "risk"

urlpatterns = [
    path("flags/<uuid:flag_uuid>/acknowledge/", views.flag_acknowledge, name="acknowledge"),
]
