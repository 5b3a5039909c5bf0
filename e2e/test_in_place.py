"""In-place updates (htmx) in Chromium: acknowledging a flag, marking a reminder, adding vital signs
to the infusion record and recalculating a dose each update their part of the page without a reload
(a marker set on the window survives), and each works again with JavaScript off, as a full post."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from e2e.conftest import field_feedback, login, says, screenshot
from patients.tests.factories import RiskFactorFactory
from risk.models import RiskFlag
from scheduling.models import Reminder, ReminderStatus, VitalSigns
from scheduling.tests.factories import ReminderFactory, make_session

pytestmark = pytest.mark.e2e

JOURNEY = "in-place"
FLAG_TITLE = "History of venous or arterial thrombosis"


def mark_the_page(page: Page) -> None:
    page.evaluate("window.__marker = 1")


def not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"


@pytest.fixture
def dvt_flag(alice_martin):
    RiskFactorFactory(patient=alice_martin, kind="venous_thrombosis", noted_on=timezone.localdate() - timedelta(10))
    return RiskFlag.objects.get(patient=alice_martin, code="thrombosis_history")


@pytest.fixture
def reminders(alice_martin):
    now = timezone.now()
    return [
        ReminderFactory(
            patient=alice_martin,
            subject_key=f"thrombosis_check:e2e-{number}",
            due_at=now - timedelta(hours=number + 1),
            message=f"Reminder number {number}.",
        )
        for number in (1, 2)
    ]


@pytest.fixture
def todays_session(verified_order, nurse_user):
    nurse = get_user_model().objects.get(username=nurse_user.username)
    start = timezone.localtime().replace(second=0, microsecond=0) + timedelta(hours=1)
    return make_session(verified_order, by=nurse, planned_start=start)


# --- Acknowledging a flag ---------------------------------------------------------------------------


def test_acknowledge_a_flag_on_the_dashboard_in_place(page, physician_user, dvt_flag):
    login(page, physician_user.username)
    section = page.get_by_role("region", name="Flags not yet acknowledged")
    count = page.locator("#unacknowledged-count")
    expect(count).to_have_text("1")
    mark_the_page(page)
    section.get_by_role("link", name=re.compile(f"Acknowledge {FLAG_TITLE}")).click()
    comment = section.get_by_label("What you checked or did")
    expect(comment).to_be_focused()
    section.get_by_role("button", name="Acknowledge").click()
    expect(section.get_by_text("This field is required.", exact=True)).to_be_visible()  # 422: the form, with the error
    comment.fill("Hydration ordered, at-risk cap confirmed")
    section.get_by_role("button", name="Acknowledge").click()

    expect(section).to_contain_text("Maya Okafor")
    expect(section).to_contain_text("Hydration ordered, at-risk cap confirmed")
    expect(count).to_have_text("0")
    says(page, f"Acknowledged: {FLAG_TITLE} for E2E-0001.")
    expect(page.locator(f"#acknowledge-{dvt_flag.uuid}")).to_be_focused()
    not_reloaded(page)
    screenshot(page, JOURNEY, "01-flag-acknowledged-on-dashboard")
    dvt_flag.refresh_from_db()
    assert dvt_flag.acknowledgement_comment == "Hydration ordered, at-risk cap confirmed"


def test_acknowledge_a_flag_on_the_chart_in_place_and_cancel(page, nurse_user, dvt_flag, alice_martin):
    login(page, nurse_user.username)
    page.goto(alice_martin.get_absolute_url())
    flags = page.get_by_role("region", name=re.compile("^Risk flags"))
    mark_the_page(page)
    flags.get_by_role("link", name=f"Acknowledge {FLAG_TITLE}").click()
    flags.get_by_role("link", name="Cancel").click()
    expect(flags.get_by_label("What you checked or did")).to_have_count(0)
    flags.get_by_role("link", name=f"Acknowledge {FLAG_TITLE}").click()
    flags.get_by_label("What you checked or did").fill("Seen; hydration plan in the order")
    flags.get_by_role("button", name="Acknowledge").click()
    expect(flags).to_contain_text("Grace Lindqvist")
    not_reloaded(page)
    assert RiskFlag.objects.get(pk=dvt_flag.pk).acknowledged_at is not None


def test_acknowledge_a_flag_without_javascript(page_without_js, physician_user, dvt_flag):
    page = page_without_js
    login(page, physician_user.username)
    section = page.get_by_role("region", name="Flags not yet acknowledged")
    section.get_by_role("link", name=re.compile(f"Acknowledge {FLAG_TITLE}")).click()
    expect(page.get_by_role("heading", name="Acknowledge a risk flag")).to_be_visible()
    page.get_by_label("What you checked or did").fill("Checked without a script")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page).to_have_url(re.compile(r"/$"))
    says(page, f"Acknowledged: {FLAG_TITLE} for E2E-0001.")
    expect(page.locator("#unacknowledged-count")).to_have_text("0")
    assert RiskFlag.objects.get(pk=dvt_flag.pk).acknowledgement_comment == "Checked without a script"


# --- Marking a reminder -----------------------------------------------------------------------------


def test_mark_reminders_read_and_done_in_place(page, nurse_user, reminders):
    login(page, nurse_user.username)
    header = page.locator("#unread-reminders")
    expect(header).to_contain_text("2")
    page.get_by_role("link", name=re.compile("^Reminders")).click()
    mark_the_page(page)
    first = page.get_by_role("row").filter(has_text="Reminder number 1.")
    first.get_by_role("button", name=re.compile("^Mark read")).click()
    says(page, "Marked as read.")
    expect(header).to_contain_text("1")
    expect(first.get_by_role("button", name=re.compile("^Mark read"))).to_have_count(0)
    expect(first.get_by_role("button", name=re.compile("^Done"))).to_be_focused()

    first.get_by_role("button", name=re.compile("^Done")).click()
    says(page, "Marked as done.")
    expect(page.get_by_role("row").filter(has_text="Reminder number 1.")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"^Done\s+1"))).to_be_visible()
    not_reloaded(page)
    screenshot(page, JOURNEY, "02-reminder-done")
    assert Reminder.objects.get(pk=reminders[0].pk).status == ReminderStatus.DONE


def test_mark_a_reminder_done_without_javascript(page_without_js, nurse_user, reminders):
    page = page_without_js
    login(page, nurse_user.username)
    page.goto("/scheduling/inbox/")
    page.get_by_role("row").filter(has_text="Reminder number 2.").get_by_role(
        "button", name=re.compile("^Done")
    ).click()
    says(page, "Marked as done.")
    expect(page.get_by_role("row").filter(has_text="Reminder number 2.")).to_have_count(0)
    expect(page.locator("#unread-reminders")).to_contain_text("1")
    assert Reminder.objects.get(pk=reminders[1].pk).status == ReminderStatus.DONE


# --- Adding vital signs to the infusion record ------------------------------------------------------


def fill_vitals(page: Page, where) -> None:
    where.get_by_label("Before").check()
    where.get_by_label("Systolic (mmHg)").fill("124")
    where.get_by_label("Diastolic (mmHg)").fill("78")
    where.get_by_label("Heart rate (beats/min)").fill("72")
    where.get_by_label(re.compile(r"Temperature")).fill("36.8")


def test_record_vital_signs_in_place(page, nurse_user, todays_session):
    login(page, nurse_user.username)
    page.goto(todays_session.get_absolute_url())
    mark_the_page(page)
    page.get_by_role("link", name="Vital signs", exact=True).click()
    entry = page.locator("#record-entry")
    expect(entry.get_by_role("heading", name="Record vital signs")).to_be_visible()
    fill_vitals(page, entry)
    entry.get_by_label("Diastolic (mmHg)").fill("140")
    entry.get_by_role("button", name="Record").click()
    expect(field_feedback(entry, "Diastolic (mmHg)")).to_contain_text("not below")  # 422, next to the field
    entry.get_by_label("Diastolic (mmHg)").fill("78")
    entry.get_by_role("button", name="Record").click()

    says(page, "Recorded the vital signs.")
    vitals = page.locator("#vitals + div table")
    expect(vitals.locator("tbody tr")).to_have_count(1)
    expect(vitals).to_contain_text("124/78")
    expect(vitals.locator("tbody tr").first).to_be_focused()
    expect(page.locator("#record-entry form")).to_have_count(0)
    not_reloaded(page)
    screenshot(page, JOURNEY, "03-vitals-recorded")
    assert VitalSigns.objects.filter(record__session=todays_session).count() == 1


def test_record_vital_signs_without_javascript(page_without_js, nurse_user, todays_session):
    page = page_without_js
    login(page, nurse_user.username)
    page.goto(todays_session.get_absolute_url())
    page.get_by_role("link", name="Vital signs", exact=True).click()
    expect(page.get_by_role("heading", name="Record vital signs")).to_be_visible()
    fill_vitals(page, page)
    page.get_by_role("button", name="Record").click()
    says(page, "Recorded the vital signs.")
    expect(page).to_have_url(re.compile(r"#vitals$"))
    expect(page.locator("#vitals + div table")).to_contain_text("124/78")
    assert VitalSigns.objects.filter(record__session=todays_session).count() == 1


# --- Recalculating a dose ---------------------------------------------------------------------------


def fill_the_calculator(page: Page, days: str) -> None:
    page.get_by_label("Product and indication").select_option(label="Octagam 10% — Dermatomyositis")
    page.get_by_label("Actual body weight (kg)").fill("70")
    page.get_by_label("Height (cm)").fill("170")
    page.get_by_label("Sex at birth").select_option(label="Female")
    page.get_by_label("Dose per cycle (g/kg)").fill("2")
    page.get_by_label("Infusion days per cycle").fill(days)


def test_the_calculator_recalculates_in_place_and_keeps_the_link(page, physician_user):
    login(page, physician_user.username)
    page.get_by_role("link", name="Dose calculator").click()
    mark_the_page(page)
    fill_the_calculator(page, "2")
    results = page.locator("#calculator-results")
    expect(results).to_contain_text("70 g/day")
    expect(page).to_have_url(re.compile(r"weight_kg=70.*days=2"))
    page.get_by_label("Infusion days per cycle").fill("5")
    expect(results).to_contain_text("28 g/day")
    expect(page).to_have_url(re.compile(r"days=5"))
    expect(page.get_by_label("Infusion days per cycle")).to_be_focused()
    not_reloaded(page)
    screenshot(page, JOURNEY, "04-calculator")
    assert Decimal("28") * 5 == Decimal("140")  # the worked example: 2 g/kg × 70 kg over 5 days


def test_the_calculator_without_javascript(page_without_js, physician_user):
    page = page_without_js
    login(page, physician_user.username)
    page.goto("/dosing/calculator/")
    fill_the_calculator(page, "2")
    expect(page.locator("#calculator-results")).not_to_contain_text("70 g/day")  # nothing happens by itself
    page.get_by_role("button", name="Calculate").click()
    expect(page).to_have_url(re.compile(r"days=2"))
    expect(page.locator("#calculator-results")).to_contain_text("70 g/day")


# --- When the answer is not the fragment ------------------------------------------------------------

FORBIDDEN = "Failed to load resource: the server responded with a status of 403 (Forbidden)"
HTMX_403 = "Response Status Error Code 403 from /scheduling/reminders/"


def test_a_refused_in_place_action_says_so_and_an_expired_session_goes_to_the_login(page, nurse_user, reminders, watch):
    login(page, nurse_user.username)
    page.goto("/scheduling/inbox/")
    mark_the_page(page)
    # The nurse's role is taken away while the page is open: the next action is refused (403).
    get_user_model().objects.get(username=nurse_user.username).groups.clear()
    page.get_by_role("row").filter(has_text="Reminder number 1.").get_by_role(
        "button", name=re.compile("^Done")
    ).click()
    refused = page.get_by_role("alert")
    expect(refused).to_contain_text("You are not allowed to do this (403). Nothing was changed.")
    expect(refused).to_be_focused()
    not_reloaded(page)
    assert Reminder.objects.get(pk=reminders[0].pk).status != ReminderStatus.DONE
    # Chromium and htmx each log the 403 they were given; nothing else may appear.
    watch.console_errors.remove(FORBIDDEN)
    watch.console_errors[:] = [text for text in watch.console_errors if not text.startswith(HTMX_403)]

    # The session ends (logged out elsewhere; the CSRF cookie stays): the next action sends the whole
    # page to the login.
    page.context.clear_cookies(name=settings.SESSION_COOKIE_NAME)
    page.get_by_role("row").filter(has_text="Reminder number 2.").get_by_role(
        "button", name=re.compile("^Done")
    ).click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/scheduling/inbox/"))
