from datetime import date, timedelta

import pytest
from django.urls import reverse

from accounts.transactions import service
from dosing.services.orders import dose_order_verify
from dosing.tests.factories import DoseOrderFactory
from patients.tests.factories import MeasurementFactory, MedicationFactory, PatientFactory, RiskFactorFactory
from risk.models import RiskFlag
from scheduling.models import SessionStatus
from scheduling.tests.factories import (
    CourseFactory,
    InfusionRecordFactory,
    InfusionSessionFactory,
    ReminderFactory,
    local,
)

URL = reverse("home")


@service
def _unit(size: int) -> None:
    """`size` verified orders to schedule, and `size` sessions today in each list of the unit.

    Built in one service transaction, as one service would write them: each patient's flags and
    reminders are worked out once at its end, not again after every row a factory saves (five times
    a row: 80 % of the time of the 30-row clinics). The rows, and so what the page reads, are the same."""
    for _ in range(size):
        DoseOrderFactory(verified=True)
        InfusionSessionFactory(planned_start=local(12, 30), status=SessionStatus.CONFIRMED)  # due and upcoming
        InfusionRecordFactory(session__status=SessionStatus.IN_PROGRESS, session__planned_start=local(8))
        InfusionRecordFactory(
            session__status=SessionStatus.IN_PROGRESS, session__planned_start=local(7), stopped_at=local(9)
        )
        done = InfusionRecordFactory(session__planned_start=local(6), stopped_at=local(10), completed_at=local(10))
        _review(done.session)


def _review(session, kind="infusion_reaction", **fields):
    return ReminderFactory(
        kind=kind,
        subject_key=f"{kind}:session-{session.pk}:2026-11-22",
        patient=session.patient,
        session=session,
        role="physician",
        **{"message": "Reaction at the infusion of 2026-11-22: moderate headache (rate slowed)."} | fields,
    )


@service
def _clinic(size: int) -> None:
    """`size` patients at thrombosis risk, a third of them on a nephrotoxic drug (one service
    transaction, as _unit)."""
    for index in range(size):
        patient = PatientFactory(date_of_birth=date(1950 if index % 2 else 1980, 1, 1))
        RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=date(2024, 1, 1))
        if index % 3 == 0:
            MedicationFactory(patient=patient, category="nephrotoxic", name="Ibuprofen", daily_dose_mg=None)


@pytest.mark.django_db
def test_counts_lists_and_links(role_client, make_order, make_user):
    _clinic(3)
    pending = make_order()
    client = role_client("nurse")
    response = client.get(URL, {"section": "orders"})
    assert response.status_code == 200
    board = response.context["board"]
    assert board.counts["high"] == 3 and board.counts["patients_at_risk"] == 3
    assert board.counts["orders_awaiting"] == 1 and board.orders_awaiting == [pending]
    assert pending.get_absolute_url() in response.content.decode()
    html = client.get(URL, {"section": "unacknowledged"}).content.decode()
    assert "History of venous or arterial thrombosis" in html and "Acknowledge" in html
    dose_order_verify(by=make_user("pharmacist"), order=pending)
    assert client.get(URL).context["board"].counts["orders_awaiting"] == 0


@pytest.mark.django_db
def test_most_severe_patient_first(role_client):
    moderate = PatientFactory(date_of_birth=date(1950, 1, 1), family_name="Aaron")  # age only: moderate
    high = PatientFactory(family_name="Zimmer")
    RiskFactorFactory(patient=high, kind="arterial_thrombosis")
    patients = [patient for patient, _ in role_client("viewer").get(URL).context["board"].patients]
    assert patients.index(high) < patients.index(moderate)


@pytest.mark.django_db
@pytest.mark.parametrize(("params", "expected_codes"), [
    ({"severity": "high"}, {"thrombosis_history"}),
    ({"category": "renal"}, {"renal_nephrotoxic_drugs"}),
    ({"severity": "moderate", "category": "thrombosis"}, set()),
])  # fmt: skip
def test_filters_by_severity_and_category(role_client, params, expected_codes):
    patient = PatientFactory()
    RiskFactorFactory(patient=patient, kind="venous_thrombosis")
    MedicationFactory(patient=patient, category="nephrotoxic", name="Gentamicin", daily_dose_mg=None)
    board = role_client("viewer").get(URL, params).context["board"]
    assert {flag.code for _, flags in board.patients for flag in flags} == expected_codes


@pytest.mark.django_db
def test_bad_filter_is_ignored_not_an_error(role_client):
    assert role_client("viewer").get(URL, {"severity": "catastrophic"}).status_code == 200


@pytest.mark.django_db
def test_confirmed_deterioration_is_listed(role_client, patient, make_user):
    from visits.services import visit_record

    doctor = make_user("physician")
    for day, extramuscular in ((date(2026, 1, 5), "2"), (date(2026, 2, 5), "4.5"), (date(2026, 3, 5), "4.2")):
        visit_record(
            by=doctor,
            patient=patient,
            visit_date=day,
            is_baseline=day.month == 1,
            extramuscular_global_cm=extramuscular,
            today=date(2026, 11, 22),
        )
    board = role_client("viewer").get(URL).context["board"]
    assert [flag.patient for flag in board.deteriorations] == [patient]


@pytest.mark.django_db
def test_query_count_does_not_depend_on_clinic_size(role_client, django_assert_num_queries, make_order, frozen_today):
    make_order()
    client = role_client("pharmacist")
    _clinic(3)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _unit(1)
    client.get(URL)  # the first request after login renews the session (a write); later ones read only
    with CaptureQueriesContext(connection) as small:
        client.get(URL)
    # session, user, permissions and roles, inbox badge (4) + the pharmacist's home (4): the site's
    # review notice, every figure of the sections not listed in one, orders awaiting, to prepare.
    # Every role at two sizes: test_home.py.
    assert len(small.captured_queries) == 8, [query["sql"][:80] for query in small.captured_queries]
    _clinic(25)
    _unit(3)
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(URL)
    assert RiskFlag.objects.active().values("patient").distinct().count() >= 28


@pytest.mark.django_db
def test_no_role_403_and_wrong_method_405(role_client):
    assert role_client(None).get(URL).status_code == 403
    assert role_client("viewer").post(URL).status_code == 405


@pytest.mark.django_db
def test_a_capped_list_says_how_many_there_are_and_where_the_rest_are(role_client, monkeypatch):
    from clinic import dashboard as module

    monkeypatch.setattr(module, "ROWS_PER_LIST", 2)
    _clinic(5)  # five unacknowledged thrombosis flags
    response = role_client("pharmacist").get(URL, {"section": "unacknowledged"})
    board = response.context["board"]
    assert len(board.unacknowledged) == 2 and board.counts["unacknowledged"] >= 5
    html = response.content.decode()
    assert f"2 of {board.counts['unacknowledged']} shown (the most severe)" in html
    assert "3 of" not in html  # lists not capped say nothing


@pytest.mark.django_db
def test_the_rest_of_a_capped_list_is_linked_only_for_those_who_may_see_it(role_client, make_order, monkeypatch):
    from clinic import dashboard as module

    monkeypatch.setattr(module, "ROWS_PER_LIST", 1)
    for _ in range(2):
        patient = PatientFactory(date_of_birth=date(1980, 1, 1))
        MeasurementFactory(patient=patient, measured_on=date(2026, 11, 20))
        make_order(patient=patient)
    pharmacist = role_client("pharmacist").get(URL).content.decode()
    assert (
        '1 of 2 shown (the oldest); the rest are on <a href="/dosing/orders/?status=pending">the order list</a>'
        in pharmacist
    )


def test_severities_shown_as_not_acknowledged_sort_by_name_as_by_rank():
    """The unacknowledged list orders by the severity column so an index can serve it."""
    from risk import rules

    listed = [severity for severity in rules.SEVERITIES if severity != rules.INFO]
    assert sorted(listed) == listed


@pytest.mark.django_db
def test_today_in_the_unit(role_client, frozen_today):
    """At noon: due now (within the hour, or past and not started), in progress, stopped, completed."""
    due_soon = InfusionSessionFactory(planned_start=local(12, 30), status=SessionStatus.CONFIRMED)
    not_started = InfusionSessionFactory(planned_start=local(9), status=SessionStatus.PLANNED)
    InfusionSessionFactory(planned_start=local(15), status=SessionStatus.CONFIRMED)  # later today
    InfusionSessionFactory(planned_start=local(11), status=SessionStatus.MISSED)
    tomorrow = CourseFactory(first_day=frozen_today + timedelta(days=1))
    InfusionSessionFactory(cycle__course=tomorrow, planned_start=local(0, 30, day=frozen_today + timedelta(days=1)))
    running = InfusionRecordFactory(session__status=SessionStatus.IN_PROGRESS, session__planned_start=local(8))
    stopped = InfusionRecordFactory(
        session__status=SessionStatus.IN_PROGRESS, session__planned_start=local(7), stopped_at=local(9)
    )
    done = InfusionRecordFactory(session__planned_start=local(6), stopped_at=local(10), completed_at=local(10))
    yesterday = CourseFactory(first_day=frozen_today - timedelta(days=1))
    InfusionRecordFactory(
        session__cycle__course=yesterday,
        session__planned_start=local(23, 0, day=frozen_today - timedelta(days=1)),
        completed_at=local(23, 30, day=frozen_today - timedelta(days=1)),
    )
    response = role_client("viewer").get(URL, {"section": "today"})
    groups = {group.key: group for group in response.context["board"].unit_today}
    assert groups["due"].sessions == [not_started, due_soon] and groups["due"].total == 2
    assert groups["in_progress"].sessions == [running.session]
    assert groups["stopped"].sessions == [stopped.session]
    assert groups["completed"].sessions == [done.session]
    html = response.content.decode()
    for session in (not_started, due_soon, running.session, stopped.session, done.session):
        assert session.get_absolute_url() in html
        assert f'<a class="patient-link" href="{session.patient.get_absolute_url()}">' in html
    assert "not started" in html and "stopped 09:00" in html and "completed 10:00" in html


@pytest.mark.django_db
def test_today_in_the_unit_is_capped_with_its_total(role_client, frozen_today, monkeypatch):
    from clinic import dashboard as module

    monkeypatch.setattr(module, "ROWS_PER_LIST", 1)
    for hour in (8, 9, 10):
        InfusionSessionFactory(planned_start=local(hour), status=SessionStatus.PLANNED)
    response = role_client("viewer").get(URL, {"view": "nurse"})
    due = response.context["board"].unit_today[0]
    assert [session.planned_start for session in due.sessions] == [local(8)] and due.total == 3
    assert '1 of 3 shown (the earliest); the rest are on <a href="/scheduling/week/">the week view</a>' in (
        response.content.decode()
    )


@pytest.mark.django_db
def test_orders_to_schedule_with_a_plan_link_for_nurses_only(role_client, make_order, make_user, frozen_today):
    waiting = DoseOrderFactory(verified=True)
    booked = CourseFactory().order  # an active course: nothing to schedule
    make_order()  # awaiting verification: not yet
    plan = reverse("scheduling:course_create", kwargs={"order_uuid": waiting.uuid})
    for role in ("nurse", "viewer", "pharmacist", "physician"):
        response = role_client(role).get(URL, {"section": "to_schedule"})
        board = response.context["board"]
        assert board.to_schedule == [waiting] and board.counts["to_schedule"] == 1
        html = response.content.decode()
        assert f'<a class="patient-link" href="{waiting.patient.get_absolute_url()}">' in html
        assert waiting.get_absolute_url() in html and booked.get_absolute_url() not in html
        assert (plan in html) == (role == "nurse")


@pytest.mark.django_db
def test_every_list_names_the_patient_with_a_link(role_client, make_order):
    _clinic(1)
    pending = make_order()
    client = role_client("pharmacist")
    html = client.get(URL).content.decode()
    patient = pending.patient
    name = (
        f'<span class="text-nowrap"><bdi>{patient.mrn}</bdi></span> '
        f"<bdi>{patient.family_name}</bdi>, <bdi>{patient.given_name}</bdi></a>"
    )
    assert f'<a class="patient-link" href="{patient.get_absolute_url()}">{name}' in html  # orders awaiting
    assert f"{patient.family_name}, {patient.given_name}</td>" not in html  # no name left unlinked
    flagged = RiskFlag.objects.active().exclude(patient=patient).first().patient
    for section in ("flags", "unacknowledged"):  # and the flagged and unacknowledged lists
        html = client.get(URL, {"section": section}).content.decode()
        assert f'<a class="patient-link" href="{flagged.get_absolute_url()}#flags">' in html
        assert f"{flagged.family_name}, {flagged.given_name}</td>" not in html


@pytest.mark.django_db
def test_needs_review_lists_live_review_reminders_with_links(role_client):
    from scheduling.models import ReminderStatus

    stopped = InfusionRecordFactory(session__planned_start=local(6), stopped_at=local(8), completed_at=local(8))
    reaction = InfusionRecordFactory(session__planned_start=local(7), stopped_at=local(10), completed_at=local(10))
    done = InfusionRecordFactory(session__planned_start=local(8), stopped_at=local(11), completed_at=local(11))
    older = _review(stopped.session, kind="infusion_incomplete", due_at=local(8), message="Stopped at 400 of 700 mL.")
    newer = _review(reaction.session, due_at=local(10))
    _review(done.session, due_at=local(11), status=ReminderStatus.DONE)
    ReminderFactory(patient=done.session.patient)  # another kind: not listed here
    response = role_client("physician").get(URL)
    board = response.context["board"]
    assert board.needs_review == [newer, older] and board.counts["needs_review"] == 2
    html = response.content.decode()
    section = html[html.index('id="needs-review"') :]
    section = section[: section.index("</section>")]
    assert "Stopped at 400 of 700 mL." in section
    assert stopped.session.get_absolute_url() in section and stopped.session.patient.get_absolute_url() in section


@pytest.mark.django_db
def test_needs_review_is_capped_with_its_total(role_client):
    for hour in range(27):
        record = InfusionRecordFactory(session__planned_start=local(6), stopped_at=local(8), completed_at=local(8))
        _review(record.session, due_at=local(8) + timedelta(minutes=hour))
    client = role_client("physician")
    home = client.get(URL)  # several sections: each lists fewer rows
    assert len(home.context["board"].needs_review) == 10 and home.context["board"].counts["needs_review"] == 27
    assert "10 of 27 shown (the newest)" in home.content.decode()
    board = client.get(URL, {"section": "needs_review"}).context["board"]  # its own page
    assert len(board.needs_review) == 25 and board.counts["needs_review"] == 27
