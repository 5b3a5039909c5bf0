from django.urls import path

from . import views

app_name = "pathway"

urlpatterns = [
    path("courses/<uuid:course_uuid>/", views.course_detail, name="course_detail"),
    path("courses/<uuid:course_uuid>/edit/", views.course_edit, name="course_edit"),
    path("courses/<uuid:course_uuid>/review/", views.review, name="review"),
    path("reviews/<uuid:review_uuid>/void/", views.review_void_view, name="review_void"),
]
