from datetime import date

import pytest
from django.urls import reverse

from dosing.services.orders import dose_order_verify
from patients.tests.factories import MeasurementFactory, MedicationFactory, PatientFactory, RiskFactorFactory
from risk.models import RiskFlag

URL = reverse("home")


def _clinic(size: int) -> None:
    for index in range(size):
        patient = PatientFactory(date_of_birth=date(1950 if index % 2 else 1980, 1, 1))
        RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=date(2024, 1, 1))
        if index % 3 == 0:
            MedicationFactory(patient=patient, category="nephrotoxic", name="Ibuprofen", daily_dose_mg=None)


@pytest.mark.django_db
def test_counts_lists_and_links(role_client, make_order, make_user):
    _clinic(3)
    pending = make_order()
    response = role_client("nurse").get(URL)
    assert response.status_code == 200
    board = response.context["board"]
    assert board.counts["high"] == 3 and board.counts["patients_at_risk"] == 3
    assert board.counts["orders_awaiting"] == 1 and board.orders_awaiting == [pending]
    html = response.content.decode()
    assert "History of venous or arterial thrombosis" in html and "Acknowledge" in html
    assert pending.get_absolute_url() in html
    dose_order_verify(by=make_user("pharmacist"), order=pending)
    assert role_client("nurse").get(URL).context["board"].counts["orders_awaiting"] == 0


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
def test_query_count_does_not_depend_on_clinic_size(role_client, django_assert_num_queries, make_order):
    make_order()
    client = role_client("pharmacist")
    _clinic(3)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(URL)  # the first request after login renews the session (a write); later ones read only
    with CaptureQueriesContext(connection) as small:
        client.get(URL)
    # session, user, permissions and roles, inbox badge + the dashboard's own eight
    assert len(small.captured_queries) <= 12, [query["sql"][:80] for query in small.captured_queries]
    _clinic(25)
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
    response = role_client("pharmacist").get(URL)
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
