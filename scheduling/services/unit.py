"""The unit's settings: its chairs, opening hours, set-up time, reminder lead time and ladder tolerance."""

from __future__ import annotations

from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.audit import audited_save
from accounts.transactions import service

from ..models import InfusionSession, UnitSettings
from .booking import clinic_zone, lock_unit

UNIT_FIELDS = ("chairs", "opens_at", "closes_at", "setup_minutes", "upcoming_reminder_days", "ladder_tolerance_minutes")


@service
def unit_settings_update(*, by, now: datetime | None = None, **fields) -> UnitSettings:
    """Change the unit's chairs, opening hours, set-up time, reminder lead time or ladder tolerance.

    Each value is held to its model field's validators. Sessions already booked keep their
    expected minutes. Fewer chairs are refused while an
    open session from today on sits in a chair that would go.
    """
    unknown = set(fields) - set(UNIT_FIELDS)
    if unknown:
        raise TypeError(f"unit_settings_update: unknown fields {sorted(unknown)}")
    now = now or timezone.now()
    unit = lock_unit()
    for name, value in fields.items():
        setattr(unit, name, value)
    if unit.closes_at <= unit.opens_at:
        raise ValidationError({"closes_at": "Closing time must be after opening time."})
    unit.full_clean(exclude=[name for name in UNIT_FIELDS if name not in fields], validate_constraints=False)
    start_of_today = datetime.combine(timezone.localdate(now), time(0), tzinfo=clinic_zone())
    stranded = InfusionSession.objects.open().filter(planned_start__gte=start_of_today, chair__gt=unit.chairs)
    first = stranded.order_by("planned_start").first()
    if first is not None:
        raise ValidationError(
            {
                "chairs": f"{stranded.count()} open sessions are booked in chairs above {unit.chairs} "
                f"(the first {first.planned_start.astimezone(clinic_zone()):%a %Y-%m-%d %H:%M} in chair "
                f"{first.chair}); move them first."
            }
        )
    changed = ", ".join(f"{name} {value}" for name, value in fields.items())
    audited_save(unit, by=by, reason=f"edited: {changed}")
    return unit
