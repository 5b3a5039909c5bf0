# ruff: noqa: F811 (the fixtures imported from test_services_records are used as arguments)
"""Corrections without loss and reconciliation (issue 14, items 4 and 5): every entry of the
infusion record can be voided with a reason and entered again, a completed record is amended
with a reason, grams opened and volume given are checked against the plan and the pump rates,
and completing asks for a confirmed summary."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from dosing.tests.factories import site_first_step_factor
from patients.models import Patient
from scheduling.models import InfusionRecord, LotUsage, RecordValue, Reminder, SessionStatus
from scheduling.services import records as services
from scheduling.tests.factories import local, make_session, vitals
from scheduling.tests.test_services_records import (  # noqa: F401 (fixtures)
    NOW,
    climb,
    fill_for_completion,
    messages_at,
    nurse,
    order,
    record,
    session,
    started,
)


@pytest.fixture(autouse=True)
def usual_first_step(db):
    # The fixture patients are IVIG-naive, so each session here is a first infusion. These tests are
    # about the label's ladder: a site with no slower first step (factor 1). The slower first step
    # is tested in scheduling/tests/test_first_infusion_ladder.py.
    site_first_step_factor(1)


pytestmark = pytest.mark.django_db


def lot(session, by, *, vials=2, size="30", number="A123", **extra):
    return services.lot_record(
        by=by,
        session=session,
        lot_number=number,
        vial_size_g=Decimal(size),
        vials=vials,
        expiry_date=date(2027, 6, 30),
        now=NOW,
        **extra,
    )


def void(session, by, entry, reason="entered in error"):
    return services.entry_void(by=by, session=session, entry_id=entry.uuid, reason=reason, now=NOW)


def completed(session, by):
    current = fill_for_completion(session, by)
    services.record_complete(by=by, session=session, expected_version=current.version, confirm=True, now=NOW)
    return record(session)


class TestVoid:
    def test_the_wrong_lot_is_voided_stays_visible_and_no_longer_counts(self, started, nurse):
        wrong = lot(started, nurse, vials=3, excess_reason="one vial cracked")
        assert services.grams_opened(record(started)) == Decimal("90")
        void(started, nurse, wrong, reason="three vials entered, two opened")
        right = lot(started, nurse, vials=2)
        wrong.refresh_from_db()
        assert (wrong.voided_by, wrong.voided_at, wrong.void_reason) == (nurse, NOW, "three vials entered, two opened")
        assert services.grams_opened(record(started)) == Decimal("60")
        assert list(record(started).lots.live()) == [right]
        assert LotUsage.objects.count() == 2
        assert wrong.history.first().history_change_reason == "voided: three vials entered, two opened"
        reasons = [row.history_change_reason for row in record(started).history.all()]
        assert "lot A123 (3 x 30 g) voided: three vials entered, two opened" in reasons

    def test_a_void_needs_a_reason_and_writes_nothing_without_one(self, started, nurse):
        entry = lot(started, nurse)
        version = record(started).version
        with pytest.raises(ValidationError) as exc:
            void(started, nurse, entry, reason="  ")
        assert messages_at(exc, "reason") == ["Say why the lot A123 (2 x 30 g) is voided."]
        entry.refresh_from_db()
        assert entry.voided_at is None and record(started).version == version

    def test_an_entry_is_voided_once(self, started, nurse):
        entry = lot(started, nurse)
        void(started, nurse, entry)
        with pytest.raises(ValidationError, match="already voided by .* entered in error"):
            void(started, nurse, entry)

    def test_an_unknown_or_foreign_entry_is_not_found(self, started, nurse, order):
        other = make_session(order, by=nurse, planned_start=local(13))
        foreign = lot(other, nurse)
        with pytest.raises(services.EntryNotFound):
            services.entry_void(by=nurse, session=started, entry_id="not-a-uuid", reason="x", now=NOW)
        with pytest.raises(services.EntryNotFound):
            void(started, nurse, foreign)
        foreign.refresh_from_db()
        assert foreign.voided_at is None

    def test_a_voided_rate_no_longer_sets_the_step_a_resumption_belongs_to(self, started, nurse):
        climb(started, nurse)
        step3 = record(started).rate_changes.get(step_number=3)
        void(started, nurse, step3, reason="typed on the wrong chair")
        # The running step at 10:30 is step 2 again: resuming at 168 mL/h is above its limit.
        with pytest.raises(ValidationError) as exc:
            services.reaction_record(
                by=nurse,
                session=started,
                at=local(10, 30),
                type="headache",
                severity="mild",
                action="resumed",
                resumed_rate_ml_per_h=Decimal("168"),
                now=NOW,
            )
        assert messages_at(exc, "resumed_rate_ml_per_h")[0].startswith("Current step 2:")

    def test_a_voided_moderate_reaction_withdraws_the_prescribers_reminder(self, started, nurse):
        reaction = services.reaction_record(
            by=nurse, session=started, at=local(10), type="headache", severity="moderate", action="slowed", now=NOW
        )
        (reminder,) = Reminder.objects.filter(session=started, kind="infusion_reaction")
        assert reminder.status == "pending"
        void(started, nurse, reaction, reason="recorded on the wrong patient")
        reminder.refresh_from_db()
        assert reminder.status == "cancelled"

    def test_a_voided_start_reopens_the_session_and_week_zero_follows(self, started, nurse):
        start = record(started).values.get(kind="start")
        void(started, nurse, start, reason="started on the wrong session")
        started.refresh_from_db()
        assert started.status == SessionStatus.CONFIRMED
        assert started.status_reason == "Start voided: started on the wrong session"
        assert record(started).started_at is None
        assert Patient.objects.get(pk=started.patient_id).first_infusion_on is None
        # And it can be started again, the old start staying voided.
        services.record_start(
            by=nurse,
            session=started,
            started_at=local(9, 20),
            expected_version=started.version,
            check_accepted=True,
            check_reason="physician consulted",
            now=NOW,
        )
        assert [(value.at, value.is_voided) for value in record(started).values.filter(kind="start")] == [
            (local(9, 5), True),
            (local(9, 20), False),
        ]

    def test_the_start_is_not_voided_while_a_stop_is_recorded(self, started, nurse):
        fill_for_completion(started, nurse)
        start = record(started).values.get(kind="start")
        with pytest.raises(ValidationError) as exc:
            void(started, nurse, start)
        assert messages_at(exc, "reason") == ["Void the stop first, or correct the start time."]

    def test_a_voided_volume_is_entered_again(self, started, nurse):
        fill_for_completion(started, nurse)
        volume = record(started).values.get(kind="volume", voided_at=None)
        void(started, nurse, volume, reason="read from the wrong pump")
        assert record(started).volume_given_ml is None
        assert services.completion_missing(record(started)) == ["the volume given"]


class TestAmendments:
    def test_a_late_entry_needs_a_reason_and_keeps_it(self, started, nurse):
        done = completed(started, nurse)
        with pytest.raises(ValidationError) as exc:
            services.vitals_record(by=nurse, session=started, **vitals("after", local(14, 30)), now=NOW)
        (message,) = messages_at(exc, "late_reason")
        assert message.startswith("This infusion was completed by") and message.endswith(
            "Say why this entry is made late (an amendment)."
        )
        late = services.vitals_record(
            by=nurse,
            session=started,
            **vitals("after", local(13, 59)),
            late_reason="second set taken, charted on paper",
            now=NOW,
        )
        assert late.late_reason == "second set taken, charted on paper"
        assert record(started).completed_at == done.completed_at

    def test_the_wrong_lot_of_a_completed_record_is_voided_then_the_right_one_entered_late(self, started, nurse):
        done = completed(started, nurse)
        (wrong,) = done.lots.live()
        void(started, nurse, wrong, reason="lot number misread")
        assert services.completion_missing(record(started)) == ["at least one product lot"]
        # Any other amendment must leave the record complete: the right lot comes next.
        with pytest.raises(ValidationError, match="A completed infusion keeps at least one product lot"):
            services.vitals_record(
                by=nurse, session=started, **vitals("after", local(13, 59)), late_reason="second set", now=NOW
            )
        right = lot(started, nurse, number="B7", late_reason="lot label read again")
        assert [entry.lot_number for entry in record(started).lots.live()] == ["B7"]
        assert right.late_reason == "lot label read again"
        assert services.completion_missing(record(started)) == []

    def test_the_volume_of_a_completed_record_is_corrected_not_voided(self, started, nurse):
        done = completed(started, nurse)
        volume = done.values.get(kind="volume", voided_at=None)
        with pytest.raises(ValidationError, match="keeps its volume given: correct it instead"):
            void(started, nurse, volume)
        with pytest.raises(ValidationError) as exc:
            services.record_update(
                by=nurse,
                session=started,
                stopped_at=done.stopped_at,
                volume_given_ml=Decimal("400"),
                grams_wasted=Decimal("0"),
                notes="",
                expected_version=done.version,
                now=NOW,
            )
        assert messages_at(exc, "late_reason")
        amended = services.record_update(
            by=nurse,
            session=started,
            stopped_at=done.stopped_at,
            volume_given_ml=Decimal("400"),
            grams_wasted=Decimal("0"),
            notes="",
            reason="pump log read: 400 mL",
            expected_version=done.version,
            now=NOW,
        )
        assert amended.volume_given_ml == Decimal("400")
        # The amendment makes it an incomplete infusion: the prescriber hears of it.
        assert Reminder.objects.filter(session=started, kind="infusion_incomplete").exists()


class TestReconciliation:
    def test_opening_more_than_the_day_and_one_smallest_vial_needs_a_reason(self, started, nurse):
        # The 70 g day (2 x 30 g + 1 x 10 g): up to 80 g may be opened without a reason.
        lot(started, nurse, vials=2)
        lot(started, nurse, vials=2, size="10", number="B1")
        with pytest.raises(ValidationError) as exc:
            lot(started, nurse, vials=1, number="C1")
        assert messages_at(exc, "excess_reason") == [
            "With this lot 110 g would be opened for a day of 70 g planned (up to 80 g may be opened without a "
            "reason: the day's grams and one 10 g vial). Check the number of vials; if they really were opened, "
            "say why."
        ]
        assert record(started).lots.count() == 2
        kept = lot(started, nurse, vials=1, number="C1", excess_reason="vial C1 dropped and replaced")
        assert kept.excess_reason == "vial C1 dropped and replaced"

    def test_a_reason_is_not_kept_when_none_was_needed(self, started, nurse):
        assert lot(started, nurse, excess_reason="just in case").excess_reason == ""

    def test_a_volume_the_rates_cannot_deliver_is_refused_with_the_figure(self, started, nurse):
        # 09:05 to 13:31 (4 h 26 min, as 08:10 to 12:36): step 2 from 09:35 and never step 3.
        services.rate_change_record(
            by=nurse, session=started, at=local(9, 35), rate_ml_per_h=Decimal("84"), step_number=2, now=NOW
        )
        with pytest.raises(ValidationError) as exc:
            services.record_update(
                by=nurse,
                session=started,
                stopped_at=local(13, 31),
                volume_given_ml=Decimal("700"),
                grams_wasted=None,
                notes="",
                expected_version=record(started).version,
                now=NOW,
            )
        assert messages_at(exc, "volume_given_ml") == [
            "700.0 mL cannot have been given between 09:05 and 13:31: the recorded pump rates deliver 351.4 mL in "
            "that time (at most 358.4 mL with the 2 % tolerance). Check the volume read from the pump, or record "
            "the rate changes that are missing first."
        ]
        assert record(started).volume_given_ml is None and record(started).stopped_at is None

    def test_a_pause_delivers_nothing(self, started, nurse):
        climb(started, nurse)
        services.reaction_record(
            by=nurse, session=started, at=local(10, 35), type="flushing", severity="mild", action="paused", now=NOW
        )
        # 21 + 42 + 84 (10:05 to 10:35) mL, then nothing.
        refusal = services.volume_refusal(
            started.cycle.course.order.administration_plan,
            record(started),
            volume=Decimal("150"),
            started_at=local(9, 5),
            stopped_at=local(13, 55),
        )
        assert "deliver 147.0 mL" in refusal

    def test_completion_asks_for_the_confirmed_summary(self, started, nurse):
        current = fill_for_completion(started, nurse)
        summary = services.summary_of(started, current)
        assert summary.to_dict() | {"started_at": None, "stopped_at": None} == {
            "grams_planned": "70.00",
            "grams_opened": "60.00",
            "grams_given": "60.00",
            "grams_wasted": "0.00",
            "grams_unaccounted": "0.00",
            "volume_planned_ml": "700.0",
            "volume_given_ml": "600.0",
            "started_at": None,
            "stopped_at": None,
            "minutes": 290,
            "planned_minutes": current.session.cycle.course.order.administration_plan["infusion_minutes"],
        }
        with pytest.raises(ValidationError) as exc:
            services.record_complete(by=nurse, session=started, expected_version=current.version, now=NOW)
        assert messages_at(exc, "confirm") == ["Check the summary (grams, volume, time) and confirm it to complete."]
        assert record(started).completed_at is None

    def test_the_chair_completes_with_its_stop_and_volume(self, started, nurse):
        services.vitals_record(by=nurse, session=started, **vitals("before", local(9, 0)), now=NOW)
        lot(started, nurse)
        climb(started, nurse)
        services.vitals_record(by=nurse, session=started, **vitals("after", local(13, 58)), now=NOW)
        done = services.record_complete(
            by=nurse,
            session=started,
            expected_version=None,
            confirm=True,
            stopped_at=local(13, 55),
            volume_given_ml="600",
            now=NOW,
        )
        assert (done.stopped_at, done.volume_given_ml) == (local(13, 55), Decimal("600"))
        assert set(RecordValue.objects.filter(record=done, voided_at=None).values_list("kind", flat=True)) == {
            "start",
            "stop",
            "volume",
        }

    def test_the_chair_cannot_complete_over_a_different_volume(self, started, nurse):
        current = fill_for_completion(started, nurse)
        with pytest.raises(ValidationError) as exc:
            services.record_complete(
                by=nurse,
                session=started,
                expected_version=current.version,
                confirm=True,
                volume_given_ml="500",
                now=NOW,
            )
        assert messages_at(exc, "volume_given_ml") == ["Already recorded as 600.0 mL: correct the record first."]
        assert InfusionRecord.objects.get(session=started).completed_at is None
