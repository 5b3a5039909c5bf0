from django.urls import path

from .views import courses, records, reminders

app_name = "scheduling"

urlpatterns = [
    path("week/", courses.week_view, name="week"),
    path("unit/", courses.unit_settings_edit, name="unit_settings"),
    path("calendar.ics", courses.calendar_feed, name="calendar_feed"),
    # The secret is the whole credential; log lines show it as [redacted] (accounts.log_redaction).
    path("calendar/<str:secret>.ics", courses.calendar_feed_link, name="calendar_feed_link"),
    path("orders/<uuid:order_uuid>/course/new/", courses.course_create, name="course_create"),
    path("courses/<uuid:course_uuid>/", courses.course_detail, name="course_detail"),
    path("sessions/<uuid:session_uuid>/move/", courses.session_move, name="session_move"),
    path("sessions/<uuid:session_uuid>/status/", courses.session_status, name="session_status"),
    path("sessions/<uuid:session_uuid>/", records.session_detail, name="session_detail"),
    path("sessions/<uuid:session_uuid>/record/", records.record_edit, name="record_edit"),
    path("sessions/<uuid:session_uuid>/record/<slug:part>/add/", records.record_add_part, name="record_add_part"),
    path("sessions/<uuid:session_uuid>/record/complete/", records.record_complete, name="record_complete"),
    path("sessions/<uuid:session_uuid>/record/entries/<uuid:entry_uuid>/void/", records.entry_void, name="entry_void"),
    path("inbox/", reminders.inbox, name="inbox"),
    path(
        "reminders/<uuid:reminder_uuid>/email/<slug:action>/",
        reminders.reminder_email_action,
        name="reminder_email_action",
    ),
    path("reminders/<uuid:reminder_uuid>/<slug:action>/", reminders.reminder_action, name="reminder_action"),
]
