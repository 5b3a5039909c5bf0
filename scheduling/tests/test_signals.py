"""scheduling's hooks onto risk: a session saved recomputes its patient's flags (risk.signals.watch),
once per service transaction however many it saves (accounts.transactions)."""

from datetime import date, time

import pytest

from dosing.services.orders import dose_order_verify
from scheduling.models import InfusionSession
from scheduling.services.courses import course_plan

TODAY = date(2026, 11, 22)


@pytest.mark.django_db
def test_booking_an_open_ended_course_recomputes_the_patient_once(make_order, make_user, flag_recomputes, frozen_today):
    order = dose_order_verify(by=make_user("pharmacist"), order=make_order())
    flag_recomputes.clear()
    course = course_plan(by=make_user("nurse"), order=order, first_day=date(2026, 11, 23),
                         start_time=time(9, 0), chair=1, cycles=None, today=TODAY)  # fmt: skip
    assert InfusionSession.objects.filter(cycle__course=course).count() > 10
    assert flag_recomputes == [order.patient_id]
