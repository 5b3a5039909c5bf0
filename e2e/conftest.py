"""Real-browser journeys: Chromium (Debian's, driven by Playwright) against pytest-django's live server.

Every test gets a fresh browser context whose page may talk only to the live server: any request
to another host is aborted and fails the test at teardown (clinics run on closed networks), and so
does any console error (a CSP violation, a failed static file, a script error).

Run by path: ``.venv/bin/pytest -q e2e``.
"""

import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from accounts.roles import NURSE, PHARMACIST, PHYSICIAN
from patients.tests.factories import UserFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
WIDE = {"width": 1280, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
PASSWORD = "e2e-journey-password"
# A failed lookup or assertion waits this long: pages answer in milliseconds, so 5 s means "not there". On
# a machine busy with other work a cold page can take longer: E2E_TIMEOUT_MS=20000 gives it time
# (scripts/test-suite gives 15 s: CI runs the native stack check beside them). A longer wait slows no test that passes.
TIMEOUT_MS = int(os.environ.get("E2E_TIMEOUT_MS", "5000"))
FORM_REFUSED = "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: real-browser journeys")
    expect.set_options(timeout=TIMEOUT_MS)  # assertions, as the contexts' lookups (set_default_timeout)


@pytest.fixture(autouse=True)
def _restore_migrated_rows(django_db_serialized_rollback):
    """The live server needs a transactional database, which is emptied after each test. The rows
    the migrations load (role groups, the product catalog) are put back for the next test."""


@pytest.fixture(scope="module")
def browser(django_db_setup) -> Browser:
    """Chromium, once per test module.

    While it is open, Playwright's sync API keeps an asyncio loop running in this thread, and Django
    refuses database calls made here (fixtures, checks in the tests, the flush between tests) as
    async-unsafe unless DJANGO_ALLOW_ASYNC_UNSAFE is set. The variable is set only while the browser
    is open, not for the whole session: pytest-django runs the non-database tests after these, and a
    leftover variable reaches their subprocesses (`manage.py check --deploy` fails on it).
    """
    from django.db import connections

    # The snapshot of the migrated rows that TransactionTestCase restores after each flush, read
    # before the loop starts: from then on Django keeps its connections in a context-local store,
    # as new connection objects that lack it.
    if not os.path.exists(CHROMIUM):
        # `make test` installs Debian's chromium when it can (root); CI must never skip these.
        reason = f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    snapshots = {conn.alias: getattr(conn, "_test_serialized_contents", None) for conn in connections.all()}
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            for alias, snapshot in snapshots.items():
                if snapshot is not None:
                    connections[alias]._test_serialized_contents = snapshot
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@dataclass
class BrowserWatch:
    """What the page did that a closed-network clinic must never see."""

    external_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return (
            [f"request to another host: {url}" for url in self.external_requests]
            + [f"console error: {text}" for text in self.console_errors]
            + [f"uncaught script error: {text}" for text in self.page_errors]
        )


@pytest.fixture
def watch() -> BrowserWatch:
    return BrowserWatch()


@pytest.fixture
def page(browser, live_server, watch) -> Page:
    yield from _watched_page(browser, live_server, watch, javascript=True)


@pytest.fixture(params=[True, False], ids=["js-on", "js-off"])
def page_js_on_and_off(request, browser, live_server, watch) -> Page:
    """The same watched page, once with JavaScript on and once with it off: every page must work
    without scripts (the same forms post as full pages)."""
    yield from _watched_page(browser, live_server, watch, javascript=request.param)


def _watched_page(browser, live_server, watch, *, javascript: bool):
    from e2e.a11y import scriptless

    # Reduced motion: Bootstrap's transitions off, so an axe check or a screenshot never catches a button
    # half-way through its hover colours (a contrast that no one sees).
    context = browser.new_context(
        viewport=WIDE, base_url=live_server.url, java_script_enabled=javascript, reduced_motion="reduce"
    )
    if not javascript:
        scriptless(context)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    def local_only(route):
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname not in LOCAL_HOSTS:
            watch.external_requests.append(url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", local_only)
    # CSP violations, failed loads and script errors all reach the console as errors. One is not a fault:
    # Chromium logs every 4xx answer, and 422 is how an in-place form is refused for its input (the
    # form comes back with the errors at its fields); any other status still fails the test.
    page.on(
        "console",
        lambda message: (
            message.type == "error" and message.text != FORM_REFUSED and watch.console_errors.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    yield page
    context.close()
    problems = watch.problems()
    assert not problems, "The browser saw:\n" + "\n".join(problems)


@pytest.fixture
def page_without_js(browser, live_server, watch) -> Page:
    """The same watched page with JavaScript off: every in-place update must also work as a full page."""
    yield from _watched_page(browser, live_server, watch, javascript=False)


# --- People and their data ----------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    username: str
    full_name: str
    password: str = PASSWORD


def _person(username: str, first: str, last: str, role: str) -> Person:
    user = UserFactory(username=username, first_name=first, last_name=last, password=PASSWORD)
    user.groups.add(Group.objects.get(name=role))
    return Person(username, f"{first} {last}")


@pytest.fixture
def physician_user(db) -> Person:
    return _person("dr.okafor", "Maya", "Okafor", PHYSICIAN)


@pytest.fixture
def pharmacist_user(db) -> Person:
    return _person("ph.reyes", "Daniel", "Reyes", PHARMACIST)


@pytest.fixture
def nurse_user(db) -> Person:
    return _person("rn.lindqvist", "Grace", "Lindqvist", NURSE)


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def alice_martin(physician_user, today):
    """The worked example's patient: a 52-year-old woman with dermatomyositis, 70 kg, 170 cm."""
    from django.contrib.auth import get_user_model

    from patients import services

    return services.patient_create(
        by=get_user_model().objects.get(username=physician_user.username),
        today=today,
        mrn="E2E-0001",
        given_name="Alice",
        family_name="Martin",
        date_of_birth=today.replace(year=today.year - 52) - timedelta(days=40),
        sex_at_birth="female",
        diagnosis="adult_dm",
        antibodies=["tif1g"],
        cancer_screen_on=today - timedelta(days=60),
        weight_kg=Decimal("70.0"),
        height_cm=Decimal("170.0"),
        measured_on=today - timedelta(days=2),
    )


@pytest.fixture
def verified_order(physician_user, pharmacist_user, alice_martin):
    """Octagam 10% for dermatomyositis, 2 g/kg over 2 days, for Alice Martin (70 kg, 170 cm), verified."""
    from django.contrib.auth import get_user_model

    from dosing.models import Indication
    from dosing.services.orders import dose_order_create, dose_order_verify

    users = get_user_model().objects
    indication = Indication.objects.get(product__slug="octagam-10", slug="dermatomyositis")
    order = dose_order_create(
        by=users.get(username=physician_user.username),
        patient=alice_martin,
        indication=indication,
        dose_g_per_kg=Decimal("2"),
        days=2,
        weight_basis="auto",
    )
    return dose_order_verify(by=users.get(username=pharmacist_user.username), order=order)


def record_times(timeline: dict[str, int]) -> dict[str, datetime]:
    """Local times for an infusion record, all today and none in the future: `timeline` gives each
    entry's minutes after the first, and is squeezed proportionally when the test runs less than
    its span after midnight (the record accepts a start only on the session's day)."""
    now = timezone.localtime().replace(second=0, microsecond=0)
    midnight = now.replace(hour=0, minute=0)
    span = max(timeline.values())
    available = int((now - midnight) / timedelta(minutes=1))
    scale = min(1.0, available / span)
    first = now - timedelta(minutes=int(span * scale))
    return {name: first + timedelta(minutes=int(offset * scale)) for name, offset in timeline.items()}


# --- What a person does in the browser ------------------------------------------------------------


def login(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    # The menu holding the person's name may be collapsed (a tablet): the page's frame is what is checked.
    expect(page.locator("details.user-menu")).to_have_count(1)


def local_input(moment: datetime) -> str:
    """What a person types into a date-and-time input: the clinic's date and a 24-hour time."""
    return f"{moment:%Y-%m-%d %H:%M}"


def says(page: Page, message: str) -> None:
    """The page's confirmation (a status message) says `message`."""
    expect(page.get_by_role("status").filter(has_text=message)).to_be_visible()


def open_menu(page: Page) -> None:
    """Open the collapsed main menu (below 992 px) and the person's own menu (API tokens, Log out)."""
    # Until the stylesheets apply, the toggler shows at any width and then vanishes: wait for them.
    page.wait_for_load_state("load")
    toggler = page.get_by_role("button", name="Show menu")
    if toggler.is_visible() and toggler.get_attribute("aria-expanded") != "true":
        toggler.click()
        expect(page.locator("#main-nav")).to_have_class(re.compile(r"\bshow\b"))
    menu = page.locator("details.user-menu")
    if menu.get_attribute("open") is None:
        menu.locator("summary").click()


def logout(page: Page) -> None:
    open_menu(page)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def screenshots_on() -> bool:
    """E2E_SCREENSHOTS=0 turns the screenshots off: CI's second pass (the same pages on PostgreSQL) sets
    it rather than write every picture again (~0.3 s each, 200-odd a pass)."""
    return os.environ.get("E2E_SCREENSHOTS", "1") != "0"


def screenshot(page: Page, journey: str, step: str, *, full_page: bool = True) -> Path:
    """Save the page under artifacts/screenshots/ (unless `screenshots_on()` says not)."""
    path = SCREENSHOTS / f"e2e-{journey}-{step}.png"
    if not screenshots_on():
        return path
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def field_feedback(page: Page, label, *, exact: bool = False):
    """The invalid-feedback message shown with the input labelled `label`, after checking it sits
    right under the input (within 60 px, starting inside the input's width), so a person sees which
    field it is about."""
    control = page.get_by_label(label, exact=exact)
    expect(control).to_have_class(re.compile(r"\bis-invalid\b"))
    # Bootstrap puts the message in the input's own wrapper, after the input.
    feedback = control.locator("xpath=following-sibling::*[contains(@class, 'invalid-feedback')][1]")
    expect(feedback).to_be_visible()
    # The page's script re-renders the message as the person types; on a busy machine the first
    # measurement can fall between two layouts, so measure until it settles (3 s at most).
    deadline = time.monotonic() + 3
    while True:
        where = control.evaluate(POSITION_OF_FEEDBACK)
        placed = -1 <= where["below_px"] <= 60 and where["within_width"]
        if placed or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    assert placed, f"the message for {label!r} is not under it: {where}"
    return feedback


# Both rectangles measured in one go, so a scroll in between cannot skew them.
POSITION_OF_FEEDBACK = """input => {
  let message = input.nextElementSibling;
  while (message && !message.classList.contains("invalid-feedback")) message = message.nextElementSibling;
  const field = input.getBoundingClientRect(), text = message.getBoundingClientRect();
  return {below_px: text.top - field.bottom, within_width: text.left >= field.left - 1 && text.left < field.right};
}"""
