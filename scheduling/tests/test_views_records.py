"""The infusion record pages: session detail, start/stop form, the four part forms, completion."""

import re
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from dosing.models import Product
from dosing.services.catalog import presentation_gtin_add
from dosing.tests.factories import site_first_step_factor, verified
from patients.tests.factories import RiskFactorFactory
from scheduling.models import InfusionRecord, LotUsage, RateChange, Reaction, SessionStatus, VitalSigns
from scheduling.services import records as services
from scheduling.tests.factories import CHECK_ACCEPTED, CHECK_ACCEPTED_POST, NY, fresh_chart, local, make_session, vitals


@pytest.fixture(autouse=True)
def usual_first_step(db):
    # The fixture patients are IVIG-naive, so each session here is a first infusion. These tests are
    # about the label's ladder: a site with no slower first step (factor 1). The slower first step
    # is tested in scheduling/tests/test_first_infusion_ladder.py.
    site_first_step_factor(1)


UNKNOWN = "00000000-0000-0000-0000-000000000000"
WRITERS_REFUSED = ["viewer", "pharmacist", "physician"]
PART_MODELS = {"rates": RateChange, "vitals": VitalSigns, "lots": LotUsage, "reactions": Reaction}


def detail_url(session) -> str:
    return reverse("scheduling:session_detail", kwargs={"session_uuid": session.uuid})


def edit_url(session) -> str:
    return reverse("scheduling:record_edit", kwargs={"session_uuid": session.uuid})


def part_url(session, part: str) -> str:
    return reverse("scheduling:record_add_part", kwargs={"session_uuid": session.uuid, "part": part})


def complete_url(session) -> str:
    return reverse("scheduling:record_complete", kwargs={"session_uuid": session.uuid})


def unknown(name: str, **kwargs) -> str:
    return reverse(f"scheduling:{name}", kwargs={"session_uuid": UNKNOWN, **kwargs})


@pytest.fixture
def nurse(make_user):
    return make_user("nurse")


@pytest.fixture
def session(make_order, nurse, frozen_today):
    return make_session(verified(make_order()), by=nurse)


@pytest.fixture
def started(session, nurse):
    services.record_start(**CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5), expected_version=1)
    session.refresh_from_db()
    return session


def climb(session, by):
    """Step 2 at 09:35 and step 3 at 10:05 (84 and 168 mL/h): by 11:50 the rates deliver 357 mL."""
    for at, rate, step in ((local(9, 35), "84", 2), (local(10, 5), "168", 3)):
        services.rate_change_record(by=by, session=session, at=at, rate_ml_per_h=Decimal(rate), step_number=step)


# GS1 prefix 952 is kept for demonstrations and examples: these GTINs are no real product's.
OCTAGAM_30, PRIVIGEN_10 = "09520000000301", "09520000000998"


@pytest.fixture
def octagam_30_on_file(make_user):
    """Octagam 10% 30 g and Privigen 10 g with demo GTINs, as a pharmacist adds them."""
    pharmacist = make_user("pharmacist")
    for slug, size, gtin in [("octagam-10", "30", OCTAGAM_30), ("privigen", "10", PRIVIGEN_10)]:
        presentation_gtin_add(
            by=pharmacist, product=Product.objects.get(slug=slug), vial_size_g=size, gtin=gtin, source="test carton"
        )


def nurse_client(client, nurse):
    client.force_login(nurse)
    return client


PART_FORMS = {
    "rates": {"at": "2026-11-22T09:35", "step_number": "2", "rate_ml_per_h": "84.0", "reason": "tolerated"},
    "vitals": {
        "phase": "during",
        "at": "2026-11-22T09:40",
        "systolic_mmhg": "122",
        "diastolic_mmhg": "76",
        "heart_rate_bpm": "70",
        "temperature_c": "36.7",
        "spo2_percent": "98",
        "respiratory_rate": "",
    },
    "lots": {"lot_number": "B0042", "vial_size_g": "30", "vials": "2", "expiry_date": "2027-05-31"},
    "reactions": {
        "at": "2026-11-22T10:10",
        "type": "headache",
        "description": "",
        "severity": "mild",
        "action": "slowed",
        "resumed_rate_ml_per_h": "",
    },
}


@pytest.mark.django_db
class TestSessionDetail:
    def test_shows_the_plan_with_clock_times_and_units(self, role_client, session):
        response = role_client("viewer").get(detail_url(session))
        assert response.status_code == 200
        html = response.content.decode()
        # 70 kg worked example: 42 -> 84 -> 168 mL/h from a 09:00 planned start.
        for text in ("09:00–09:30", "09:30–10:00", "10:00–13:48", "42.0", "84.0", "168.0", "mL/h", "mg/kg/min"):
            assert text in html
        assert '700 <span class="unit">mL</span>' in html
        assert "data-at-risk" not in html and "Other active risk flags" in html  # informational flags only
        assert "Start the infusion" not in html  # a viewer gets no buttons

    def test_nurse_sees_the_start_button(self, client, nurse, session):
        html = nurse_client(client, nurse).get(detail_url(session)).content.decode()
        assert "Start the infusion" in html and edit_url(session) in html

    def test_at_risk_flags_are_prominent(self, role_client, make_order, nurse, dm_patient, frozen_today):
        RiskFactorFactory(patient=dm_patient, kind="venous_thrombosis", noted_on=date(2024, 1, 1))
        session = make_session(verified(make_order()), by=nurse)
        response = role_client("viewer").get(detail_url(session))
        html = response.content.decode()
        assert response.context["at_risk_flags"]
        assert 'data-at-risk="yes"' in html and "At risk of thrombosis or renal dysfunction" in html
        assert "138.6" in html

    def test_shows_the_record_so_far(self, client, nurse, started):
        services.rate_change_record(
            by=nurse, session=started, at=local(9, 35), rate_ml_per_h=Decimal("84"), step_number=2
        )
        services.vitals_record(by=nurse, session=started, **vitals("during", local(9, 40)))
        html = nurse_client(client, nurse).get(detail_url(started)).content.decode()
        assert "09:05" in html and "124/78" in html and "mmHg" in html
        assert "From actual start" in html and "09:05–09:35" in html
        assert "infusion started" in html  # the history

    def test_a_voided_lot_is_struck_through_in_its_grams_too(self, client, nurse, started):
        # It no longer counts in the grams opened: its row must not read as 10 g opened.
        lot = services.lot_record(
            by=nurse,
            session=started,
            lot_number="WRONG1",
            vial_size_g=Decimal("10"),
            vials=1,
            expiry_date=date(2027, 1, 1),
        )
        services.entry_void(by=nurse, session=started, entry_id=lot.uuid, reason="lot number mistyped")
        html = nurse_client(client, nurse).get(detail_url(started)).content.decode()
        row = re.search(rf'<tr data-entry="{lot.uuid}".*?</tr>', html, re.S).group()
        assert re.findall(r"<del>(.*?)</del>", row) == [
            "WRONG1",
            '1 × 10 <span class="unit">g</span>',
            '10 <span class="unit">g</span>',
        ]
        assert "lot number mistyped" in row and "Void…" not in row

    def test_each_step_may_begin_by_the_clock(self, client, nurse, started):
        with time_machine.travel(local(9, 45), tick=False):
            response = nurse_client(client, nurse).get(detail_url(started))
        html = response.content.decode()
        assert [step["may_begin"].astimezone(NY).strftime("%H:%M") for step in response.context["ladder"]] == [
            "09:05",
            "09:30",
            "10:00",
        ]
        assert "may begin from 09:30" in html and "may begin from 10:00" in html
        assert "Limit at 09:45: step 2, 84.0 mL/h. Step 3 may begin from 10:00 (local time)." in html

    def test_after_a_resumption_the_steps_begin_again_from_it(self, client, nurse, started):
        for at, rate, step in ((local(9, 35), "84", 2), (local(10, 5), "168", 3)):
            services.rate_change_record(by=nurse, session=started, at=at, rate_ml_per_h=Decimal(rate), step_number=step)
        services.reaction_record(
            by=nurse,
            session=started,
            at=local(10, 15),
            type="headache",
            severity="moderate",
            action="resumed",
            resumed_rate_ml_per_h=Decimal("42"),
        )
        with time_machine.travel(local(10, 20), tick=False):
            html = nurse_client(client, nurse).get(detail_url(started)).content.decode()
        assert "may begin from 10:40" in html and "may begin from 11:10" in html
        assert "counted again from the resumption at step 1 at 10:15" in html
        assert "Limit at 10:20: step 1, 42.0 mL/h. Step 2 may begin from 10:40 (local time)." in html

    def test_before_the_start_no_step_clock(self, client, nurse, session):
        html = nurse_client(client, nurse).get(detail_url(session)).content.decode()
        assert "may begin from" not in html and "Limit at" not in html

    def test_unknown_session_404(self, role_client):
        assert role_client("viewer").get(unknown("session_detail")).status_code == 404

    def test_post_405(self, client, nurse, session):
        assert nurse_client(client, nurse).post(detail_url(session)).status_code == 405


@pytest.mark.django_db
class TestRecordEdit:
    def test_start(self, client, nurse, session):
        response = nurse_client(client, nurse).post(
            edit_url(session),
            {**CHECK_ACCEPTED_POST, "stage": "start", "started_at": "2026-11-22T09:05", "expected_version": "1"},
        )
        assert response.status_code == 302 and response.url == detail_url(session)
        session.refresh_from_db()
        assert session.status == SessionStatus.IN_PROGRESS
        assert InfusionRecord.objects.get().started_at == local(9, 5)

    def test_stale_start_writes_nothing(self, client, nurse, session):
        response = nurse_client(client, nurse).post(
            edit_url(session),
            {**CHECK_ACCEPTED_POST, "stage": "start", "started_at": "2026-11-22T09:05", "expected_version": "7"},
        )
        assert response.status_code == 409
        assert "This session was changed by" in response.content.decode()
        assert not InfusionRecord.objects.exists()

    def test_a_post_without_the_start_stage_before_any_start_is_a_start_not_a_server_error(
        self, client, nurse, session
    ):
        # Found by fuzzing: without stage=start the view built the edit form from a record that
        # does not exist yet (AttributeError, 500).
        response = nurse_client(client, nurse).post(edit_url(session), {"started_at": "", "expected_version": "1"})
        assert response.status_code == 200
        assert "started_at" in response.context["form"].errors
        assert not InfusionRecord.objects.exists()

    def test_start_time_error_at_the_field(self, client, nurse, session):
        response = nurse_client(client, nurse).post(
            edit_url(session),
            {**CHECK_ACCEPTED_POST, "stage": "start", "started_at": "2026-11-22T15:00", "expected_version": "1"},
        )
        assert "in the future" in response.context["form"].errors["started_at"][0]
        assert not InfusionRecord.objects.exists()

    def test_update_after_start(self, client, nurse, started):
        climb(started, nurse)
        current = InfusionRecord.objects.get()
        client = nurse_client(client, nurse)
        form = client.get(edit_url(started)).context["form"]
        assert form.initial["expected_version"] == current.version
        data = {
            "started_at": "2026-11-22T09:05",
            "stopped_at": "2026-11-22T11:50",
            "volume_given_ml": "350.0",
            "grams_wasted": "",
            "notes": "Slowed for headache.",
            "expected_version": str(current.version),
        }
        assert client.post(edit_url(started), data).status_code == 302
        current.refresh_from_db()
        assert current.stopped_at == local(11, 50) and current.volume_given_ml == Decimal("350.0")

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"volume_given_ml": "800"}, "volume_given_ml"),
            ({"stopped_at": "2026-11-22T08:00"}, "stopped_at"),
            ({"grams_wasted": "5"}, "grams_wasted"),
            ({"stopped_at": "soon"}, "stopped_at"),
        ],
    )
    def test_invalid_update_at_the_field_writes_nothing(self, client, nurse, started, overrides, field):
        current = InfusionRecord.objects.get()
        data = {
            "started_at": "2026-11-22T09:05",
            "stopped_at": "2026-11-22T11:50",
            "volume_given_ml": "650",
            "grams_wasted": "0",
            "notes": "",
            "expected_version": str(current.version),
        } | overrides
        response = nurse_client(client, nurse).post(edit_url(started), data)
        assert response.status_code == 200 and field in response.context["form"].errors
        current.refresh_from_db()
        assert current.stopped_at is None and current.volume_given_ml is None

    @pytest.mark.parametrize("role", WRITERS_REFUSED)
    def test_others_may_not_write(self, role_client, session, role):
        client = role_client(role)
        assert client.get(edit_url(session)).status_code == 403
        response = client.post(
            edit_url(session),
            {**CHECK_ACCEPTED_POST, "stage": "start", "started_at": "2026-11-22T09:05", "expected_version": "1"},
        )
        assert response.status_code == 403
        assert not InfusionRecord.objects.exists()

    def test_unknown_session_404(self, client, nurse):
        assert nurse_client(client, nurse).get(unknown("record_edit")).status_code == 404

    def test_wrong_method_405(self, client, nurse, session):
        assert nurse_client(client, nurse).put(edit_url(session)).status_code == 405

    def test_closed_session_goes_back_to_the_page(self, client, nurse, session):
        session.status = SessionStatus.CANCELLED
        session.save()
        response = nurse_client(client, nurse).post(
            edit_url(session),
            {**CHECK_ACCEPTED_POST, "stage": "start", "started_at": "2026-11-22T09:05", "expected_version": "1"},
        )
        assert response.status_code == 302 and not InfusionRecord.objects.exists()


@pytest.mark.django_db
class TestRecordAddPart:
    @pytest.mark.parametrize("part", list(PART_FORMS))
    def test_each_part_is_recorded(self, client, nurse, started, part):
        client = nurse_client(client, nurse)
        assert client.get(part_url(started, part)).status_code == 200
        response = client.post(part_url(started, part), PART_FORMS[part])
        assert response.status_code == 302 and response.url == f"{detail_url(started)}#{part}"
        assert PART_MODELS[part].objects.count() == 1

    @pytest.mark.parametrize(
        ("part", "overrides", "field", "message"),
        [
            ("rates", {"rate_ml_per_h": "124"}, "rate_ml_per_h", "124.0 mL/h is above this step's limit of 84.0 mL/h"),
            ("rates", {"rate_ml_per_h": "84.1"}, "rate_ml_per_h", "Do not exceed the plan."),
            ("rates", {"step_number": "4"}, "step_number", ""),
            ("rates", {"rate_ml_per_h": "-5"}, "rate_ml_per_h", "cannot be negative"),
            ("lots", {"vial_size_g": "20"}, "vial_size_g", ""),
            ("lots", {"expiry_date": "2026-11-01"}, "expiry_date", "expired on 2026-11-01"),
            ("lots", {"lot_number": ""}, "lot_number", ""),
            ("vitals", {"diastolic_mmhg": "140"}, "diastolic_mmhg", "not below"),
            ("reactions", {"action": "resumed", "resumed_rate_ml_per_h": "50"}, "resumed_rate_ml_per_h", "42.0"),
            ("reactions", {"action": "resumed"}, "resumed_rate_ml_per_h", "Enter the rate"),
        ],
    )
    def test_invalid_at_the_field_writes_nothing(self, client, nurse, started, part, overrides, field, message):
        response = nurse_client(client, nurse).post(part_url(started, part), PART_FORMS[part] | overrides)
        assert response.status_code == 200
        errors = response.context["form"].errors[field]
        assert message in errors[0]
        assert not PART_MODELS[part].objects.exists()

    def test_a_scan_fills_the_lot_and_the_record_page_shows_its_gtin(self, client, nurse, started, octagam_30_on_file):
        client = nurse_client(client, nurse)
        form = client.get(part_url(started, "lots"))
        assert "Scan (GS1 DataMatrix)" in form.content.decode()
        scan = {"gs1": f"]d201{OCTAGAM_30}17271231101234AB", "lot_number": "", "vial_size_g": "", "vials": "2"}
        response = client.post(part_url(started, "lots"), scan | {"expiry_date": ""})
        assert response.status_code == 302
        lot = LotUsage.objects.get()
        assert (lot.lot_number, lot.vial_size_g, lot.expiry_date, lot.gtin) == (
            "1234AB", Decimal("30"), date(2027, 12, 31), OCTAGAM_30
        )  # fmt: skip
        page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get(detail_url(started)).content.decode()))
        assert f"1234AB {OCTAGAM_30} scanned 2 × 30 g 60 g 2027-12-31" in page

    @pytest.mark.parametrize(
        ("gs1", "message"),
        [
            (f"]d201{PRIVIGEN_10}17271231101234AB", "This vial is Privigen 10%, 10 g; the order is for Octagam 10%."),
            ("]d20109520000000035172712311012", "GTIN 09520000000035 is not on file: a pharmacist can add it"),
            (f"]d201{OCTAGAM_30}17261031101234AB", "This lot expired on 2026-10-31, before the infusion day"),
            ("hello", "This is not a GS1 barcode the clinic can read"),
        ],
    )
    def test_a_refused_scan_shows_next_to_the_scan_and_writes_nothing(
        self, client, nurse, started, octagam_30_on_file, gs1, message
    ):
        response = nurse_client(client, nurse).post(
            part_url(started, "lots"), {"gs1": gs1, "vials": "1", "lot_number": "", "vial_size_g": ""}
        )
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert list(errors) == ["gs1"] and message in errors["gs1"][0]
        assert message.split(":")[0] in response.content.decode().replace("&#x27;", "'")
        assert not LotUsage.objects.exists()

    def test_without_a_scan_the_vial_size_is_asked_for(self, client, nurse, started):
        response = nurse_client(client, nurse).post(part_url(started, "lots"), PART_FORMS["lots"] | {"vial_size_g": ""})
        assert response.context["form"].errors["vial_size_g"] == ["Choose the vial size, or scan the vial."]
        assert not LotUsage.objects.exists()

    def test_the_rate_form_shows_the_limit_in_force_now(self, client, nurse, started):
        with time_machine.travel(local(9, 20), tick=False):
            response = nurse_client(client, nurse).get(part_url(started, "rates"))
        assert response.context["form"].fields["rate_ml_per_h"].help_text == (
            "Limit at 09:20: step 1, 42.0 mL/h. Step 2 may begin from 09:30 (local time). 0 mL/h means paused."
        )
        assert "from 09:30" in response.content.decode()

    def test_a_step_too_early_is_refused_at_its_fields(self, client, nurse, started):
        form = PART_FORMS["rates"] | {"at": "2026-11-22T09:20"}
        response = nurse_client(client, nurse).post(part_url(started, "rates"), form)
        errors = response.context["form"].errors
        assert errors["step_number"][0].startswith("Too early for step 2: at 09:20")
        assert "Step 2 may begin from 09:30 (local time)." in errors["rate_ml_per_h"][0]
        assert not RateChange.objects.exists()

    def test_rates_need_the_start(self, client, nurse, session):
        response = nurse_client(client, nurse).post(part_url(session, "rates"), PART_FORMS["rates"])
        assert "Record the start of the infusion first." in response.content.decode()
        assert not InfusionRecord.objects.exists()

    @pytest.mark.parametrize("role", WRITERS_REFUSED)
    @pytest.mark.parametrize("part", list(PART_FORMS))
    def test_others_may_not_write(self, role_client, started, role, part):
        assert role_client(role).post(part_url(started, part), PART_FORMS[part]).status_code == 403
        assert not PART_MODELS[part].objects.exists()

    def test_unknown_part_404(self, client, nurse, started):
        client = nurse_client(client, nurse)
        assert client.get(part_url(started, "medications")).status_code == 404
        assert client.post(part_url(started, "medications"), PART_FORMS["rates"]).status_code == 404

    def test_unknown_session_404(self, client, nurse):
        assert nurse_client(client, nurse).get(unknown("record_add_part", part="vitals")).status_code == 404

    def test_wrong_method_405(self, client, nurse, started):
        assert nurse_client(client, nurse).put(part_url(started, "vitals")).status_code == 405


@pytest.mark.django_db
class TestRecordComplete:
    def fill(self, session, by):
        services.vitals_record(by=by, session=session, **vitals("before", local(9)))
        services.lot_record(
            by=by, session=session, lot_number="A1", vial_size_g=Decimal("30"), vials=2, expiry_date=date(2027, 1, 1)
        )
        climb(session, by)
        current = InfusionRecord.objects.get()
        services.record_update(
            by=by,
            session=session,
            stopped_at=local(11, 50),
            volume_given_ml=Decimal("350"),
            grams_wasted=Decimal("0"),
            notes="",
            expected_version=current.version,
        )
        services.vitals_record(by=by, session=session, **vitals("after", local(11, 55)))
        return InfusionRecord.objects.get()

    def test_complete_after_the_summary_is_confirmed(self, client, nurse, started):
        current = self.fill(started, nurse)
        client = nurse_client(client, nurse)
        assert "Check and complete the infusion" in client.get(detail_url(started)).content.decode()
        summary = client.get(complete_url(started))
        html = summary.content.decode()
        figures = {
            "grams_opened": '60 <span class="unit">g</span>',
            "grams_given": '35 <span class="unit">g</span>',
            "volume_given_ml": '350 <span class="unit">mL</span>',
            "minutes": '09:05–11:50, 165 <span class="unit">min</span>',
        }
        for name, figure in figures.items():
            assert f'data-figure="{name}">{figure}' in html, name
        assert "Completing will send this to the prescriber" in html  # 350 of 700 mL: stopped early
        unconfirmed = client.post(complete_url(started), {"expected_version": str(current.version)})
        assert unconfirmed.status_code == 200
        assert "Check the summary (grams, volume, time) and confirm it to complete." in unconfirmed.content.decode()
        assert InfusionRecord.objects.get().completed_at is None
        response = client.post(complete_url(started), {"expected_version": str(current.version), "confirm": "on"})
        assert response.status_code == 302 and response.url == detail_url(started)
        started.refresh_from_db()
        assert started.status == SessionStatus.COMPLETED
        assert InfusionRecord.objects.get().completed_by == nurse

    def test_missing_prerequisites_shown_and_nothing_written(self, client, nurse, started):
        current = InfusionRecord.objects.get()
        response = nurse_client(client, nurse).post(complete_url(started), {"expected_version": str(current.version)})
        assert response.status_code == 200
        html = response.content.decode()
        assert "Before completing, record the stop time" in html
        started.refresh_from_db()
        assert started.status == SessionStatus.IN_PROGRESS

    def test_stale_version_refused(self, client, nurse, started):
        current = self.fill(started, nurse)
        response = nurse_client(client, nurse).post(
            complete_url(started), {"expected_version": str(current.version - 1), "confirm": "on"}
        )
        assert response.status_code == 409
        assert "This infusion record was changed by" in response.content.decode()
        assert InfusionRecord.objects.get().completed_at is None

    def test_an_impossible_volume_is_shown_and_cannot_be_confirmed(self, client, nurse, started):
        current = self.fill(started, nurse)
        # 09:05 to 11:50 delivers 357 mL at the rates recorded; void the step 3 rate and it is 210 mL.
        step3 = current.rate_changes.get(step_number=3)
        page = nurse_client(client, nurse).get(reverse("scheduling:entry_void", args=[started.uuid, step3.uuid]))
        assert "Void the pump rate 168.0 mL/h at 10:05" in page.content.decode()
        response = client.post(
            reverse("scheduling:entry_void", args=[started.uuid, step3.uuid]), {"reason": "never set on the pump"}
        )
        assert response.status_code == 302 and response.url == f"{detail_url(started)}#rates"
        html = client.get(complete_url(started)).content.decode()
        assert "350.0 mL cannot have been given between 09:05 and 11:50" in html
        assert "deliver 210.0 mL in that time (at most 214.2 mL with the 2 % tolerance)" in html
        assert 'name="confirm"' not in html
        refused = client.post(
            complete_url(started), {"expected_version": str(InfusionRecord.objects.get().version), "confirm": "on"}
        )
        assert refused.status_code == 200 and InfusionRecord.objects.get().completed_at is None

    @pytest.mark.parametrize("role", WRITERS_REFUSED)
    def test_others_may_not_complete(self, role_client, nurse, started, role):
        current = self.fill(started, nurse)
        assert (
            role_client(role)
            .post(complete_url(started), {"expected_version": str(current.version), "confirm": "on"})
            .status_code
            == 403
        )
        assert InfusionRecord.objects.get().completed_at is None

    def test_unknown_session_404(self, client, nurse):
        assert (
            nurse_client(client, nurse).post(unknown("record_complete"), {"expected_version": "1"}).status_code == 404
        )


@pytest.mark.django_db
class TestTwoBrowsersOnOneRecord:
    """Two nurses at one chair, both pages opened on the same record."""

    @staticmethod
    def browser(user):
        from django.test import Client

        client = Client()
        client.force_login(user)
        return client

    def record_form(self, version, **overrides):
        return {
            "started_at": "2026-11-22T09:05",
            "stopped_at": "",
            "volume_given_ml": "",
            "grams_wasted": "",
            "notes": "",
            "expected_version": str(version),
        } | overrides

    def test_second_edit_from_the_same_version_is_refused(self, make_user, started):
        first = self.browser(make_user("nurse", first_name="Ana", last_name="Lima"))
        second = self.browser(make_user("nurse"))
        version = first.get(edit_url(started)).context["form"].initial["expected_version"]
        assert second.get(edit_url(started)).context["form"].initial["expected_version"] == version

        assert first.post(edit_url(started), self.record_form(version, notes="Slowed for headache.")).status_code == 302
        response = second.post(edit_url(started), self.record_form(version, notes="Tolerated well."))

        assert response.status_code == 409
        assert response.context["form"].non_field_errors() == [
            "This infusion record was changed by Ana Lima at 2026-11-22 12:00 (now: In progress) after you opened "
            "it. Nothing was saved — review the infusion record as it is now and try again."
        ]
        current = InfusionRecord.objects.get()
        assert (current.notes, current.version) == ("Slowed for headache.", version + 1)
        assert response.context["form"]["expected_version"].value() == str(version + 1)

    def test_two_starts_from_the_same_page_version(self, make_user, session):
        first, second = self.browser(make_user("nurse")), self.browser(make_user("nurse"))
        start = {**CHECK_ACCEPTED_POST, "stage": "start", "started_at": "2026-11-22T09:05", "expected_version": "1"}
        assert first.post(edit_url(session), start).status_code == 302
        response = second.post(edit_url(session), start | {"started_at": "2026-11-22T09:10"})
        assert response.status_code == 409
        assert "(now: In progress)" in response.content.decode()
        assert InfusionRecord.objects.get().started_at == local(9, 5)

    def test_parts_added_from_two_pages_are_both_kept(self, make_user, started):
        # Parts are only ever added, and checked under the session lock against the record as it
        # is then (start, stop, limits, completion): neither entry can overwrite the other, so
        # a colleague's entry does not refuse one's own.
        first, second = self.browser(make_user("nurse")), self.browser(make_user("nurse"))
        first.get(part_url(started, "vitals"))
        second.get(part_url(started, "rates"))
        assert first.post(part_url(started, "vitals"), PART_FORMS["vitals"]).status_code == 302
        assert second.post(part_url(started, "rates"), PART_FORMS["rates"]).status_code == 302
        assert (VitalSigns.objects.count(), RateChange.objects.count()) == (1, 1)

    def test_a_part_after_completion_is_refused(self, client, nurse, started):
        current = TestRecordComplete().fill(started, nurse)
        services.record_complete(by=nurse, session=started, expected_version=current.version, confirm=True)
        response = nurse_client(client, nurse).post(part_url(started, "vitals"), PART_FORMS["vitals"])
        assert response.status_code == 200
        assert VitalSigns.objects.count() == current.vitals.count()


@pytest.mark.django_db
class TestBedsideInstructionsOnTheSessionPage:
    """The order's bedside instructions and an overridden contraindication reach the chair."""

    def test_instructions_with_their_clock_times(self, client, nurse, make_order, frozen_today):
        order = make_order(
            premedications=[
                {
                    "drug": "diphenhydramine",
                    "dose": Decimal("25"),
                    "dose_unit": "mg",
                    "route": "iv",
                    "minutes_before_start": 30,
                }
            ],
            pre_hydration_fluid="sodium_chloride_0_9",
            pre_hydration_volume_ml=Decimal("500"),
            pre_hydration_rate_ml_per_h=Decimal("500"),
            observation_minutes=30,
            bedside_instructions="Check the cannula site every hour.",
        )
        session = make_session(verified(order), by=nurse)  # planned 09:00, 288 min ladder to 13:48
        html = nurse_client(client, nurse).get(detail_url(session)).content.decode()
        assert 'id="bedside"' in html and "Diphenhydramine" in html and "Intravenous (IV)" in html
        assert "due <strong>08:30</strong>" in html
        assert "Sodium chloride 0.9 %" in html and "08:00–09:00" in html
        assert "observe until <strong>14:18</strong>" in html
        assert "Check the cannula site every hour." in html

    def test_a_session_without_instructions_says_so(self, client, nurse, session):
        html = nurse_client(client, nurse).get(detail_url(session)).content.decode()
        assert "No premedication, hydration, observation or bedside instruction was ordered." in html

    def test_the_overridden_contraindication_with_the_reason(self, client, nurse, make_order, dm_patient, frozen_today):
        dm_patient.iga_status = "deficient_anti_iga"
        dm_patient.save()
        reason = "Benefit outweighs risk; premedicated, slow ladder"
        session = make_session(verified(make_order(override_reason=reason)), by=nurse)
        html = nurse_client(client, nurse).get(detail_url(session)).content.decode()
        assert 'data-override="yes"' in html and reason in html and "IgA" in html


class TestPreInfusionCheckPage:
    def test_the_start_page_shows_the_check_the_flags_and_the_instructions(self, client, nurse, session):
        text = nurse_client(client, nurse).get(edit_url(session)).content.decode()
        assert (
            'data-code="weight" data-check-status="ok"' in text
            and 'data-code="creatinine" data-check-status="missing"' in text
        )
        assert "2026-11-20" in text and "Site policy:" in text
        assert 'id="pre-infusion-flags"' in text and 'id="bedside-instructions"' in text

    def test_a_missing_item_without_acceptance_is_refused_at_the_field(self, client, nurse, session):
        response = nurse_client(client, nurse).post(
            edit_url(session), {"stage": "start", "started_at": "2026-11-22T09:05", "expected_version": "1"}
        )
        assert response.status_code == 200
        assert "Stale or missing before this infusion" in response.context["form"].errors["check_accepted"][0]
        assert "check_reason" in response.context["form"].errors
        assert not InfusionRecord.objects.exists()

    def test_an_all_ok_check_starts_without_acceptance_and_shows_on_the_session(
        self, client, nurse, session, dm_patient
    ):
        fresh_chart(dm_patient)
        browser = nurse_client(client, nurse)
        response = browser.post(
            edit_url(session), {"stage": "start", "started_at": "2026-11-22T09:05", "expected_version": "1"}
        )
        assert response.status_code == 302
        text = browser.get(detail_url(session)).content.decode()
        assert "Pre-infusion check at the start" in text and 'id="pre-infusion-acceptance"' not in text

    def test_an_accepted_start_shows_the_reason_on_the_session(self, client, nurse, session):
        browser = nurse_client(client, nurse)
        browser.post(
            edit_url(session),
            {**CHECK_ACCEPTED_POST, "stage": "start", "started_at": "2026-11-22T09:05", "expected_version": "1"},
        )
        text = browser.get(detail_url(session)).content.decode()
        assert 'id="pre-infusion-acceptance"' in text and "Not what this test is about." in text


@pytest.mark.django_db
def test_next_cycle_sessions_and_sheet_show_last_cycle_note(role_client, make_order, nurse, frozen_today):
    from dosing.services.orders import dose_order_note_last_cycle
    from scheduling.tests.factories import DAY, book_course

    order = verified(make_order())
    course = book_course(order, nurse, DAY, cycles=2, days=1)
    first, second = (cycle.sessions.get() for cycle in course.cycles.order_by("number"))
    note = "Reaction last cycle (moderate headache, 2026-11-22): consider premedication and a slower ladder."
    dose_order_note_last_cycle(order=order, note=note, on=DAY)
    client = role_client("nurse")
    assert note in client.get(detail_url(second)).content.decode()
    assert note not in client.get(detail_url(first)).content.decode()  # the cycle it came from
    sheet = reverse("dosing:order_sheet", args=[order.uuid, 1])
    assert note in client.get(sheet, {"date": second.planned_start.date().isoformat()}).content.decode()
    assert note not in client.get(sheet, {"date": DAY.isoformat()}).content.decode()
