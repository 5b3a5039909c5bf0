"""The infusion record services: rate limits from the verified plan, optimistic locking, lots,
vitals, reactions, volume and waste bounds, completion, and the audit history."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from dosing.chart_limits import ladder_times
from dosing.models import Product
from dosing.services.catalog import presentation_gtin_add
from dosing.tests.factories import site_first_step_factor, verified
from patients.tests.factories import LabResultFactory, RiskFactorFactory
from scheduling.models import (
    InfusionRecord,
    LotUsage,
    RateChange,
    Reaction,
    SessionStatus,
    UnitSettings,
    VitalSigns,
)
from scheduling.services import records as services
from scheduling.tests.factories import CHECK_ACCEPTED, DAY, NY, fresh_chart, local, make_session, vitals


@pytest.fixture(autouse=True)
def usual_first_step(db):
    # The fixture patients are IVIG-naive, so each session here is a first infusion. These tests are
    # about the label's ladder: a site with no slower first step (factor 1). The slower first step
    # is tested in scheduling/tests/test_first_infusion_ladder.py.
    site_first_step_factor(1)


NOW = local(14)


def messages_at(exc: pytest.ExceptionInfo, field: str | None = None) -> list[str]:
    error = exc.value
    if field is None:
        return error.messages
    return error.message_dict.get(field, [])


@pytest.fixture
def nurse(make_user):
    return make_user("nurse")


@pytest.fixture
def order(make_order):
    return verified(make_order())


@pytest.fixture
def at_risk_order(make_order, dm_patient):
    RiskFactorFactory(patient=dm_patient, kind="venous_thrombosis", noted_on=date(2024, 5, 1))
    return verified(make_order())


@pytest.fixture
def session(order, nurse):
    return make_session(order, by=nurse)


@pytest.fixture
def started(session, nurse):
    services.record_start(
        **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5), expected_version=1, now=NOW
    )
    session.refresh_from_db()
    return session


def record(session) -> InfusionRecord:
    return InfusionRecord.objects.get(session=session)


def climb(session, by):
    """The 70 kg ladder as run from a 09:05 start: step 2 at 09:35, step 3 at 10:05 (42, 84,
    168 mL/h), so the rates can deliver the day's 700 mL by 13:55 (707 mL)."""
    for at, rate, step in ((local(9, 35), "84", 2), (local(10, 5), "168", 3)):
        services.rate_change_record(
            by=by, session=session, at=at, rate_ml_per_h=Decimal(rate), step_number=step, now=NOW
        )


def fill_for_completion(session, by, **skip):
    """Everything completion needs, except the parts named in `skip`."""
    if "before" not in skip:
        services.vitals_record(by=by, session=session, **vitals("before", local(9, 0)), now=NOW)
    if "lots" not in skip:
        services.lot_record(
            by=by,
            session=session,
            lot_number="A123",
            vial_size_g=Decimal("30"),
            vials=2,
            expiry_date=date(2027, 6, 30),
            now=NOW,
        )
    climb(session, by)
    current = record(session)
    services.record_update(
        by=by,
        session=session,
        stopped_at=None if "stop" in skip else local(13, 55),
        volume_given_ml=None if "volume" in skip else Decimal("600"),
        grams_wasted=Decimal("0"),
        notes="",
        expected_version=current.version,
        now=NOW,
    )
    if "after" not in skip:
        services.vitals_record(by=by, session=session, **vitals("after", local(13, 58)), now=NOW)
    return record(session)


# ----------------------------------------------------------------------- the limit of each step


def _plan(**overrides) -> dict:
    plan = {
        "dosing_weight_kg": "70.0",
        "max_rate_ml_per_h": "168.0",
        "max_rate_mg_per_kg_min": "4",
        "rate_steps": [
            {"rate_ml_per_h": "42.0", "rate_mg_per_kg_min": "1"},
            {"rate_ml_per_h": "84.0", "rate_mg_per_kg_min": "2"},
            {"rate_ml_per_h": "168.0", "rate_mg_per_kg_min": "4"},
        ],
    }
    return plan | overrides


@pytest.mark.parametrize(
    ("plan", "step", "limit", "mg_per_kg_min"),
    [
        (_plan(), 1, "42.0", "1"),
        (_plan(), 2, "84.0", "2"),
        (_plan(), 3, "168.0", "4"),
        # A last step reaching past the plan's maximum is held to the maximum.
        (_plan(max_rate_ml_per_h="138.6", max_rate_mg_per_kg_min="3.3"), 3, "138.6", "3.3"),
    ],
)
def test_step_limit_table(plan, step, limit, mg_per_kg_min):
    found = services.step_limit(plan, step)
    assert found.rate_ml_per_h == Decimal(limit)
    assert found.rate_mg_per_kg_min == Decimal(mg_per_kg_min)


@pytest.mark.parametrize("step", [0, 4, -1])
def test_step_limit_unknown_step(step):
    with pytest.raises(ValueError, match="^step_number: "):
        services.step_limit(_plan(), step)


@pytest.mark.parametrize("step", range(1, 4))
def test_no_step_limit_above_the_plan_maximum(step):
    assert services.step_limit(_plan(), step).rate_ml_per_h <= Decimal("168.0")


def test_ladder_times_are_elapsed_minutes_across_daylight_saving():
    # New York falls back at 02:00 on 1 Nov 2026: 60 minutes after 01:30 EDT is 01:30 EST.
    plan = {"rate_steps": [{"start_min": 0, "minutes": 60}, {"start_min": 60, "minutes": 30}]}
    start = datetime(2026, 11, 1, 1, 30, tzinfo=NY)
    steps = ladder_times(plan, start)
    assert [step["number"] for step in steps] == [1, 2]
    assert steps[1]["clock_start"] - steps[0]["clock_start"] == timedelta(minutes=60)
    assert steps[1]["clock_start"].astimezone(NY).isoformat() == "2026-11-01T01:30:00-05:00"


@pytest.mark.parametrize(("planned", "limit"), [("700.0", "707.0"), ("350.5", "354.0"), ("100.0", "101.0")])
def test_volume_limit_is_one_percent_above_the_plan(planned, limit):
    assert services.volume_limit_ml({"daily_volume_ml": planned}) == Decimal(limit)


# ----------------------------------------------------------------------- start and optimistic locking


@pytest.mark.django_db
class TestRecordStart:
    def test_start_puts_the_session_in_progress(self, session, nurse):
        started = services.record_start(
            **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5), expected_version=1, now=NOW
        )
        session.refresh_from_db()
        assert session.status == SessionStatus.IN_PROGRESS and session.version == 2
        assert started.started_at == local(9, 5) and started.session == session
        entry = session.history.first()
        assert entry.history_user == nurse and entry.history_change_reason == "infusion started"
        assert started.history.first().history_change_reason.startswith("infusion started at 09:05")

    def test_stale_version_writes_nothing(self, session, nurse):
        with pytest.raises(ValidationError) as exc:
            services.record_start(
                **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5), expected_version=0, now=NOW
            )
        (message,) = messages_at(exc)
        assert message.startswith("This session was changed by ") and "(now: Confirmed)" in message
        assert exc.value.error_list[0].code == "stale"
        session.refresh_from_db()
        assert session.status == SessionStatus.CONFIRMED and session.version == 1
        assert not InfusionRecord.objects.exists()

    def test_second_start_is_refused(self, started, nurse):
        with pytest.raises(ValidationError) as exc:
            services.record_start(
                **CHECK_ACCEPTED,
                by=nurse,
                session=started,
                started_at=local(9, 10),
                expected_version=started.version,
                now=NOW,
            )
        assert "already started at 09:05" in messages_at(exc)[0]
        assert record(started).started_at == local(9, 5)

    @pytest.mark.parametrize("status", [SessionStatus.CANCELLED, SessionStatus.MISSED, SessionStatus.COMPLETED])
    def test_closed_sessions_cannot_start(self, order, nurse, status):
        session = make_session(order, by=nurse, status=status)
        with pytest.raises(ValidationError):
            services.record_start(
                **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5), expected_version=1, now=NOW
            )
        session.refresh_from_db()
        assert session.status == status and not InfusionRecord.objects.exists()

    def test_unverified_order_cannot_start(self, make_order, nurse):
        session = make_session(make_order(), by=nurse)
        with pytest.raises(ValidationError) as exc:
            services.record_start(
                **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5), expected_version=1, now=NOW
            )
        assert "a pharmacist must verify it" in messages_at(exc)[0]
        assert not InfusionRecord.objects.exists()

    @pytest.mark.parametrize(
        ("started_at", "message"),
        [
            (local(14, 6), "is in the future"),
            (local(9, 5, day=date(2026, 11, 21)), "planned for 2026-11-22"),
            (None, "Enter the time."),
        ],
    )
    def test_start_time_checked_at_the_field(self, session, nurse, started_at, message):
        with pytest.raises(ValidationError) as exc:
            services.record_start(
                **CHECK_ACCEPTED, by=nurse, session=session, started_at=started_at, expected_version=1, now=NOW
            )
        assert message in messages_at(exc, "started_at")[0]
        assert not InfusionRecord.objects.exists()

    def test_vitals_and_lots_before_the_start_open_the_record(self, session, nurse):
        services.vitals_record(by=nurse, session=session, **vitals("before", local(8, 50)), now=NOW)
        services.lot_record(
            by=nurse,
            session=session,
            lot_number="A1",
            vial_size_g=Decimal("30"),
            vials=2,
            expiry_date=date(2027, 1, 1),
            now=NOW,
        )
        opened = record(session)
        assert opened.started_at is None and opened.version == 3
        services.record_start(
            **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5), expected_version=1, now=NOW
        )
        assert record(session).started_at == local(9, 5) and record(session).version == 4

    def test_start_cannot_precede_vitals_taken_before_it(self, session, nurse):
        services.vitals_record(by=nurse, session=session, **vitals("before", local(9, 10)), now=NOW)
        with pytest.raises(ValidationError) as exc:
            services.record_start(
                **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5), expected_version=1, now=NOW
            )
        assert "after this start time" in messages_at(exc, "started_at")[0]
        session.refresh_from_db()
        assert session.status == SessionStatus.CONFIRMED


# ----------------------------------------------------------------------- rates


@pytest.mark.django_db
class TestRateChange:
    @pytest.mark.parametrize(
        ("step", "rate", "allowed"),
        [
            (1, "42.0", True),  # exactly the step's limit
            (1, "42.1", False),  # 0.1 above
            (2, "84.0", True),
            (2, "84.1", False),
            (3, "168.0", True),  # the last step: its limit is also the plan's maximum
            (3, "168.1", False),
            (2, "0", True),  # paused
            (1, "20", True),  # slower than planned
        ],
    )
    def test_cap_table(self, started, nurse, step, rate, allowed):
        # Started 09:05: each step recorded once its clock has come (see TestLadderClock).
        at = {1: local(9, 10), 2: local(9, 40), 3: local(10, 5)}[step]
        call = {"by": nurse, "session": started, "at": at, "step_number": step, "now": NOW}
        if allowed:
            change = services.rate_change_record(rate_ml_per_h=Decimal(rate), **call)
            assert change.rate_ml_per_h == Decimal(rate) and change.recorded_by == nurse
        else:
            with pytest.raises(ValidationError) as exc:
                services.rate_change_record(rate_ml_per_h=Decimal(rate), **call)
            assert "Do not exceed the plan." in messages_at(exc, "rate_ml_per_h")[0]
            assert not RateChange.objects.exists()

    def test_refusal_in_a_nurses_words(self, started, nurse):
        with pytest.raises(ValidationError) as exc:
            services.rate_change_record(
                by=nurse, session=started, at=local(9, 40), rate_ml_per_h=Decimal("124"), step_number=2, now=NOW
            )
        assert messages_at(exc, "rate_ml_per_h") == [
            "124.0 mL/h is above this step's limit of 84.0 mL/h (2 mg/kg/min for 70 kg). Do not exceed the plan."
        ]

    @pytest.mark.parametrize(("rate", "allowed"), [("138.6", True), ("138.7", False), ("168.0", False)])
    def test_at_risk_plan_has_the_lower_cap(self, at_risk_order, nurse, rate, allowed):
        assert at_risk_order.plan["max_rate_ml_per_h"] == "138.6"
        session = make_session(at_risk_order, by=nurse)
        services.record_start(
            **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5), expected_version=1, now=NOW
        )
        call = {"by": nurse, "session": session, "at": local(10, 10), "step_number": 3, "now": NOW}
        if allowed:
            services.rate_change_record(rate_ml_per_h=Decimal(rate), **call)
        else:
            with pytest.raises(ValidationError) as exc:
                services.rate_change_record(rate_ml_per_h=Decimal(rate), **call)
            assert "limit of 138.6 mL/h (3.3 mg/kg/min for 70 kg)" in messages_at(exc, "rate_ml_per_h")[0]
            assert not RateChange.objects.exists()

    @pytest.mark.parametrize("step", [0, 4, 99])
    def test_unknown_step_refused(self, started, nurse, step):
        with pytest.raises(ValidationError) as exc:
            services.rate_change_record(
                by=nurse, session=started, at=local(9, 40), rate_ml_per_h=Decimal("10"), step_number=step, now=NOW
            )
        assert "not in this plan" in messages_at(exc, "step_number")[0]
        assert not RateChange.objects.exists()

    def test_negative_rate_refused(self, started, nurse):
        with pytest.raises(ValidationError) as exc:
            services.rate_change_record(
                by=nurse, session=started, at=local(9, 40), rate_ml_per_h=Decimal("-1"), step_number=1, now=NOW
            )
        assert messages_at(exc, "rate_ml_per_h") == ["A rate cannot be negative; enter 0 mL/h for a pause."]

    def test_needs_the_start(self, session, nurse):
        with pytest.raises(ValidationError, match="start of the infusion first"):
            services.rate_change_record(
                by=nurse, session=session, at=local(9, 40), rate_ml_per_h=Decimal("42"), step_number=1, now=NOW
            )
        assert not InfusionRecord.objects.exists()

    @pytest.mark.parametrize(("at", "message"), [(local(9), "before the start"), (local(14, 30), "in the future")])
    def test_time_checked(self, started, nurse, at, message):
        with pytest.raises(ValidationError) as exc:
            services.rate_change_record(
                by=nurse, session=started, at=at, rate_ml_per_h=Decimal("42"), step_number=1, now=NOW
            )
        assert message in messages_at(exc, "at")[0]

    def test_history_and_record_version(self, started, nurse):
        before = record(started).version
        change = services.rate_change_record(
            by=nurse, session=started, at=local(9, 35), rate_ml_per_h=Decimal("84"), step_number=2, now=NOW
        )
        entry = change.history.get()
        assert entry.history_user == nurse and entry.history_change_reason == "rate 84.0 mL/h at step 2"
        current = record(started)
        assert current.version == before + 1
        assert current.history.first().history_change_reason == "rate change recorded (84.0 mL/h, step 2)"


# ----------------------------------------------------------------------- vitals


@pytest.mark.django_db
class TestVitals:
    def test_records_vitals(self, started, nurse):
        entry = services.vitals_record(by=nurse, session=started, **vitals("during", local(10)), now=NOW)
        assert entry.phase == "during" and entry.recorded_by == nurse
        assert entry.history.get().history_change_reason == "vital signs during"

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            (vitals("before", local(9, 30)), "at", "after the start"),
            (vitals("during", local(9)), "at", "before the start"),
            (vitals("before", local(9), diastolic_mmhg=130, systolic_mmhg=120), "diastolic_mmhg", "not below"),
            (vitals("before", local(9), systolic_mmhg=400), "systolic_mmhg", ""),
            (vitals("sometime", local(9)), "phase", ""),
            (vitals("before", local(9, day=date(2026, 11, 21))), "at", "before the infusion day"),
        ],
    )
    def test_invalid_vitals_write_nothing(self, started, nurse, fields, field, message):
        version = record(started).version
        with pytest.raises(ValidationError) as exc:
            services.vitals_record(by=nurse, session=started, **fields, now=NOW)
        assert message in messages_at(exc, field)[0]
        assert not VitalSigns.objects.exists() and record(started).version == version

    def test_during_needs_the_start(self, session, nurse):
        with pytest.raises(ValidationError) as exc:
            services.vitals_record(by=nurse, session=session, **vitals("during", local(10)), now=NOW)
        assert "start of the infusion" in messages_at(exc, "phase")[0]
        assert not InfusionRecord.objects.exists()

    def test_after_cannot_precede_the_stop(self, started, nurse):
        current = record(started)
        services.record_update(
            by=nurse,
            session=started,
            stopped_at=local(13),
            volume_given_ml=None,
            grams_wasted=None,
            notes="",
            expected_version=current.version,
            now=NOW,
        )
        with pytest.raises(ValidationError) as exc:
            services.vitals_record(by=nurse, session=started, **vitals("after", local(12, 55)), now=NOW)
        assert "before the stop (13:00)" in messages_at(exc, "at")[0]


# ----------------------------------------------------------------------- lots


@pytest.mark.django_db
class TestLots:
    def lot(self, session, by, **overrides):
        fields = {
            "lot_number": "B0042",
            "vial_size_g": Decimal("30"),
            "vials": 2,
            "expiry_date": DAY,
        } | overrides
        return services.lot_record(by=by, session=session, now=NOW, **fields)

    @pytest.mark.parametrize("size", ["30", "10", "30.00"])
    def test_plan_vial_sizes_accepted(self, started, nurse, size):
        lot = self.lot(started, nurse, vial_size_g=Decimal(size))
        assert lot.vial_size_g == Decimal(size)
        assert lot.history.get().history_change_reason == "lot B0042 opened"

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"vial_size_g": Decimal("20")}, "vial_size_g", "The plan uses 30 g and 10 g vials; 20 g is not one"),
            ({"vial_size_g": Decimal("5")}, "vial_size_g", "5 g is not one of them"),
            ({"vials": 0}, "vials", "At least 1 vial."),
            ({"lot_number": "  "}, "lot_number", "Enter the lot number"),
            ({"expiry_date": date(2026, 11, 21)}, "expiry_date", "expired on 2026-11-21"),
            ({"expiry_date": None}, "expiry_date", "Enter the expiry date"),
        ],
    )
    def test_invalid_lot_writes_nothing(self, started, nurse, overrides, field, message):
        version = record(started).version
        with pytest.raises(ValidationError) as exc:
            self.lot(started, nurse, **overrides)
        assert message in messages_at(exc, field)[0]
        assert not LotUsage.objects.exists() and record(started).version == version

    def test_closed_session_takes_no_lot(self, order, nurse):
        session = make_session(order, by=nurse, status=SessionStatus.CANCELLED)
        with pytest.raises(ValidationError, match="cancelled"):
            self.lot(session, nurse)
        assert not InfusionRecord.objects.exists()


# ----------------------------------------------------------------------- scanned lots

# GS1 prefix 952 is kept for demonstrations and examples: these GTINs are no real product's.
OCTAGAM_30, OCTAGAM_10, OCTAGAM_20, PRIVIGEN_10, NOT_ON_FILE = (
    "09520000000301", "09520000000103", "09520000000202", "09520000000998", "09520000000035"
)  # fmt: skip
GS = "\x1d"


@pytest.fixture
def on_file(make_user):
    """The demo GTINs on file as a pharmacist adds them: Octagam 10% 30, 10 and 20 g, Privigen 10 g."""
    pharmacist = make_user("pharmacist")
    for slug, size, gtin in [
        ("octagam-10", "30", OCTAGAM_30),
        ("octagam-10", "10", OCTAGAM_10),
        ("octagam-10", "20", OCTAGAM_20),
        ("privigen", "10", PRIVIGEN_10),
    ]:
        presentation_gtin_add(
            by=pharmacist, product=Product.objects.get(slug=slug), vial_size_g=size, gtin=gtin, source="test carton"
        )


def dm(gtin: str = OCTAGAM_30, *, lot: str = "1234AB", expiry: str = "271231") -> str:
    """A vial's GS1 DataMatrix as a handheld scanner types it."""
    return f"]d201{gtin}17{expiry}10{lot}"


@pytest.mark.django_db
@pytest.mark.usefixtures("on_file")
class TestScannedLots:
    def scan(self, session, by, gs1, **typed):
        return services.lot_record(by=by, session=session, vials=typed.pop("vials", 2), gs1=gs1, now=NOW, **typed)

    @pytest.mark.parametrize(
        "gs1",
        [
            dm(),
            f"01{OCTAGAM_30}101234AB{GS}17271231",
            f"(01){OCTAGAM_30}(17)271231(10)1234AB",
            f"{dm()}{GS}",
        ],
    )
    def test_a_scan_fills_the_lot_expiry_and_vial_size(self, started, nurse, gs1):
        lot = self.scan(started, nurse, gs1)
        lot.refresh_from_db()
        assert (lot.lot_number, lot.expiry_date, lot.vial_size_g, lot.vials, lot.gtin) == (
            "1234AB", date(2027, 12, 31), Decimal("30"), 2, OCTAGAM_30
        )  # fmt: skip
        assert lot.history.get().history_change_reason == "lot 1234AB opened (scanned)"
        assert record(started).version == 2

    def test_a_withdrawn_gtin_is_not_on_file(self, started, nurse, make_user):
        from dosing.models import ProductPresentation
        from dosing.services.catalog import presentation_gtin_withdraw

        presentation_gtin_withdraw(
            by=make_user("pharmacist"),
            presentation=ProductPresentation.objects.get(gtin=OCTAGAM_30),
            reason="read from the wrong carton",
        )
        with pytest.raises(ValidationError) as exc:
            self.scan(started, nurse, dm())
        assert messages_at(exc, "gs1") == [
            f"GTIN {OCTAGAM_30} is not on file: a pharmacist can add it to the product's catalog page."
        ]
        assert not LotUsage.objects.exists()

    def test_the_vial_size_comes_from_the_presentation(self, started, nurse):
        assert self.scan(started, nurse, dm(OCTAGAM_10)).vial_size_g == Decimal("10")

    def test_typed_fields_that_agree_with_the_scan_are_accepted(self, started, nurse):
        lot = self.scan(
            started, nurse, dm(), lot_number=" 1234ab ", vial_size_g=Decimal("30.00"), expiry_date=date(2027, 12, 31)
        )
        assert lot.lot_number == "1234AB"  # the scan's own text

    def test_day_00_is_the_last_day_of_the_month(self, started, nurse):
        assert self.scan(started, nurse, dm(expiry="261100")).expiry_date == date(2026, 11, 30)

    def test_a_typed_lot_has_no_gtin(self, started, nurse):
        lot = services.lot_record(
            by=nurse, session=started, lot_number="B1", vial_size_g=Decimal("30"), vials=1, expiry_date=DAY, now=NOW
        )
        assert lot.gtin == ""

    @pytest.mark.parametrize(
        ("gs1", "typed", "message"),
        [
            ("not a barcode", {}, "This is not a GS1 barcode the clinic can read"),
            (f"]d201{OCTAGAM_30}172712", {}, "Failed to match"),  # cut short inside the expiry
            ("]d20100300123456789172712311012", {}, "00300123456789 has a wrong check digit"),
            (f"]d201{OCTAGAM_30}17271231", {}, "The scan has no lot (10)."),
            (f"]d201{OCTAGAM_30}101234AB", {}, "The scan has no expiry date (17)."),
            (f"]d201{OCTAGAM_30}101234AB17271231", {}, "not sending the group separator"),
            (OCTAGAM_30, {}, "The scan has no lot (10) and no expiry date (17)."),
            (
                dm(NOT_ON_FILE),
                {},
                "GTIN 09520000000035 is not on file: a pharmacist can add it to the product's catalog page.",
            ),
            (
                dm(PRIVIGEN_10),
                {},
                "This vial is Privigen 10%, 10 g; the order is for Octagam 10%. Do not use it.",
            ),
            (dm(OCTAGAM_20), {}, "This vial is Octagam 10%, 20 g; the plan uses 30 g and 10 g vials."),
            (
                dm(expiry="261031"),
                {},
                "This lot expired on 2026-10-31, before the infusion day (2026-11-22). Do not use it.",
            ),
            (dm(expiry="261000"), {}, "expired on 2026-10-31"),
            (
                dm(),
                {"lot_number": "1234AC"},
                "The scan and the typed fields disagree: lot “1234AB” scanned, “1234AC” typed. Clear the typed fields.",
            ),
            (dm(), {"vial_size_g": Decimal("10")}, "vial size 30 g scanned, 10 g typed"),
            (
                dm(),
                {"expiry_date": date(2027, 11, 30), "lot_number": "X9"},
                "lot “1234AB” scanned, “X9” typed; expiry date 2027-12-31 scanned, 2027-11-30 typed.",
            ),
        ],
    )
    def test_a_refused_scan_is_refused_at_the_scan_and_writes_nothing(self, started, nurse, gs1, typed, message):
        version = record(started).version
        with pytest.raises(ValidationError) as exc:
            self.scan(started, nurse, gs1, **typed)
        assert message in " ".join(messages_at(exc, "gs1")), exc.value.message_dict
        assert set(exc.value.message_dict) == {"gs1"}
        assert not LotUsage.objects.exists() and record(started).version == version

    def test_a_scan_is_still_held_to_the_vials_count(self, started, nurse):
        with pytest.raises(ValidationError) as exc:
            self.scan(started, nurse, dm(), vials=0)
        assert exc.value.message_dict == {"vials": ["At least 1 vial."]}
        assert not LotUsage.objects.exists()


# ----------------------------------------------------------------------- reactions


# ----------------------------------------------------------------------- the ladder and the clock


@pytest.mark.parametrize(
    ("running", "rate", "step"),
    [
        (3, "42.0", 1),
        (3, "42.1", 2),
        (3, "60", 2),
        (3, "84.0", 2),
        (3, "84.1", 3),
        (3, "168.0", 3),
        (2, "84.0", 2),
        (2, "20", 1),
        (1, "42.0", 1),
    ],
)
def test_the_step_a_resumed_rate_belongs_to(running, rate, step):
    assert services.resumed_step(_plan(), running_step=running, rate_ml_per_h=Decimal(rate)) == step


@pytest.mark.django_db
class TestLadderClock:
    """Started 09:05; the 70 kg plan 42 -> 84 -> 168 mL/h, steps of 30 and 30 min; the unit's
    tolerance 5 min unless set: step 2 from 09:30, step 3 from 10:00."""

    def rate(self, session, by, at, rate, step):
        return services.rate_change_record(
            by=by, session=session, at=at, rate_ml_per_h=Decimal(rate), step_number=step, now=NOW
        )

    def refused(self, session, by, at, rate, step) -> dict:
        version = record(session).version
        with pytest.raises(ValidationError) as exc:
            self.rate(session, by, at, rate, step)
        assert not RateChange.objects.filter(at=at).exists()
        assert record(session).version == version  # nothing written
        return exc.value.message_dict

    def test_a_step_too_early_is_refused_in_a_nurses_words(self, started, nurse):
        errors = self.refused(started, nurse, local(9, 20), "84", 2)
        assert errors == {
            "step_number": [
                "Too early for step 2: at 09:20 the infusion may be at step 1 at most (counted from the start "
                "at 09:05, up to 5 min early). Step 2 may begin from 09:30 (local time)."
            ],
            "rate_ml_per_h": [
                "84.0 mL/h is above 42.0 mL/h, the limit of step 1, the highest step that may have begun by 09:20 "
                "(counted from the start at 09:05, up to 5 min early). Step 2 may begin from 09:30 (local time)."
            ],
        }

    def test_step_three_at_the_start_is_refused(self, started, nurse):
        errors = self.refused(started, nurse, local(9, 5), "168", 3)
        assert errors["rate_ml_per_h"][0].startswith("168.0 mL/h is above 42.0 mL/h, the limit of step 1")

    @pytest.mark.parametrize(
        ("tolerance", "at", "step", "allowed"),
        [
            (5, local(9, 29), 2, False),
            (5, local(9, 30), 2, True),  # exactly at the minute
            (0, local(9, 34), 2, False),
            (0, local(9, 35), 2, True),
            (5, local(9, 59), 3, False),
            (5, local(10, 0), 3, True),
            (0, local(10, 4), 3, False),
            (0, local(10, 5), 3, True),
        ],
    )
    def test_the_unit_tolerance_table(self, started, nurse, tolerance, at, step, allowed):
        UnitSettings.objects.update(ladder_tolerance_minutes=tolerance)
        rate = {2: "84", 3: "168"}[step]
        if allowed:
            assert self.rate(started, nurse, at, rate, step).step_number == step
        else:
            assert "step_number" in self.refused(started, nurse, at, rate, step)

    def test_a_slower_rate_at_a_lower_step_is_always_allowed(self, started, nurse):
        assert self.rate(started, nurse, local(9, 6), "20", 1)

    @pytest.mark.parametrize("step", [1, 2, 3])
    def test_a_pause_is_always_allowed(self, started, nurse, step):
        assert self.rate(started, nurse, local(9, 6), "0", step).rate_ml_per_h == 0

    def climb_to_step_3_then_resume(self, started, nurse, *, reaction: str, severity: str, resumed: str):
        """Steps 2 and 3 on time, then a reaction at 10:15 after which the infusion resumed."""
        self.rate(started, nurse, local(9, 35), "84", 2)
        self.rate(started, nurse, local(10, 5), "168", 3)
        services.reaction_record(
            by=nurse,
            session=started,
            at=local(10, 15),
            type=reaction,
            severity=severity,
            action="resumed",
            resumed_rate_ml_per_h=Decimal(resumed),
            now=NOW,
        )

    def test_after_a_reaction_the_climb_starts_again_from_the_step_resumed_at(self, started, nurse):
        self.climb_to_step_3_then_resume(started, nurse, reaction="headache", severity="moderate", resumed="42")
        errors = self.refused(started, nurse, local(10, 20), "84", 2)
        assert errors["step_number"] == [
            "Too early for step 2: at 10:20 the infusion may be at step 1 at most (counted from the resumption "
            "at step 1 at 10:15, up to 5 min early). Step 2 may begin from 10:40 (local time)."
        ]
        assert self.rate(started, nurse, local(10, 16), "42", 1)
        assert self.rate(started, nurse, local(10, 40), "84", 2)
        assert "Step 3 may begin from 11:10" in self.refused(started, nurse, local(11, 5), "168", 3)["step_number"][0]
        assert self.rate(started, nurse, local(11, 10), "168", 3)

    def test_resumed_at_a_middle_rate_counts_as_that_step(self, started, nurse):
        self.climb_to_step_3_then_resume(started, nurse, reaction="fever_chills", severity="mild", resumed="60")
        assert self.rate(started, nurse, local(10, 16), "84", 2)
        assert "Step 3 may begin from 10:40" in self.refused(started, nurse, local(10, 30), "168", 3)["step_number"][0]
        # An entry before the reaction still runs by the start's clock.
        assert self.rate(started, nurse, local(10, 10), "168", 3)

    @pytest.mark.parametrize(
        ("at", "rate", "step"),
        [
            (local(9, 10), "42", 1),
            (local(9, 10), "84", 1),  # only step 1 may have begun: refused there, at its limit
            (local(9, 45), "42.1", 2),
            (local(9, 45), "100", 2),  # above step 2's limit, and step 3 not yet begun
            (local(10, 30), "84", 2),
            (local(10, 30), "84.1", 3),
            (local(10, 30), "300", 3),
            (local(10, 30), "-1", 1),
        ],
    )
    def test_the_step_a_rate_without_one_belongs_to(self, started, at, rate, step):
        plan, rec = services.plan_of(started), record(started)
        clock = services.ladder_clock(plan, rec, at=at)
        assert services.rate_step(plan, rec, clock, Decimal(rate)) == step

    def test_a_pause_stays_at_the_step_running_never_above_the_highest_begun(self, started, nurse):
        plan, rec = services.plan_of(started), record(started)
        assert services.rate_step(plan, rec, services.ladder_clock(plan, rec, at=local(9, 6)), Decimal(0)) == 1
        self.climb_to_step_3_then_resume(started, nurse, reaction="headache", severity="mild", resumed="42")
        # At 10:10 step 3 runs; at 10:20, resumed at step 1 at 10:15, only step 1 may have begun.
        assert services.rate_step(plan, rec, services.ladder_clock(plan, rec, at=local(10, 10)), Decimal(0)) == 3
        assert services.rate_step(plan, rec, services.ladder_clock(plan, rec, at=local(10, 20)), Decimal(0)) == 1

    def test_the_clock_at_a_moment(self, started, nurse):
        clock = services.ladder_clock(services.plan_of(started), record(started), at=local(9, 45))
        assert (clock.highest_step, clock.from_step, clock.resumed) == (2, 1, False)
        assert [at.astimezone(NY).strftime("%H:%M") for at in clock.may_begin] == ["09:05", "09:30", "10:00"]


@pytest.mark.django_db
class TestReactions:
    def react(self, session, by, **overrides):
        fields = {
            "at": local(10, 15),
            "type": "headache",
            "severity": "mild",
            "action": "none",
            "description": "",
            "resumed_rate_ml_per_h": None,
        } | overrides
        return services.reaction_record(by=by, session=session, now=NOW, **fields)

    def test_records_a_reaction(self, started, nurse):
        reaction = self.react(started, nurse, action="slowed")
        assert reaction.recorded_by == nurse
        assert reaction.history.get().history_change_reason == "reaction: headache, mild, slowed"

    @pytest.mark.parametrize(
        ("rate", "allowed"),
        [("84.0", True), ("84.1", False), ("42", True), ("0", False)],
    )
    def test_resumed_rate_checked_against_the_current_step(self, started, nurse, rate, allowed):
        services.rate_change_record(
            by=nurse, session=started, at=local(9, 35), rate_ml_per_h=Decimal("84"), step_number=2, now=NOW
        )
        call = {"action": "resumed", "resumed_rate_ml_per_h": Decimal(rate)}
        if allowed:
            assert self.react(started, nurse, **call).resumed_rate_ml_per_h == Decimal(rate)
        else:
            with pytest.raises(ValidationError) as exc:
                self.react(started, nurse, **call)
            assert messages_at(exc, "resumed_rate_ml_per_h")
            assert not Reaction.objects.exists()

    def test_resume_message_names_the_step(self, started, nurse):
        services.rate_change_record(
            by=nurse, session=started, at=local(9, 35), rate_ml_per_h=Decimal("84"), step_number=2, now=NOW
        )
        with pytest.raises(ValidationError) as exc:
            self.react(started, nurse, action="resumed", resumed_rate_ml_per_h=Decimal("100"))
        assert messages_at(exc, "resumed_rate_ml_per_h") == [
            "Current step 2: 100.0 mL/h is above this step's limit of 84.0 mL/h (2 mg/kg/min for 70 kg). "
            "Do not exceed the plan."
        ]

    def test_before_any_rate_change_the_current_step_is_the_first(self, started, nurse):
        with pytest.raises(ValidationError) as exc:
            self.react(started, nurse, action="resumed", resumed_rate_ml_per_h=Decimal("42.1"))
        assert "limit of 42.0 mL/h" in messages_at(exc, "resumed_rate_ml_per_h")[0]

    def test_current_step_is_the_latest_change_up_to_the_reaction(self, started, nurse):
        for at, rate, step in ((local(9, 35), "84", 2), (local(10, 5), "168", 3)):
            services.rate_change_record(
                by=nurse, session=started, at=at, rate_ml_per_h=Decimal(rate), step_number=step, now=NOW
            )
        # Recorded afterwards, but it happened at 09:50, during step 2.
        with pytest.raises(ValidationError):
            self.react(started, nurse, at=local(9, 50), action="resumed", resumed_rate_ml_per_h=Decimal("168"))
        assert self.react(started, nurse, at=local(10, 20), action="resumed", resumed_rate_ml_per_h=Decimal("168"))

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"action": "resumed"}, "resumed_rate_ml_per_h"),  # the rate is required
            ({"action": "slowed", "resumed_rate_ml_per_h": Decimal("42")}, "resumed_rate_ml_per_h"),
            ({"type": "other"}, "description"),
            ({"severity": "deadly"}, "severity"),
            ({"at": local(9)}, "at"),  # before the start
        ],
    )
    def test_invalid_reaction_writes_nothing(self, started, nurse, overrides, field):
        version = record(started).version
        with pytest.raises(ValidationError) as exc:
            self.react(started, nurse, **overrides)
        assert messages_at(exc, field)
        assert not Reaction.objects.exists() and record(started).version == version

    def test_stopped_sets_the_stop_time_once(self, started, nurse):
        self.react(started, nurse, type="chest_pain", severity="severe", action="stopped", at=local(10, 15))
        current = record(started)
        assert current.stopped_at == local(10, 15)
        assert (
            current.history.first().history_change_reason == "reaction recorded (chest_pain); infusion stopped at 10:15"
        )
        self.react(started, nurse, type="dyspnoea", severity="severe", action="stopped", at=local(10, 14))
        assert record(started).stopped_at == local(10, 15)

    def test_stopped_cannot_precede_a_later_rate_change(self, started, nurse):
        services.rate_change_record(
            by=nurse, session=started, at=local(10, 5), rate_ml_per_h=Decimal("84"), step_number=2, now=NOW
        )
        with pytest.raises(ValidationError) as exc:
            self.react(started, nurse, action="stopped", at=local(10))
        assert "after this stop time" in messages_at(exc, "at")[0]
        assert record(started).stopped_at is None and not Reaction.objects.exists()


# ----------------------------------------------------------------------- stop, volume, waste


@pytest.mark.django_db
class TestRecordUpdate:
    def update(self, session, by, **overrides):
        current = record(session)
        fields = {
            "stopped_at": local(13, 55),
            "volume_given_ml": Decimal("700"),
            "grams_wasted": Decimal("0"),
            "notes": "",
            "expected_version": current.version,
        } | overrides
        if not record(session).rate_changes.exists():
            climb(session, by)
            fields["expected_version"] = overrides.get("expected_version", record(session).version)
        return services.record_update(by=by, session=session, now=NOW, **fields)

    def add_lots(self, session, by):
        for number, size, count in (("L30", "30", 2), ("L10", "10", 1)):
            services.lot_record(
                by=by,
                session=session,
                lot_number=number,
                vial_size_g=Decimal(size),
                vials=count,
                expiry_date=date(2027, 1, 1),
                now=NOW,
            )

    def test_update_saves_with_history(self, started, nurse):
        updated = self.update(started, nurse, notes="Tolerated well.")
        assert updated.stopped_at == local(13, 55) and updated.volume_given_ml == Decimal("700")
        entry = updated.history.first()
        assert entry.history_user == nurse and entry.history_change_reason == "record edited: stop, volume, notes"

    @pytest.mark.parametrize(("volume", "allowed"), [("707.0", True), ("707.1", False), ("0", True)])
    def test_volume_at_most_one_percent_above_the_plan(self, started, nurse, volume, allowed):
        if allowed:
            assert self.update(started, nurse, volume_given_ml=Decimal(volume)).volume_given_ml == Decimal(volume)
        else:
            with pytest.raises(ValidationError) as exc:
                self.update(started, nurse, volume_given_ml=Decimal(volume))
            assert (
                "more than 1 % above today's planned 700.0 mL (at most 707.0 mL)"
                in messages_at(exc, "volume_given_ml")[0]
            )
            assert record(started).volume_given_ml is None

    @pytest.mark.parametrize(
        ("waste", "message"),
        [
            ("70", None),  # everything opened (2 x 30 g + 1 x 10 g)
            ("0", None),
            ("70.01", "70.01 g is more than the 70 g opened"),
            ("-1", "cannot be negative"),
        ],
    )
    def test_waste_bounds(self, started, nurse, waste, message):
        self.add_lots(started, nurse)
        if message is None:
            assert self.update(started, nurse, grams_wasted=Decimal(waste)).grams_wasted == Decimal(waste)
        else:
            with pytest.raises(ValidationError) as exc:
                self.update(started, nurse, grams_wasted=Decimal(waste))
            assert message in messages_at(exc, "grams_wasted")[0]
            assert record(started).grams_wasted == 0

    def test_waste_needs_lots(self, started, nurse):
        with pytest.raises(ValidationError) as exc:
            self.update(started, nurse, grams_wasted=Decimal("1"))
        assert "record the lots first" in messages_at(exc, "grams_wasted")[0]

    def test_stop_after_start(self, started, nurse):
        with pytest.raises(ValidationError) as exc:
            self.update(started, nurse, stopped_at=local(9))
        assert "before the start (09:05)" in messages_at(exc, "stopped_at")[0]
        assert record(started).stopped_at is None

    def test_stop_cannot_cut_off_a_rate_change(self, started, nurse):
        services.rate_change_record(
            by=nurse, session=started, at=local(10, 5), rate_ml_per_h=Decimal("168"), step_number=3, now=NOW
        )
        with pytest.raises(ValidationError) as exc:
            self.update(started, nurse, stopped_at=local(10))
        assert "168.0 mL/h at 10:05 is after this stop time" in messages_at(exc, "stopped_at")[0]

    def test_start_can_be_corrected_with_a_reason_and_the_old_entry_stays_voided(self, started, nurse):
        with pytest.raises(ValidationError) as exc:
            self.update(started, nurse, started_at=local(9, 2))
        assert messages_at(exc, "reason") == [
            "Say why the start already entered is corrected; the entry is voided, not erased."
        ]
        assert record(started).started_at == local(9, 5)
        corrected = self.update(started, nurse, started_at=local(9, 2), reason="pump clock was 3 min slow")
        assert corrected.started_at == local(9, 2)
        assert record(started).history.first().history_change_reason == (
            "record edited: start, stop, volume (pump clock was 3 min slow)"
        )
        old, new = corrected.values.filter(kind="start").order_by("pk")
        assert (old.at, old.void_reason, old.voided_by) == (local(9, 5), "pump clock was 3 min slow", nurse)
        assert (new.at, new.voided_at, new.recorded_by) == (local(9, 2), None, nurse)

    def test_stale_version_writes_nothing(self, started, nurse):
        current = record(started)
        # A colleague records a reaction while this form is open.
        TestReactions().react(started, nurse)
        with pytest.raises(ValidationError) as exc:
            self.update(started, nurse, expected_version=current.version)
        (message,) = messages_at(exc)
        assert message.startswith(f"This infusion record was changed by {nurse.get_full_name()} at ")
        assert message.endswith(
            "(now: In progress) after you opened it. "
            "Nothing was saved — review the infusion record as it is now and try again."
        )
        assert record(started).volume_given_ml is None

    def test_not_started_refused(self, session, nurse):
        with pytest.raises(ValidationError, match="start of the infusion first"):
            services.record_update(
                by=nurse,
                session=session,
                stopped_at=None,
                volume_given_ml=None,
                grams_wasted=None,
                notes="",
                expected_version=1,
                now=NOW,
            )


# ----------------------------------------------------------------------- completion


@pytest.mark.django_db
class TestRecordComplete:
    def test_complete(self, started, nurse):
        current = fill_for_completion(started, nurse)
        done = services.record_complete(
            by=nurse, session=started, expected_version=current.version, confirm=True, now=NOW
        )
        started.refresh_from_db()
        assert started.status == SessionStatus.COMPLETED
        assert done.completed_by == nurse and done.completed_at == NOW
        assert started.history.first().history_change_reason == "infusion completed"
        assert done.history.first().history_change_reason == "infusion completed"

    @pytest.mark.parametrize(
        ("skip", "missing"),
        [
            ("stop", "the stop time"),
            ("volume", "the volume given"),
            ("lots", "at least one product lot"),
            ("before", "vital signs before the infusion"),
            ("after", "vital signs after the infusion"),
        ],
    )
    def test_prerequisites(self, started, nurse, skip, missing):
        current = fill_for_completion(started, nurse, **{skip: True})
        with pytest.raises(ValidationError) as exc:
            services.record_complete(by=nurse, session=started, expected_version=current.version, confirm=True, now=NOW)
        assert messages_at(exc) == [f"Before completing, record {missing}."]
        started.refresh_from_db()
        assert started.status == SessionStatus.IN_PROGRESS and record(started).completed_at is None

    def test_not_started_refused(self, session, nurse):
        with pytest.raises(ValidationError, match="start of the infusion first"):
            services.record_complete(by=nurse, session=session, expected_version=1, confirm=True, now=NOW)

    def test_second_completion_refused(self, started, nurse, make_user):
        current = fill_for_completion(started, nurse)
        services.record_complete(by=nurse, session=started, expected_version=current.version, confirm=True, now=NOW)
        again = record(started)
        with pytest.raises(ValidationError) as exc:
            services.record_complete(
                by=make_user("nurse"), session=started, expected_version=again.version, now=NOW + timedelta(hours=1)
            )
        assert messages_at(exc)[0].startswith("Already completed: This infusion was completed by")
        assert record(started).completed_by == nurse and record(started).completed_at == NOW

    def test_stale_version_refused(self, started, nurse):
        current = fill_for_completion(started, nurse)
        TestReactions().react(started, nurse, at=local(11))
        with pytest.raises(ValidationError, match="This infusion record was changed by .* Nothing was saved"):
            services.record_complete(by=nurse, session=started, expected_version=current.version, confirm=True, now=NOW)
        started.refresh_from_db()
        assert started.status == SessionStatus.IN_PROGRESS

    def test_nothing_more_after_completion(self, started, nurse):
        current = fill_for_completion(started, nurse)
        services.record_complete(by=nurse, session=started, expected_version=current.version, confirm=True, now=NOW)
        with pytest.raises(ValidationError, match="completed"):
            services.vitals_record(by=nurse, session=started, **vitals("after", local(13, 59)), now=NOW)
        with pytest.raises(ValidationError, match="completed"):
            services.record_update(
                by=nurse,
                session=started,
                stopped_at=local(13, 55),
                volume_given_ml=Decimal("1"),
                grams_wasted=None,
                notes="",
                expected_version=record(started).version,
                now=NOW,
            )
        assert record(started).volume_given_ml == Decimal("600")


class TestPreInfusionCheck:
    """The start keeps the pre-infusion check; a stale or missing item needs an acceptance."""

    def test_an_all_ok_check_needs_no_acceptance_and_is_kept(self, session, nurse, dm_patient):
        fresh_chart(dm_patient)
        services.record_start(by=nurse, session=session, started_at=local(9, 5), expected_version=1, now=NOW)
        check = record(session).pre_infusion_check
        assert [item["status"] for item in check["items"]] == ["ok"] * 6
        assert check["needs_acceptance"] is False and check["accepted"] is False and check["reason"] == ""
        assert check["checked_on"] == "2026-11-22" and check["order_weight_kg"] == "70.0"
        weight = check["items"][0]
        assert (weight["value"], weight["unit"], weight["on"], weight["age_days"]) == ("70", "kg", "2026-11-20", 2)

    @pytest.mark.parametrize(
        ("accepted", "reason", "fields"),
        [
            (False, "", {"check_accepted", "check_reason"}),
            (True, "  ", {"check_reason"}),
            (False, "labs drawn today", {"check_accepted"}),
        ],
    )
    def test_a_stale_item_without_acceptance_is_refused_and_nothing_written(
        self, session, nurse, dm_patient, accepted, reason, fields
    ):
        fresh_chart(dm_patient, skip=("creatinine",))
        LabResultFactory(
            patient=dm_patient, test="creatinine", collected_on=date(2026, 10, 22), value=Decimal("0.9"), unit="mg/dL"
        )
        with pytest.raises(ValidationError) as exc:
            services.record_start(
                by=nurse,
                session=session,
                started_at=local(9, 5),
                expected_version=1,
                check_accepted=accepted,
                check_reason=reason,
                now=NOW,
            )
        assert set(exc.value.message_dict) == fields
        if "check_accepted" in fields:
            assert "Creatinine (stale: From before 2026-10-23" in messages_at(exc, "check_accepted")[0]
        session.refresh_from_db()
        assert session.status == SessionStatus.CONFIRMED and not InfusionRecord.objects.exists()

    def test_the_acceptance_and_the_items_are_recorded_with_who(self, session, nurse):
        # The fixture's patient has a recent weight only: labs, blood group and IgA status are missing.
        session.patient.blood_group = "unknown"
        session.patient.save()
        services.record_start(
            by=nurse,
            session=session,
            started_at=local(9, 5),
            expected_version=1,
            check_accepted=True,
            check_reason=" Physician consulted; labs drawn today. ",
            now=NOW,
        )
        started = record(session)
        check = started.pre_infusion_check
        assert {item["code"]: item["status"] for item in check["items"]} == {
            "weight": "ok",
            "creatinine": "missing",
            "egfr": "missing",
            "haemoglobin": "missing",
            "blood_group": "missing",
            "iga_status": "missing",
        }
        assert check["accepted"] is True and check["reason"] == "Physician consulted; labs drawn today."
        assert "Site policy" not in check["policy"] and "less than 10 % from the order's weight" in check["policy"]
        entry = started.history.first()
        assert entry.history_user == nurse
        assert entry.history_change_reason == (
            "infusion started at 09:05; pre-infusion check accepted: Physician consulted; labs drawn today."
        )

    def test_the_active_flags_are_kept_with_the_check(self, at_risk_order, nurse, dm_patient):
        fresh_chart(dm_patient)
        session = make_session(at_risk_order, by=nurse)
        services.record_start(by=nurse, session=session, started_at=local(9, 5), expected_version=1, now=NOW)
        codes = [flag["code"] for flag in record(session).pre_infusion_check["active_flags"]]
        assert codes and all(code for code in codes)


# ----------------------------------------------------------------------- review by the prescriber


class TestReviewReachesThePrescriber:
    """An incomplete infusion or a moderate or severe reaction: one reminder to the prescriber,
    in the completing transaction, and a note on the order for the next cycle."""

    def complete(self, session, nurse, volume_ml):
        current = fill_for_completion(session, nurse)
        services.record_update(
            by=nurse,
            session=session,
            stopped_at=local(13, 55),
            volume_given_ml=Decimal(volume_ml),
            grams_wasted=Decimal("0"),
            notes="",
            reason="pump volume read again",
            expected_version=current.version,
            now=NOW,
        )
        return services.record_complete(
            by=nurse, session=session, expected_version=record(session).version, confirm=True, now=NOW
        )

    def reaction(self, session, nurse, severity, at=None, type="headache"):
        return services.reaction_record(
            by=nurse, session=session, at=at or local(10, 0), type=type, severity=severity, action="slowed", now=NOW
        )

    def test_stopped_early_reminds_the_prescriber_once(self, started, nurse, order):
        from scheduling.models import Reminder

        plan = order.administration_plan
        assert Decimal(plan["daily_volume_ml"]) - Decimal("400") > 100  # more than one 10 g vial short
        self.complete(started, nurse, "400")
        (reminder,) = Reminder.objects.filter(session=started)
        assert reminder.kind == "infusion_incomplete" and reminder.user == order.prescribed_by
        assert reminder.role == "physician" and reminder.due_at == NOW and reminder.status == "pending"
        assert f"stopped at 400 of {Decimal(plan['daily_volume_ml']).normalize():f} mL" in reminder.message
        assert started.patient.family_name not in reminder.message
        order.refresh_from_db()
        assert order.last_cycle_note.startswith("Last cycle stopped at 400 of") and order.last_cycle_note_on == DAY
        # Completing again is refused and creates nothing more; the sweep lists it for e-mail.
        with pytest.raises(ValidationError):
            services.record_complete(
                by=nurse, session=started, expected_version=record(started).version, confirm=True, now=NOW
            )
        from scheduling.services.sweep import reminders_sweep

        assert reminder.pk in reminders_sweep(now=NOW)["due_ids"]
        assert Reminder.objects.filter(session=started, kind="infusion_incomplete").count() == 1

    def test_one_smallest_vial_short_is_complete(self, started, nurse, order):
        from scheduling.models import Reminder

        short = Decimal(order.administration_plan["daily_volume_ml"]) - 100  # one 10 g vial at 100 mg/mL
        self.complete(started, nurse, str(short))
        assert not Reminder.objects.filter(kind__startswith="infusion_").exists()
        order.refresh_from_db()
        assert order.last_cycle_note == ""

    def test_two_reactions_and_completion_make_one_reaction_reminder(self, started, nurse, order):
        from scheduling.models import Reminder

        self.reaction(started, nurse, "mild", at=local(9, 40))
        assert not Reminder.objects.filter(session=started).exists()
        self.reaction(started, nurse, "moderate")
        self.reaction(started, nurse, "severe", at=local(10, 30), type="fever_chills")
        self.complete(started, nurse, order.administration_plan["daily_volume_ml"])
        (reminder,) = Reminder.objects.filter(session=started)
        assert reminder.kind == "infusion_reaction"
        assert "severe fever or chills (rate slowed); moderate headache (rate slowed)" in reminder.message
        order.refresh_from_db()
        assert order.last_cycle_note == (
            "Reaction last cycle (severe fever or chills, 2026-11-22): consider premedication and a slower ladder."
        )

    def test_inactive_prescriber_goes_to_the_physicians(self, started, nurse, order):
        from scheduling.models import Reminder

        order.prescribed_by.is_active = False
        order.prescribed_by.save()
        self.reaction(started, nurse, "severe")
        (reminder,) = Reminder.objects.filter(session=started)
        assert reminder.user is None and reminder.role == "physician"
