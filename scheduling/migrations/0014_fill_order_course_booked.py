"""Mark every order a course was already booked from (DoseOrder.course_booked_at, dosing 0016)
with its first course's creation time, so dosing's "to schedule" list, which now reads the mark,
lists the same orders as before. Here, not in dosing, as the courses are scheduling's."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    DoseOrder = apps.get_model("dosing", "DoseOrder")
    Course = apps.get_model("scheduling", "Course")
    first_booked = Course.objects.filter(order=OuterRef("pk")).order_by("created_at").values("created_at")[:1]
    DoseOrder.objects.filter(courses__isnull=False, course_booked_at__isnull=True).distinct().update(
        course_booked_at=Subquery(first_booked)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("dosing", "0016_dose_order_course_booked"),
        ("scheduling", "0013_session_chair_start_index"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
