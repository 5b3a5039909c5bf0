"""Issue 15, point 5: the first infusion of an IVIG-naive patient, the first after a product switch
and the first after more than 8 weeks without IVIG are marked on the order, the session page, the
printable sheet and the chair API, and run the site's slower first step (factor 2: 30 min -> 60).

The worked order: 70 kg dermatomyositis, Octagam 10 %, 42 -> 84 -> 168 mL/h (30 and 30 min). As a
first infusion: 42 mL/h for 60 min, 84 for 30, 168 until done (310 min). With the unit's 5 min
tolerance step 2 may begin from minute 55 (instead of 25) and step 3 from minute 85 (instead of 55).
Time is frozen at 12:00 on Sun 22 Nov 2026 in New York; the session is at 09:00, started 09:00."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from dosing.models import DoseOrder, Indication, SiteSettings
from dosing.tests.factories import DoseOrderFactory, verified
from scheduling.models import InfusionSession, RateChange
from scheduling.services import records
from scheduling.tests.factories import CHECK_ACCEPTED, DAY, local, make_session

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_today")]

NOW = local(12)
SWITCH_FROM = DAY - timedelta(weeks=4)  # Gamunex-C given on Sun 25 Oct


@pytest.fixture
def nurse(make_user):
    return make_user("nurse")


@pytest.fixture
def order(make_order):
    return verified(make_order())


def gamunex_itp() -> Indication:
    return Indication.objects.get(product__slug="gamunex-c", slug="itp")


def given(order, nurse, day: date):
    """A session of `order` on `day`, started at 09:00 through record_start: an infusion given."""
    session = make_session(order, by=nurse, planned_start=local(9, day=day))
    records.record_start(
        **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, day=day), expected_version=None, now=NOW
    )
    return session


def session_of(order, nurse, **kwargs):
    """A session of `order` read back from the database, as a request reads it: its patient with the
    infusions given as first_infusion_keep left them."""
    return InfusionSession.objects.get(pk=make_session(order, by=nurse, **kwargs).pk)


def start(session, nurse):
    records.record_start(
        **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9), expected_version=None, now=NOW
    )
    session.refresh_from_db()
    return session


def rate(session, nurse, hour, minute, ml_per_h, step):
    return records.rate_change_record(
        by=nurse,
        session=session,
        at=local(hour, minute),
        rate_ml_per_h=Decimal(ml_per_h),
        step_number=step,
        now=NOW,
    )


def ladder(plan):
    return [(step["rate_ml_per_h"], step["start_min"], step["minutes"]) for step in plan["rate_steps"]]


USUAL = [("42.0", 0, 30), ("84.0", 30, 30), ("168.0", 60, 228)]
FIRST = [("42.0", 0, 60), ("84.0", 60, 30), ("168.0", 90, 220)]


# ----------------------------------------------------------------------- which session is a first one


def test_an_ivig_naive_patients_first_session_runs_the_slower_first_step(order, nurse):
    session = session_of(order, nurse)
    plan = records.plan_of(session)
    assert ladder(plan) == FIRST and plan["infusion_minutes"] == 310
    assert plan["first_infusion"]["text"] == (
        "First infusion: IVIG-naive: no infusion given before — first step held 2 × 30 min, site policy"
    )
    assert plan["warnings"][-1]["code"] == "first_infusion_slow_start"
    assert ladder(order.administration_plan) == USUAL  # the order's plan is not rewritten


def test_day_2_after_day_1_was_given_runs_the_usual_ladder(order, nurse):
    given(order, nurse, DAY - timedelta(days=1))
    session = session_of(order, nurse)
    assert records.session_first_infusion(session) is None
    assert ladder(records.plan_of(session)) == USUAL


def test_a_product_switch(dm_patient, order, nurse):
    given(verified(DoseOrderFactory(patient=dm_patient, indication=gamunex_itp())), nurse, SWITCH_FROM)
    mark = records.session_first_infusion(session_of(order, nurse))
    assert (mark.kind, mark.reason) == ("product_switch", "product switch from Gamunex-C 10% (last given 2026-10-25)")


@pytest.mark.parametrize(
    "weeks_before, gap_weeks, reason",
    [
        (8, 8, None),  # exactly 8 weeks: not more than 8
        (9, 8, "9 weeks without IVIG (last given 2026-09-20), more than 8"),
        (9, 10, None),  # the site's gap
    ],
)
def test_a_gap_without_ivig(order, nurse, weeks_before, gap_weeks, reason):
    SiteSettings.objects.filter(pk=1).update(first_infusion_gap_weeks=gap_weeks)
    given(order, nurse, DAY - timedelta(weeks=weeks_before))
    mark = records.session_first_infusion(session_of(order, nurse))
    assert (mark and mark.reason) == reason


def test_ivig_started_elsewhere_is_not_naive(dm_patient, order, nurse):
    dm_patient.ivig_started_on = date(2026, 6, 1)
    dm_patient.save(update_fields=["ivig_started_on"])
    session = session_of(order, nurse)
    assert records.session_first_infusion(session) is None
    assert ladder(records.plan_of(session)) == USUAL


def test_a_voided_start_no_longer_counts_as_given(dm_patient, order, nurse):
    earlier = given(order, nurse, DAY - timedelta(weeks=4))
    assert records.session_first_infusion(session_of(order, nurse, planned_start=local(13))) is None
    start_entry = earlier.record.values.live().get(kind="start")
    records.entry_void(by=nurse, session=earlier, entry_id=start_entry.uuid, reason="Wrong patient's chair.", now=NOW)
    dm_patient.refresh_from_db()
    assert dm_patient.infusions_given == []


def test_the_patient_keeps_the_infusions_given(dm_patient, order, nurse):
    history, version = dm_patient.history.count(), dm_patient.version
    given(verified(DoseOrderFactory(patient=dm_patient, indication=gamunex_itp())), nurse, SWITCH_FROM)
    given(order, nurse, DAY - timedelta(days=1))
    dm_patient.refresh_from_db()
    assert dm_patient.infusions_given == [
        {"on": "2026-10-25", "product_slug": "gamunex-c", "product_name": "Gamunex-C 10%"},
        {"on": "2026-11-21", "product_slug": "octagam-10", "product_name": "Octagam 10%"},
    ]
    # Derived data: outside the patient's history and version.
    assert (dm_patient.history.count(), dm_patient.version) == (history, version)


# ----------------------------------------------------------------------- the ladder tied to the clock


def test_step_2_is_refused_before_the_longer_first_step_has_run(order, nurse):
    session = start(session_of(order, nurse), nurse)
    rate(session, nurse, 9, 0, "42", 1)
    with pytest.raises(Exception) as refused:
        rate(session, nurse, 9, 40, "84", 2)  # would be allowed on the usual ladder (from 09:25)
    assert "Too early for step 2" in str(refused.value) and "Step 2 may begin from 09:55" in str(refused.value)
    with pytest.raises(Exception, match="Step 2 may begin from 09:55"):
        rate(session, nurse, 9, 54, "84", 2)
    rate(session, nurse, 9, 55, "84", 2)  # 60 min less the 5 min tolerance
    with pytest.raises(Exception, match="Step 3 may begin from 10:25"):
        rate(session, nurse, 10, 20, "168", 3)
    rate(session, nurse, 10, 25, "168", 3)
    assert list(RateChange.objects.values_list("step_number", "rate_ml_per_h")) == [
        (1, Decimal("42.0")),
        (2, Decimal("84.0")),
        (3, Decimal("168.0")),
    ]


def test_with_factor_1_the_usual_ladder_but_still_marked(order, nurse):
    SiteSettings.objects.filter(pk=1).update(first_infusion_first_step_factor=1)
    session = start(session_of(order, nurse), nurse)
    plan = records.plan_of(session)
    assert ladder(plan) == USUAL
    assert plan["first_infusion"]["text"].endswith("first step 30 min as usual (site policy: factor 1)")
    rate(session, nurse, 9, 25, "84", 2)


# ----------------------------------------------------------------------- the pages and the chair API


def test_the_session_page_shows_the_mark_and_the_slower_ladder(client, dm_patient, order, nurse):
    given(verified(DoseOrderFactory(patient=dm_patient, indication=gamunex_itp())), nurse, SWITCH_FROM)
    session = session_of(order, nurse)
    client.force_login(nurse)
    page = client.get(session.get_absolute_url()).content.decode()
    assert (
        "First infusion: product switch from Gamunex-C 10% (last given 2026-10-25) — first step held 2 × 30 min, "
        "site policy" in page
    )
    assert 'data-first-infusion="product_switch"' in page
    assert "for <strong>60 <span" in page and "instead of 30" in page


def test_the_printable_sheet_follows_the_slower_first_step(client, order, nurse):
    session = session_of(order, nurse)
    client.force_login(nurse)
    sheet = reverse("dosing:order_sheet", args=[order.uuid, 1])
    page = client.get(sheet, {"date": "2026-11-22", "start": "09:00"}).content.decode()
    assert "First infusion: IVIG-naive: no infusion given before — first step held 2 × 30 min" in page
    # The ladder's clock: 09:00-10:00 at 42 mL/h, 10:00-10:30 at 84, 10:30-14:10 at 168 (310 min).
    assert "09:00–10:00" in page and "10:00–10:30" in page and "10:30–14:10" in page
    assert "(310 min)" in page
    assert session.day_number == 1


def test_the_sheet_of_a_day_after_an_infusion_given_runs_the_usual_ladder(client, order, nurse):
    given(order, nurse, DAY - timedelta(days=1))
    client.force_login(nurse)
    page = client.get(reverse("dosing:order_sheet", args=[order.uuid, 2]), {"date": "2026-11-22"}).content.decode()
    assert "First infusion" not in page and "(288 min)" in page


def test_the_chair_api_answers_as_the_pages(client, order, nurse):
    session = session_of(order, nurse)
    client.force_login(nurse)
    (body,) = client.get("/api/v1/sessions", {"date": "2026-11-22"}).json()
    assert body["id"] == str(session.uuid)
    assert body["first_infusion"].startswith("First infusion: IVIG-naive")
    assert body["steps"] == [
        {"step": 1, "limit_ml_h": "42.0", "from_minute": 0, "minutes": 60},
        {"step": 2, "limit_ml_h": "84.0", "from_minute": 55, "minutes": 30},
        {"step": 3, "limit_ml_h": "168.0", "from_minute": 85, "minutes": None},
    ]
    start(session, nurse)
    response = client.post(
        f"/api/v1/sessions/{session.uuid}/rates",
        json.dumps({"at": local(9, 40).isoformat(), "rate_ml_h": "84"}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "Step 2 may begin from 09:55" in response.json()["errors"][0]["message"]


def test_a_session_that_is_not_a_first_infusion_has_none_in_the_api(client, order, nurse):
    given(order, nurse, DAY - timedelta(days=1))
    session_of(order, nurse, planned_start=local(13))
    client.force_login(nurse)
    bodies = client.get("/api/v1/sessions", {"date": "2026-11-22"}).json()
    assert [body["first_infusion"] for body in bodies] == [None]


# ----------------------------------------------------------------------- the order


def test_the_order_is_marked_when_prescribed_and_shows_the_slower_first_step(client, dm_patient, nurse, physician):
    order = DoseOrderFactory(patient=dm_patient)
    assert order.first_infusion == {
        "kind": "ivig_naive",
        "reason": "IVIG-naive: no infusion given before",
        "derived_on": "2026-11-22",
    }
    assert ladder(order.first_infusion_plan) == FIRST
    client.force_login(physician)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "First infusion: IVIG-naive: no infusion given before — first step held 2 × 30 min, site policy" in page
    assert "(as of 2026-11-22)" in page


def test_an_order_after_a_switch_is_marked_and_one_on_the_same_product_is_not(dm_patient, nurse):
    given(verified(DoseOrderFactory(patient=dm_patient, indication=gamunex_itp())), nurse, SWITCH_FROM)
    dm_patient.refresh_from_db()
    switched = DoseOrderFactory(patient=dm_patient)
    assert switched.first_infusion["kind"] == "product_switch"
    same = DoseOrderFactory(patient=dm_patient, indication=gamunex_itp())
    assert same.first_infusion == {} and same.first_infusion_plan is None
    # Verifying derives it again, as of the day of verifying.
    assert verified(switched).first_infusion["reason"] == "product switch from Gamunex-C 10% (last given 2026-10-25)"
    assert DoseOrder.objects.get(pk=same.pk).first_infusion == {}


def test_the_migration_fills_the_infusions_given_from_the_starts_on_record(dm_patient, order, nurse):
    import importlib

    from django.apps import apps

    from patients.models import Patient

    given(verified(DoseOrderFactory(patient=dm_patient, indication=gamunex_itp())), nurse, SWITCH_FROM)
    given(order, nurse, DAY - timedelta(days=1))
    kept = Patient.objects.get(pk=dm_patient.pk).infusions_given
    Patient.objects.update(infusions_given=[])
    migration = importlib.import_module("scheduling.migrations.0010_fill_infusions_given")
    migration.fill_infusions_given(apps, None)
    assert Patient.objects.get(pk=dm_patient.pk).infusions_given == kept
    assert [row["on"] for row in kept] == ["2026-10-25", "2026-11-21"]
