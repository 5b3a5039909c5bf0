"""The visit pages: each works, refuses bad input without writing, and answers 403 / 404 / 405."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from patients.tests.factories import LabResultFactory, PatientFactory
from visits.models import Visit
from visits.tests.factories import WORKED_BASELINE as BASELINE
from visits.tests.factories import WORKED_FOLLOWUP as FOLLOWUP
from visits.tests.factories import VisitFactory
from visits.tis import ENZYME_RANGE_RULE_NOTE

UNKNOWN = "00000000-0000-4000-8000-000000000000"
NOT_PHYSICIANS = ["nurse", "pharmacist", "viewer", None]


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York")), tick=False):
        yield


@pytest.fixture
def patient(db):
    return PatientFactory(diagnosis="adult_dm", ivig_started_on=date(2026, 6, 1))


@pytest.fixture
def make_visit(physician):
    def make(patient, visit_date, **fields):
        return VisitFactory(patient=patient, visit_date=visit_date, assessor=physician, **fields)

    return make


@pytest.fixture
def baseline(make_visit, patient):
    return make_visit(patient, date(2026, 5, 28), **BASELINE)


@pytest.fixture
def followup(make_visit, patient, baseline):
    return make_visit(patient, date(2026, 9, 21), **FOLLOWUP)  # week 16


def _form(physician, **overrides) -> dict:
    data = {
        "visit_date": "2026-11-20",
        "assessor": physician.pk,
        "physician_global_cm": "4.5",
        "patient_global_cm": "5.5",
        "extramuscular_global_cm": "2.5",
        "mmt_scale": "mmt8_80",
        "mmt_score": "68",
        "haq_instrument": "haq_di",
        "haq_score": "1.05",
        "ck_u_per_l": "2550",
        "ck_uln_u_per_l": "200",
        "notes": "Better on the stairs.",
    } | overrides
    return {key: value for key, value in data.items() if value is not None}


def _stored() -> list[dict]:
    return list(Visit.objects.order_by("pk").values())


class TestPatientVisits:
    def url(self, patient):
        return reverse("visits:patient_visits", kwargs={"patient_uuid": patient.uuid})

    def test_shows_each_visit_with_its_tis_and_the_week16_result(self, role_client, patient, followup):
        response = role_client("physician").get(self.url(patient))
        assert response.status_code == 200
        html = response.content.decode()
        assert "Adult DM/PM: minimal improvement TIS ≥ 20, moderate ≥ 40, major ≥ 60" in html
        assert "Default baseline: the visit of 2026-05-28, the last visit on or before the first infusion" in html
        assert "minimal improvement" in html and "<strong>35</strong>" in html
        assert "Week-16 visit 2026-09-21 (week 16): TIS 35, minimal improvement." in html
        assert "Responder (TIS ≥ 20, no confirmed deterioration): yes" in html
        assert "No confirmed deterioration" in html
        assert reverse("visits:trend", kwargs={"patient_uuid": patient.uuid}) in html
        assert reverse("visits:create", kwargs={"patient_uuid": patient.uuid}) in html
        rows = response.context["rows"]
        assert [row.visit.visit_date for row in rows] == [date(2026, 5, 28), date(2026, 9, 21)]
        assert [row.role for row in rows] == ["baseline", "follow-up"]
        assert [row.weeks for row in rows] == [-1, 16]  # 4 days before the first infusion is week -1

    def test_a_juvenile_responder_is_judged_and_explained_at_tis_30(self, role_client, make_visit):
        # The same TIS of 35 at week 16: a juvenile responder reaches 30 (tis.md, juvenile DM), not 20.
        patient = PatientFactory(diagnosis="juvenile_dm", ivig_started_on=date(2026, 6, 1))
        make_visit(patient, date(2026, 5, 28), **BASELINE)
        make_visit(patient, date(2026, 9, 21), **FOLLOWUP)
        html = role_client("physician").get(self.url(patient)).content.decode()
        assert "Responder (TIS ≥ 30, no confirmed deterioration): yes" in html
        assert "Responder (TIS ≥ 20" not in html
        chart = role_client("physician").get(patient.get_absolute_url())
        assert "(TIS ≥ 30 and no confirmed deterioration)" in chart.content.decode()

    def test_incomplete_tis_names_what_is_missing(self, role_client, patient, baseline, make_visit):
        make_visit(patient, date(2026, 7, 1), **(FOLLOWUP | {"haq_score": None, "mmt_scale": "mmt8_150"}))
        html = role_client("viewer").get(self.url(patient)).content.decode()
        assert (
            "incomplete — missing: Muscle strength (MMT-8 / CMAS) (on a different scale from the baseline), HAQ" in html
        )

    def test_without_a_first_infusion_date_it_says_so_and_links_to_the_patient(self, role_client, make_visit):
        patient = PatientFactory(ivig_started_on=None)
        make_visit(patient, date(2026, 11, 1), **BASELINE)
        html = role_client("physician").get(self.url(patient)).content.decode()
        assert "the first IVIG infusion date is not recorded" in html
        assert reverse("patients:edit", kwargs={"patient_uuid": patient.uuid}) in html

    def test_shows_no_visit_in_the_week16_window(self, role_client, patient, baseline):
        html = role_client("viewer").get(self.url(patient)).content.decode()
        assert "No visit within ±2 weeks of week 16 (2026-09-21; window 2026-09-07 to 2026-10-05)." in html

    def test_flags_confirmed_deterioration(self, role_client, patient, baseline, make_visit):
        for day in (date(2026, 7, 1), date(2026, 8, 1)):
            make_visit(patient, day, **(BASELINE | {"extramuscular_global_cm": Decimal("6.5")}))
        html = role_client("viewer").get(self.url(patient)).content.decode()
        assert (
            "Confirmed deterioration (ProDERM): worse than baseline at consecutive visits 2026-07-01 and 2026-08-01 "
            "(extramuscular global up ≥ 2 cm)." in html
        )

    @pytest.mark.parametrize("started", [None, date(2026, 6, 1)])
    def test_patient_without_visits(self, role_client, started):
        patient = PatientFactory(ivig_started_on=started)
        html = role_client("physician").get(self.url(patient)).content.decode()
        assert "No baseline yet: no visits recorded." in html and "No visits recorded yet." in html

    def test_no_visit_before_the_first_infusion_means_no_baseline(self, role_client, patient, make_visit):
        visit = make_visit(patient, date(2026, 7, 1), **FOLLOWUP)
        html = role_client("viewer").get(self.url(patient)).content.decode()
        assert "No baseline yet: no visit on or before the first infusion (2026-06-01)." in html
        assert "no baseline to compare with" in html
        detail = role_client("viewer").get(reverse("visits:detail", kwargs={"visit_uuid": visit.uuid}))
        assert "There is no baseline to score this visit against." in detail.content.decode()

    def test_viewer_reads_without_the_record_button(self, role_client, patient, followup):
        response = role_client("viewer").get(self.url(patient))
        assert response.status_code == 200
        assert reverse("visits:create", kwargs={"patient_uuid": patient.uuid}) not in response.content.decode()

    def test_no_role_403(self, role_client, patient):
        assert role_client(None).get(self.url(patient)).status_code == 403

    def test_unknown_patient_404(self, role_client):
        url = reverse("visits:patient_visits", kwargs={"patient_uuid": UNKNOWN})
        assert role_client("viewer").get(url).status_code == 404

    def test_wrong_method_405(self, role_client, patient):
        assert role_client("physician").post(self.url(patient)).status_code == 405


class TestVisitCreate:
    def url(self, patient):
        return reverse("visits:create", kwargs={"patient_uuid": patient.uuid})

    def test_form_defaults_to_today_and_the_signed_in_physician(self, client, physician, patient):
        client.force_login(physician)
        response = client.get(self.url(patient))
        assert response.status_code == 200
        form = response.context["form"]
        assert form.initial["visit_date"] == date(2026, 11, 22)
        assert form.initial["assessor"] == physician.pk
        html = response.content.decode()
        assert "Physician global activity (VAS, cm)" in html and "CK upper limit of normal (U/L)" in html
        assert "js/visit_form.js" in html and "<script>" not in html and " style=" not in html

    def test_enzymes_prefilled_from_the_labs_of_the_chosen_day(self, client, physician, patient):
        LabResultFactory(patient=patient, test="ck", collected_on=date(2026, 11, 20), value=Decimal("3000"))
        LabResultFactory(
            patient=patient, test="ldh", collected_on=date(2026, 11, 20), value=Decimal("410"), upper_limit_normal=250
        )
        LabResultFactory(patient=patient, test="ck", collected_on=date(2026, 11, 22), value=Decimal("1200"))
        client.force_login(physician)
        html = client.get(self.url(patient), {"visit_date": "2026-11-20"}).content.decode()
        assert 'name="ck_u_per_l" value="3000"' in html and 'name="ldh_u_per_l" value="410"' in html
        assert 'name="ldh_uln_u_per_l" value="250"' in html
        assert html.count("from the lab result of 2026-11-20") == 2
        assert 'name="visit_date" value="2026-11-20"' in html
        today = client.get(self.url(patient)).content.decode()
        assert 'name="ck_u_per_l" value="1200"' in today and "from the lab result of 2026-11-22" in today

    def test_physician_records_and_is_sent_to_the_visit(self, client, physician, patient, baseline):
        client.force_login(physician)
        response = client.post(self.url(patient), _form(physician))
        visit = Visit.objects.get(visit_date=date(2026, 11, 20))
        assert response.status_code == 302 and response.url == visit.get_absolute_url()
        assert (visit.patient, visit.recorded_by, visit.assessor, visit.mmt_score) == (
            patient,
            physician,
            physician,
            Decimal("68"),
        )
        record = visit.history.get()
        assert (record.history_user, record.history_change_reason) == (physician, "recorded")

    def test_grades_and_categories_are_summed_and_stored(self, client, physician, patient):
        grades = {"mmt_neck_flexors": "8"} | {
            f"mmt_{group}_right": "7"
            for group in (
                "deltoid",
                "biceps",
                "wrist_extensors",
                "gluteus_maximus",
                "gluteus_medius",
                "quadriceps",
                "ankle_dorsiflexors",
            )
        }
        categories = {f"haq_{c}": "1" for c in ("dressing", "arising", "eating", "walking", "hygiene", "reach", "grip")}
        client.force_login(physician)
        data = _form(physician, mmt_score="", haq_score="", **grades, **categories, haq_activities="1")
        data["haq_dressing_aids"] = "on"
        assert client.post(self.url(patient), data).status_code == 302
        visit = Visit.objects.get()
        assert (visit.mmt_score, visit.haq_score) == (Decimal("57"), Decimal("1.125"))
        assert visit.mmt_muscles["grades"]["deltoid"] == 7
        assert visit.haq_categories["categories"]["dressing"] == {"score": 1, "aids": True, "category_score": 2}

    BAD_INPUT = [
        ("physician_global_cm", {"physician_global_cm": "12"}, "Enter a value between 0 and 10 cm."),
        ("mmt_score", {"mmt_score": "81"}, "goes up to 80"),
        ("ck_uln_u_per_l", {"ck_uln_u_per_l": ""}, "upper limit of normal for CK"),
        ("visit_date", {"visit_date": "2026-11-23"}, "This date is in the future."),
        ("visit_date", {"visit_date": "1969-01-01"}, "before the patient's date of birth"),
        ("haq_score", {"haq_score": "3.5"}, "Enter a value between 0 and 3."),
        ("assessor", {"assessor": "999999"}, "Select a valid choice"),
    ]

    @pytest.mark.parametrize(("field", "overrides", "message"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
    def test_bad_input_is_shown_at_the_field_and_nothing_is_written(
        self, client, physician, patient, baseline, field, overrides, message
    ):
        before, history_rows = _stored(), Visit.history.count()
        client.force_login(physician)
        # Marked as baseline too, so an accidental partial write would move the baseline.
        response = client.post(self.url(patient), _form(physician, is_baseline="on", **overrides))
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert any(message in error for error in errors.get(field, [])), errors
        assert "Nothing was saved" in response.content.decode()
        assert _stored() == before and Visit.history.count() == history_rows

    def test_second_visit_on_the_same_day_is_refused(self, client, physician, patient, baseline):
        client.force_login(physician)
        response = client.post(self.url(patient), _form(physician, visit_date="2026-05-28"))
        assert response.status_code == 200
        assert "already has a visit on this day" in response.context["form"].errors["visit_date"][0]
        assert Visit.objects.count() == 1

    @pytest.mark.parametrize("role", NOT_PHYSICIANS)
    def test_only_physicians_record(self, role_client, physician, patient, role):
        client = role_client(role)
        assert client.get(self.url(patient)).status_code == 403
        assert client.post(self.url(patient), _form(physician)).status_code == 403
        assert not Visit.objects.exists()

    def test_unknown_patient_404(self, client, physician):
        client.force_login(physician)
        url = reverse("visits:create", kwargs={"patient_uuid": UNKNOWN})
        assert client.get(url).status_code == 404
        assert client.post(url, _form(physician)).status_code == 404

    def test_wrong_method_405(self, client, physician, patient):
        client.force_login(physician)
        assert client.put(self.url(patient), _form(physician)).status_code == 405
        assert not Visit.objects.exists()


class TestVisitEdit:
    def url(self, visit):
        return reverse("visits:edit", kwargs={"visit_uuid": visit.uuid})

    def test_shows_the_visit_filled_in(self, client, physician, followup):
        client.force_login(physician)
        response = client.get(self.url(followup))
        assert response.status_code == 200
        html = response.content.decode()
        assert 'name="physician_global_cm" value="4.5"' in html and 'name="ck_u_per_l" value="2550"' in html

    def test_physician_corrects_and_the_change_is_in_the_history(self, client, physician, followup):
        client.force_login(physician)
        data = _form(physician, visit_date="2026-09-21", physician_global_cm="3.5")
        response = client.post(self.url(followup), data)
        assert response.status_code == 302 and response.url == followup.get_absolute_url()
        followup.refresh_from_db()
        assert followup.physician_global_cm == Decimal("3.5")
        assert followup.history.first().history_change_reason == "corrected"

    def test_bad_input_changes_nothing(self, client, physician, followup):
        before, history_rows = _stored(), Visit.history.count()
        client.force_login(physician)
        response = client.post(self.url(followup), _form(physician, physician_global_cm="12", notes="changed"))
        assert response.context["form"].errors["physician_global_cm"] == ["Enter a value between 0 and 10 cm."]
        assert _stored() == before and Visit.history.count() == history_rows
        # Refused by the service (after the form): the page still names the visit by its stored date.
        response = client.post(self.url(followup), _form(physician, visit_date="2026-11-23", notes="changed"))
        assert response.context["form"].errors["visit_date"] == ["This date is in the future."]
        assert "Correct the visit of 2026-09-21" in response.content.decode()
        assert _stored() == before and Visit.history.count() == history_rows

    @pytest.mark.parametrize("role", NOT_PHYSICIANS)
    def test_only_physicians_correct(self, role_client, physician, followup, role):
        client = role_client(role)
        before = _stored()
        assert client.get(self.url(followup)).status_code == 403
        assert client.post(self.url(followup), _form(physician, notes="changed")).status_code == 403
        assert _stored() == before

    def test_unknown_visit_404(self, client, physician):
        client.force_login(physician)
        url = reverse("visits:edit", kwargs={"visit_uuid": UNKNOWN})
        assert client.get(url).status_code == 404
        assert client.post(url, _form(physician)).status_code == 404

    def test_wrong_method_405(self, client, physician, followup):
        client.force_login(physician)
        assert client.delete(self.url(followup)).status_code == 405
        assert Visit.objects.filter(pk=followup.pk).exists()


class TestVisitDetail:
    def url(self, visit):
        return reverse("visits:detail", kwargs={"visit_uuid": visit.uuid})

    def test_follow_up_shows_the_full_breakdown(self, role_client, followup):
        response = role_client("viewer").get(self.url(followup))
        assert response.status_code == 200
        rows = {row.measure: row for row in response.context["breakdown"]["rows"]}
        assert (rows["Physician global"].baseline, rows["Physician global"].followup) == ("6", "4.5")
        assert (rows["Physician global"].percent_change, rows["Physician global"].points) == ("15", "7.5")
        assert rows["Muscle enzyme"].enzyme == {
            "name": "CK",
            "uln": "200",
            "k": 15,
            "range": "3000",
            "followup_uln": "",
        }
        html = response.content.decode()
        assert "range 15 × ULN = 3000" in html and ENZYME_RANGE_RULE_NOTE in html
        assert "<strong>35</strong>" in html and "minimal improvement" in html
        assert "Make this the baseline" not in html  # a viewer has no button

    def test_baseline_shows_no_breakdown_and_physician_gets_the_button(self, role_client, baseline, followup):
        response = role_client("physician").get(self.url(baseline))
        assert response.context["breakdown"] is None
        html = response.content.decode()
        assert "This is the baseline" in html
        physician_page = role_client("physician").get(self.url(followup)).content.decode()
        assert "Make this the baseline" in physician_page

    def test_no_role_403(self, role_client, followup):
        assert role_client(None).get(self.url(followup)).status_code == 403

    def test_unknown_visit_404(self, role_client):
        assert role_client("viewer").get(reverse("visits:detail", kwargs={"visit_uuid": UNKNOWN})).status_code == 404

    def test_wrong_method_405(self, role_client, followup):
        assert role_client("physician").post(self.url(followup)).status_code == 405


class TestSetBaseline:
    def url(self, visit):
        return reverse("visits:set_baseline", kwargs={"visit_uuid": visit.uuid})

    def test_moves_the_baseline_and_the_page_after_shows_the_new_scores(
        self, client, physician, patient, baseline, followup, make_visit
    ):
        later = make_visit(patient, date(2026, 10, 19), **(FOLLOWUP | {"physician_global_cm": Decimal("2")}))
        client.force_login(physician)
        response = client.post(self.url(followup), follow=True)
        assert response.redirect_chain == [
            (reverse("visits:patient_visits", kwargs={"patient_uuid": patient.uuid}), 302)
        ]
        followup.refresh_from_db()
        assert followup.is_baseline
        rows = {row.visit.pk: row for row in response.context["rows"]}
        assert rows[baseline.pk].role == "before baseline"
        assert rows[followup.pk].role == "baseline"
        # 4.5 -> 2 cm is 25 % (15 points); everything else unchanged scores 0.
        assert (rows[later.pk].tis_total, rows[later.pk].category) == ("15", "no improvement")
        assert "Baseline: the visit of 2026-09-21, marked as the baseline." in response.content.decode()

    def test_get_is_405(self, client, physician, followup):
        client.force_login(physician)
        assert client.get(self.url(followup)).status_code == 405
        followup.refresh_from_db()
        assert not followup.is_baseline

    @pytest.mark.parametrize("role", NOT_PHYSICIANS)
    def test_only_physicians_move_the_baseline(self, role_client, followup, role):
        assert role_client(role).post(self.url(followup)).status_code == 403
        followup.refresh_from_db()
        assert not followup.is_baseline

    def test_unknown_visit_404(self, client, physician):
        client.force_login(physician)
        assert client.post(reverse("visits:set_baseline", kwargs={"visit_uuid": UNKNOWN})).status_code == 404
