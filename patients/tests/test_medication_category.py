"""A medication's name checked against its category (issue 15, point 6): a drug the table
recognises under another category is not saved silently; the form proposes the recognised
category at the field, or the category is kept with a reason that goes into the history. The
chart's medication list names each recognised drug's ATC class and each glucocorticoid's
prednisone equivalent."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from patients.models import LabResult, Medication
from patients.services import clinical_record_create, clinical_record_update, medication_record
from patients.tests.factories import MedicationFactory, PatientFactory

pytestmark = pytest.mark.django_db

ESTRADIOL_PROPOSAL = (
    "Estradiol is one of the estrogens and estrogen-containing contraceptives (ATC G03A, G03C, G03F): "
    "choose 'Estrogen-containing (boxed-warning thrombosis risk)' so the thrombosis flag counts it, "
    "or tick 'Keep the category as entered' and say why."
)


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York")), tick=False):
        yield


@pytest.fixture
def patient(db):
    return PatientFactory(date_of_birth=date(1970, 5, 17))


@pytest.fixture
def physician(client, make_user):
    user = make_user("physician")
    client.force_login(user)
    return user


def _add_url(patient) -> str:
    return reverse("patients:record_add", kwargs={"patient_uuid": patient.uuid, "kind_slug": "medications"})


def _edit_url(patient, record) -> str:
    kwargs = {"patient_uuid": patient.uuid, "kind_slug": "medications", "record_uuid": record.uuid}
    return reverse("patients:record_edit", kwargs=kwargs)


ESTRADIOL_AS_OTHER = {"category": "other", "name": "Estradiol", "started_on": "2026-10-01"}


class TestAddForm:
    def test_a_recognised_drug_under_another_category_is_refused_with_the_proposal(self, client, physician, patient):
        response = client.post(_add_url(patient), ESTRADIOL_AS_OTHER)
        assert response.status_code == 200
        form = response.context["form"]
        assert form.errors["category"] == [ESTRADIOL_PROPOSAL]
        assert "keep_category" in form.fields and "category_kept_because" in form.fields
        html = response.content.decode()
        assert "Keep the category as entered" in html
        assert not Medication.objects.exists()

    def test_choosing_the_proposed_category_saves_it_and_the_thrombosis_flag_counts_it(
        self, client, physician, patient
    ):
        response = client.post(_add_url(patient), ESTRADIOL_AS_OTHER | {"category": "estrogen"})
        assert response.status_code == 302
        assert Medication.objects.get().category == "estrogen"
        assert patient.risk_flags.active().filter(code="thrombosis_estrogen").exists()

    def test_keeping_the_category_needs_a_reason(self, client, physician, patient):
        response = client.post(_add_url(patient), ESTRADIOL_AS_OTHER | {"keep_category": "on"})
        assert response.status_code == 200
        assert response.context["form"].errors["category_kept_because"] == ["Say why the category is kept as entered."]
        assert not Medication.objects.exists()

    def test_a_reason_without_the_tick_does_not_keep_it(self, client, physician, patient):
        response = client.post(_add_url(patient), ESTRADIOL_AS_OTHER | {"category_kept_because": "cream"})
        assert response.context["form"].errors["category"] == [ESTRADIOL_PROPOSAL]
        assert not Medication.objects.exists()

    def test_kept_with_a_reason_it_is_saved_and_the_reason_is_in_the_history(self, client, physician, patient):
        kept = ESTRADIOL_AS_OTHER | {"keep_category": "on", "category_kept_because": "vaginal cream, local only"}
        assert client.post(_add_url(patient), kept).status_code == 302
        medication = Medication.objects.get()
        assert medication.category == "other"
        history = medication.history.get()
        assert history.history_change_reason == "category kept: vaginal cream, local only"
        assert history.history_user == physician
        # Kept as Other, so the thrombosis rule does not count it (the person chose so, with a reason).
        assert not patient.risk_flags.active().filter(code="thrombosis_estrogen").exists()

    @pytest.mark.parametrize(
        ("data", "category"),
        [
            ({"category": "estrogen", "name": "Estradiol 2 mg"}, "estrogen"),
            ({"category": "other", "name": "Vitamin D"}, "other"),  # not in the table: as entered
            ({"category": "glucocorticoid", "name": "Methylprednisolone", "daily_dose_mg": "16"}, "glucocorticoid"),
        ],
    )
    def test_a_name_that_fits_or_is_unknown_saves_without_a_question(self, client, physician, patient, data, category):
        response = client.get(_add_url(patient))
        assert "keep_category" not in response.context["form"].fields
        assert client.post(_add_url(patient), data).status_code == 302
        assert Medication.objects.get().category == category

    def test_a_nephrotoxic_drug_under_immunosuppressant_proposes_nephrotoxic(self, client, physician, patient):
        response = client.post(_add_url(patient), {"category": "immunosuppressant", "name": "Gentamicin"})
        assert response.context["form"].errors["category"] == [
            "Gentamicin is one of the aminoglycosides (ATC J01G): choose 'Nephrotoxic (boxed-warning renal risk)' "
            "so the renal flag counts it, or tick 'Keep the category as entered' and say why."
        ]


class TestEditForm:
    def test_renaming_into_a_recognised_drug_is_checked(self, client, physician, patient):
        record = MedicationFactory(patient=patient, category="other", name="Vitamin D", daily_dose_mg=None)
        response = client.post(_edit_url(patient, record), {"category": "other", "name": "Ibuprofen"})
        assert response.status_code == 200
        assert "non-steroidal anti-inflammatory drugs (ATC M01A)" in response.context["form"].errors["category"][0]
        assert Medication.objects.get().name == "Vitamin D"

    def test_a_kept_category_stays_through_an_edit_that_changes_neither_name_nor_category(
        self, client, physician, patient
    ):
        record = MedicationFactory(patient=patient, category="other", name="Estradiol", daily_dose_mg=None)
        data = {"category": "other", "name": "Estradiol", "stopped_on": "2026-11-20"}
        assert client.post(_edit_url(patient, record), data).status_code == 302
        record.refresh_from_db()
        assert record.stopped_on == date(2026, 11, 20)
        assert record.history.first().history_change_reason == "edited"


class TestServices:
    def test_the_service_refuses_at_category_for_any_caller(self, patient, make_user):
        with pytest.raises(ValidationError) as caught:
            medication_record(by=make_user("physician"), patient=patient, category="other", name="Ethinylestradiol")
        assert caught.value.message_dict["category"][0].startswith("Ethinylestradiol is one of the estrogens")
        assert not Medication.objects.exists()

    def test_the_service_keeps_a_category_with_a_reason(self, patient, make_user):
        medication = medication_record(
            by=make_user("physician"),
            patient=patient,
            category="anticoagulant",
            name="Prednisolone",
            daily_dose_mg=Decimal("5"),
            category_kept_because="test entry",
        )
        assert medication.history.get().history_change_reason == "category kept: test entry"

    def test_a_reason_too_long_for_the_history_is_refused_not_cut(self, patient, make_user):
        with pytest.raises(ValidationError) as caught:
            medication_record(
                by=make_user("physician"),
                patient=patient,
                category="other",
                name="Estradiol",
                category_kept_because="x" * 76,
            )
        assert caught.value.message_dict == {"category_kept_because": ["Say it in 75 characters or fewer."]}

    def test_an_edit_keeping_a_category_has_the_whole_reason_in_the_history(self, patient, make_user):
        record = MedicationFactory(patient=patient, category="other", name="Vitamin D", daily_dose_mg=None)
        reason = "y" * 75
        clinical_record_update(by=make_user("physician"), record=record, name="Estriol", category_kept_because=reason)
        assert record.history.first().history_change_reason == f"edited; category kept: {reason}"

    def test_an_update_into_a_mismatch_needs_the_reason(self, patient, make_user):
        record = MedicationFactory(patient=patient)  # prednisone, glucocorticoid
        with pytest.raises(ValidationError) as caught:
            clinical_record_update(by=make_user("physician"), record=record, category="immunosuppressant")
        assert "choose 'Glucocorticoid'" in caught.value.message_dict["category"][0]
        assert Medication.objects.get().category == "glucocorticoid"

    def test_only_a_medication_has_a_category_to_keep(self, patient, make_user):
        with pytest.raises(TypeError, match="category_kept_because"):
            clinical_record_create(
                by=make_user("physician"),
                model=LabResult,
                patient=patient,
                test="ck",
                collected_on=date(2026, 11, 1),
                value=Decimal("300"),
                category_kept_because="no",
            )


class TestMedicationList:
    def test_the_list_names_the_atc_class_and_each_glucocorticoids_prednisone_equivalent(
        self, client, physician, patient
    ):
        MedicationFactory(patient=patient, category="glucocorticoid", name="Methylprednisolone", daily_dose_mg=16)
        MedicationFactory(patient=patient, category="glucocorticoid", name="Budesonide", daily_dose_mg=9)
        MedicationFactory(patient=patient, category="estrogen", name="Estradiol", daily_dose_mg=None)
        MedicationFactory(patient=patient, category="other", name="Vitamin D", daily_dose_mg=None)
        html = client.get(patient.get_absolute_url()).content.decode()
        section = html[html.index('id="medications"') : html.index('id="labs"')]
        assert 'glucocorticoids <span class="source">ATC H02AB</span>' in section
        assert (
            'estrogens and estrogen-containing contraceptives <span class="source">ATC G03A, G03C, G03F</span>'
            in section
        )
        assert section.count("not recognised") == 1  # Vitamin D
        assert '16 <span class="unit">mg/day</span>' in section
        assert '= 20.0 <span class="unit">mg prednisone</span>' in section
        assert "not converted to prednisone (no equivalence in the table)" in section  # budesonide
        assert "Prednisone equivalents: BNF, &#x27;Glucocorticoid therapy&#x27;" in section

    def test_no_source_line_without_a_glucocorticoid(self, client, physician, patient):
        MedicationFactory(patient=patient, category="other", name="Vitamin D", daily_dose_mg=None)
        assert "Prednisone equivalents" not in client.get(patient.get_absolute_url()).content.decode()
