"""Bedside instructions on an order: premedications, hydration, observation and free text.

Kept in the database with constraints, written by dose_order_create in the order's transaction
(a bad one writes nothing), taken by the order form with each error at its field, and shown on
the verify page, the infusion sheet and the order page; the overridden contraindication too.
(The session page is tested with the other record pages, in scheduling.)"""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from dosing.models import DoseOrder, Premedication
from dosing.services.orders import dose_order_verify
from dosing.tests.factories import site_first_step_factor


@pytest.fixture(autouse=True)
def usual_first_step(db):
    # The fixture patients are IVIG-naive, so each session here is a first infusion. These tests are
    # about the label's ladder: a site with no slower first step (factor 1). The slower first step
    # is tested in scheduling/tests/test_first_infusion_ladder.py.
    site_first_step_factor(1)


PARACETAMOL = {
    "drug": "paracetamol",
    "drug_name": "",
    "dose": Decimal("1"),
    "dose_unit": "g",
    "route": "oral",
    "minutes_before_start": 30,
}
CETIRIZINE = PARACETAMOL | {"drug": "cetirizine", "dose": Decimal("10"), "dose_unit": "mg", "minutes_before_start": 60}
HYDRATION = {
    "pre_hydration_fluid": "sodium_chloride_0_9",
    "pre_hydration_volume_ml": Decimal("500"),
    "pre_hydration_rate_ml_per_h": Decimal("250"),
    "post_hydration_fluid": "glucose_5",
    "post_hydration_volume_ml": Decimal("250"),
    "post_hydration_rate_ml_per_h": Decimal("500"),
    "observation_minutes": 60,
    "bedside_instructions": "Cannula in the left arm; patient prefers to sit up.",
}
IGA_REASON = "Benefit outweighs risk; premedicated, slow ladder"


@pytest.fixture
def instructed(make_order, frozen_today):
    return make_order(premedications=[PARACETAMOL, CETIRIZINE], **HYDRATION)


@pytest.fixture
def overridden(make_order, dm_patient, frozen_today):
    dm_patient.iga_status = "deficient_anti_iga"
    dm_patient.save()
    return make_order(override_reason=IGA_REASON, premedications=[PARACETAMOL])


def _counts():
    return DoseOrder.objects.count(), Premedication.objects.count(), Premedication.history.count()


@pytest.mark.django_db
class TestConstraints:
    @pytest.mark.parametrize(
        "changes",
        [
            {"pre_hydration_fluid": "none"},  # volume and rate without a fluid
            {"pre_hydration_volume_ml": None},  # a fluid without its volume
            {"post_hydration_rate_ml_per_h": Decimal("0")},
            {"post_hydration_volume_ml": Decimal("3000.1")},
            {"pre_hydration_fluid": "saline"},  # not on the list
            {"observation_minutes": 481},
        ],
    )
    def test_the_order_refuses_an_incomplete_or_out_of_range_instruction(self, instructed, changes):
        with pytest.raises(IntegrityError), transaction.atomic():
            DoseOrder.objects.filter(pk=instructed.pk).update(**changes)

    @pytest.mark.parametrize(
        "changes",
        [
            {"dose": Decimal("0")},
            {"minutes_before_start": 241},
            {"drug": "aspirin"},
            {"dose_unit": "mcg"},
            {"route": "pr"},  # rectal: not on the list (short enough for the column, so the check decides)
            {"drug": "other"},  # other without a name
            {"drug_name": "Loratadine"},  # a name for a listed drug
        ],
    )
    def test_a_premedication_row_is_checked_by_the_database(self, instructed, changes):
        with pytest.raises(IntegrityError), transaction.atomic():
            Premedication.objects.filter(order=instructed).update(**changes)

    def test_an_order_without_instructions_is_allowed(self, make_order, frozen_today):
        order = make_order()
        assert order.pre_hydration_fluid == "none" and order.observation_minutes == 0
        assert order.bedside["any"] is False


@pytest.mark.django_db
class TestService:
    def test_writes_the_instructions_with_the_order_and_history(self, instructed):
        assert [p.drug_display for p in instructed.premedications.all()] == [
            "Cetirizine",
            "Paracetamol (acetaminophen)",
        ]
        assert instructed.pre_hydration_volume_ml == Decimal("500") and instructed.observation_minutes == 60
        assert instructed.bedside_instructions.startswith("Cannula")
        assert Premedication.history.filter(order_id=instructed.pk).count() == 2
        assert instructed.history.first().bedside_instructions.startswith("Cannula")
        bedside = instructed.bedside
        assert bedside["any"] and bedside["hydrations"][0]["fluid"] == "Sodium chloride 0.9 %"

    def test_other_drug_is_named(self, make_order, frozen_today):
        order = make_order(premedications=[PARACETAMOL | {"drug": "other", "drug_name": "Loratadine"}])
        assert order.premedications.get().drug_display == "Loratadine"

    @pytest.mark.parametrize(
        "kwargs, key",
        [
            ({"premedications": [PARACETAMOL | {"dose": Decimal("0")}]}, "premedications-0-dose"),
            (
                {"premedications": [PARACETAMOL, PARACETAMOL | {"minutes_before_start": 300}]},
                "premedications-1-minutes_before_start",
            ),
            ({"premedications": [PARACETAMOL | {"drug": "other"}]}, "premedications-0-drug_name"),
            ({"premedications": [PARACETAMOL | {"route": "rectal"}]}, "premedications-0-route"),
            ({"premedications": [PARACETAMOL] * 5}, "premedications"),
            ({"pre_hydration_fluid": "sodium_chloride_0_9"}, "pre_hydration_volume_ml"),
            ({"post_hydration_volume_ml": Decimal("100")}, "post_hydration_volume_ml"),
            ({"observation_minutes": 481}, "observation_minutes"),
        ],
    )
    def test_a_bad_instruction_refuses_the_order_and_writes_nothing(self, make_order, frozen_today, kwargs, key):
        before = _counts()
        with pytest.raises(ValidationError) as refused:
            make_order(**kwargs)
        assert key in refused.value.message_dict
        assert _counts() == before

    def test_verification_keeps_the_instructions_as_prescribed(self, instructed, make_user):
        verified = dose_order_verify(by=make_user("pharmacist"), order=instructed)
        assert verified.premedications.count() == 2 and verified.observation_minutes == 60


def _post(client, url, indication, **extra):
    data = {
        "indication": indication.pk,
        "dose_g_per_kg": "2",
        "days": "2",
        "weight_basis": "auto",
        "premedications-TOTAL_FORMS": "4",
        "premedications-INITIAL_FORMS": "0",
        "premedications-MIN_NUM_FORMS": "0",
        "premedications-MAX_NUM_FORMS": "4",
    }
    for index in range(4):
        data |= {f"premedications-{index}-dose_unit": "mg", f"premedications-{index}-route": "oral"}
    data |= extra
    preview = client.post(url, data | {"action": "preview"})
    digest = preview.context["form"]["plan_digest"].value()
    return client.post(url, data | {"action": "place", "plan_digest": digest})


def _row(index: int, **values) -> dict:
    return {f"premedications-{index}-{name}": value for name, value in values.items()}


@pytest.mark.django_db
class TestOrderForm:
    def url(self, patient):
        return reverse("dosing:order_create", kwargs={"patient_uuid": patient.uuid})

    def test_the_form_shows_the_fields_with_their_units(self, role_client, dm_patient, frozen_today):
        html = role_client("physician").get(self.url(dm_patient)).content.decode()
        for label in (
            "Dose (in the unit chosen)",
            "Before the start (min)",
            "Pre-hydration volume (mL)",
            "Post-hydration rate (mL/h)",
            "Observation after the infusion (min)",
            "Instructions for the nurse at the chair",
        ):
            assert label in html
        assert html.count('name="premedications-') >= 4 * 6

    def test_places_the_order_with_its_instructions(self, role_client, dm_patient, dm_indication, frozen_today):
        response = _post(
            role_client("physician"),
            self.url(dm_patient),
            dm_indication,
            **{
                "premedications-0-drug": "paracetamol",
                "premedications-0-dose": "1",
                "premedications-0-dose_unit": "g",
                "premedications-0-minutes_before_start": "30",
                "premedications-1-drug": "other",
                "premedications-1-drug_name": "Loratadine",
                "premedications-1-dose": "10",
                "premedications-1-minutes_before_start": "60",
                "pre_hydration_fluid": "hartmann",
                "pre_hydration_volume_ml": "500",
                "pre_hydration_rate_ml_per_h": "250",
                "observation_minutes": "30",
                "bedside_instructions": "Warm the arm first.",
            },
        )
        order = DoseOrder.objects.get()
        assert response.status_code == 302
        assert [(p.drug_display, p.dose, p.dose_unit) for p in order.premedications.all()] == [
            ("Loratadine", Decimal("10.00"), "mg"),
            ("Paracetamol (acetaminophen)", Decimal("1.00"), "g"),
        ]
        assert order.pre_hydration_fluid == "hartmann" and order.observation_minutes == 30
        assert order.bedside_instructions == "Warm the arm first."

    @pytest.mark.parametrize(
        "extra, form_index, field, message",
        [
            (
                _row(0, drug="paracetamol", dose="0", minutes_before_start="30"),
                0,
                "dose",
                "greater than or equal to 0.01",
            ),
            (_row(2, drug="cetirizine", dose="10", minutes_before_start="241"), 2, "minutes_before_start", "240"),
            (_row(1, drug="other", dose="10", minutes_before_start="30"), 1, "drug_name", "Name the drug"),
            (_row(0, dose="10"), 0, "drug", "This field is required"),
            (
                {"pre_hydration_fluid": "glucose_5", "pre_hydration_volume_ml": "500"},
                None,
                "pre_hydration_rate_ml_per_h",
                "Give the pre-hydration rate (mL/h)",
            ),
            ({"post_hydration_volume_ml": "500"}, None, "post_hydration_volume_ml", "No post-hydration fluid"),
            ({"observation_minutes": "481"}, None, "observation_minutes", "less than or equal to 480"),
            (
                {
                    "pre_hydration_fluid": "glucose_5",
                    "pre_hydration_volume_ml": "1e999",
                    "pre_hydration_rate_ml_per_h": "1",
                },
                None,
                "pre_hydration_volume_ml",
                "",
            ),
        ],
    )
    def test_bad_input_at_the_field_writes_nothing(
        self, role_client, dm_patient, dm_indication, frozen_today, extra, form_index, field, message
    ):
        client = role_client("physician")
        url = self.url(dm_patient)
        data = {
            "indication": dm_indication.pk,
            "dose_g_per_kg": "2",
            "days": "2",
            "weight_basis": "auto",
            "action": "place",
            "premedications-TOTAL_FORMS": "4",
            "premedications-INITIAL_FORMS": "0",
        }
        for index in range(4):
            data |= {f"premedications-{index}-dose_unit": "mg", f"premedications-{index}-route": "oral"}
        response = client.post(url, data | extra)
        assert response.status_code == 200 and DoseOrder.objects.count() == 0 and Premedication.objects.count() == 0
        form = response.context["form"] if form_index is None else response.context["premedications"].forms[form_index]
        assert field in form.errors
        assert message in " ".join(form.errors[field])
        assert "is-invalid" in response.content.decode()

    def test_more_than_four_premedications_are_refused(self, role_client, dm_patient, dm_indication, frozen_today):
        extra = {"premedications-TOTAL_FORMS": "5"}
        for index in range(5):
            extra |= {
                f"premedications-{index}-drug": "paracetamol",
                f"premedications-{index}-dose": "1",
                f"premedications-{index}-dose_unit": "g",
                f"premedications-{index}-minutes_before_start": "30",
            }
        response = _post(role_client("physician"), self.url(dm_patient), dm_indication, **extra)
        assert response.status_code == 200 and DoseOrder.objects.count() == 0
        assert "4" in " ".join(response.context["premedications"].non_form_errors())


@pytest.mark.django_db
class TestPagesShowThem:
    def _assert_instructions(self, html):
        assert "Paracetamol (acetaminophen)" in html and "Cetirizine" in html
        assert "Sodium chloride 0.9 %" in html and "Glucose 5 %" in html
        assert "Cannula in the left arm" in html
        assert '60 <span class="unit">min</span> after the infusion ends' in html

    def test_verify_page(self, role_client, instructed):
        html = role_client("pharmacist").get(reverse("dosing:order_verify", args=[instructed.uuid])).content.decode()
        self._assert_instructions(html)

    def test_order_detail(self, role_client, instructed):
        html = role_client("viewer").get(instructed.get_absolute_url()).content.decode()
        self._assert_instructions(html)

    def test_infusion_sheet_has_the_clock_times(self, role_client, instructed, make_user):
        dose_order_verify(by=make_user("pharmacist"), order=instructed)
        url = reverse("dosing:order_sheet", kwargs={"order_uuid": instructed.uuid, "day": 1})
        html = role_client("nurse").get(url, {"start": "09:00", "date": "2026-11-23"}).content.decode()
        self._assert_instructions(html)
        # 288 min ladder from 09:00 ends 13:48; cetirizine 60 min and paracetamol 30 min before.
        assert "due <strong>08:00</strong>" in html and "due <strong>08:30</strong>" in html
        assert "07:00–09:00" in html  # 500 mL at 250 mL/h, ending at the start
        assert "13:48–14:18" in html  # 250 mL at 500 mL/h after the end
        assert "observe until <strong>14:48</strong>" in html

    def test_an_order_without_instructions_says_so(self, role_client, make_order, frozen_today):
        html = role_client("viewer").get(make_order().get_absolute_url()).content.decode()
        assert "No premedication, hydration, observation or bedside instruction was ordered." in html


@pytest.mark.django_db
class TestOverrideShown:
    def test_on_the_verify_page(self, role_client, overridden):
        html = role_client("pharmacist").get(reverse("dosing:order_verify", args=[overridden.uuid])).content.decode()
        assert 'data-override="yes"' in html and IGA_REASON in html

    def test_on_the_order_page(self, role_client, overridden):
        html = role_client("viewer").get(overridden.get_absolute_url()).content.decode()
        assert 'data-override="yes"' in html and IGA_REASON in html

    def test_on_the_infusion_sheet(self, role_client, overridden, make_user):
        dose_order_verify(by=make_user("pharmacist"), order=overridden)
        url = reverse("dosing:order_sheet", kwargs={"order_uuid": overridden.uuid, "day": 1})
        html = role_client("nurse").get(url).content.decode()
        assert 'data-override="yes"' in html and IGA_REASON in html and "IgA" in html
