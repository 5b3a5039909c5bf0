"""The accessibility check every browser test can call: axe-core (bundled with axe-playwright-python,
injected from the package's own file, so no request leaves the machine) over the page as it is now,
for WCAG 2.0, 2.1 and 2.2 level A and AA, failing on any serious or critical violation.

With JavaScript off a page's timers never fire, and axe needs them, so the check runs on a copy: the
page's DOM as the browser built it without scripts, served at the same address to a scripted page
that loads the same stylesheets, with the <noscript> contents kept as markup and every script left out.
"""

import os
import re
import time
from contextlib import suppress
from weakref import WeakSet

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from e2e.conftest import screenshot, screenshots_on

WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_22_AA}, "resultTypes": ["violations"]}
FAILING_IMPACTS = {"serious", "critical"}
WIDTHS = (1280, 768)

_AXE = Axe()
# Contexts opened with JavaScript off (see `scriptless`): their pages are checked on a copy.
_SCRIPTLESS: WeakSet = WeakSet()
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.IGNORECASE | re.DOTALL)
_NOSCRIPT_TAG = re.compile(r"</?noscript>", re.IGNORECASE)


def scriptless(context: BrowserContext) -> BrowserContext:
    """Mark a context opened with java_script_enabled=False, so `assert_accessible` checks a copy."""
    _SCRIPTLESS.add(context)
    return context


def javascript_mode(page: Page) -> str:
    """ "js-off" for a page opened with JavaScript off, else "js-on" (for file names)."""
    return "js-off" if page.context in _SCRIPTLESS else "js-on"


def violations_report(violations: list[dict]) -> str:
    """One paragraph a violation: rule id, impact, what it asks for, and each offending element."""
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    at {', '.join(map(str, node['target']))}: {node['html'][:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"       {summary[:300]}")
    return "\n".join(lines)


def serious_violations(page: Page) -> list[dict]:
    """The serious and critical WCAG 2.2 A/AA violations axe finds on the page as it is now."""
    # Once its stylesheets apply: a step can reach its form (and fill it) while they still load, and
    # axe would then measure the unstyled page (17 px touch targets, on a loaded machine).
    page.wait_for_load_state("load")
    if page.context in _SCRIPTLESS:
        return _violations_of_a_copy(page)
    return _serious(_AXE.run(page, options=OPTIONS).response["violations"])


def axe_on() -> bool:
    """E2E_AXE=0 turns the axe checks off: CI's second pass (the same pages on PostgreSQL) sets it, since
    the markup axe reads does not depend on the database the first pass checked it on."""
    return os.environ.get("E2E_AXE", "1") != "0"


def assert_accessible(page: Page, name: str) -> None:
    """Fail with a readable list when axe finds a serious or critical violation on the page."""
    if not axe_on():
        return
    found = serious_violations(page)
    assert not found, f"{name} ({page.url}): axe found serious or critical violations:\n{violations_report(found)}"


# Every control marked invalid says so (aria-invalid) and is described by its own message, and the
# page opens with an error summary announced as an alert. Read from the DOM without running page
# scripts, so it works with JavaScript off.
ERRORS_NOT_NAMED = """() => {
  const problems = [];
  const invalid = [...document.querySelectorAll("main .is-invalid:is(input, select, textarea)")];
  if (!invalid.length) problems.push("no field is marked invalid");
  for (const control of invalid) {
    if (control.getAttribute("aria-invalid") !== "true") problems.push(`${control.name}: no aria-invalid="true"`);
    const messages = (control.getAttribute("aria-describedby") || "").split(/\\s+/)
      .map(id => document.getElementById(id)).filter(el => el && el.classList.contains("invalid-feedback"));
    if (!messages.length || !messages[0].textContent.trim()) {
      problems.push(`${control.name}: aria-describedby does not point at its message`);
    }
  }
  const summary = document.querySelector("main [role=alert]");
  if (!summary || !summary.textContent.trim()) problems.push("no error summary with role=alert");
  return problems;
}"""


def assert_errors_named(page: Page) -> None:
    """A refused form names its errors for screen readers (WCAG 3.3.1 and 4.1.2)."""
    # A refusal sent as a whole page arrives after the click returns: wait for its summary (if none comes
    # the check below says so, not a timeout).
    with suppress(PlaywrightTimeoutError):
        page.locator("main [role=alert]").first.wait_for(state="attached")
    page.wait_for_load_state("load")
    problems = page.evaluate(ERRORS_NOT_NAMED)
    assert not problems, f"{page.url}: errors not named for screen readers: {problems}"


# WCAG 2.4.11: the focused element is not hidden under anything that stays put on screen (a sticky or
# fixed header or footer). No part of the app is sticky today; this keeps it so or catches the day one is.
FOCUS_OBSCURED_BY = """() => {
  const focused = document.activeElement, box = focused.getBoundingClientRect();
  return [...document.querySelectorAll("body *")]
    .filter(el => !el.contains(focused) && ["fixed", "sticky"].includes(getComputedStyle(el).position))
    .map(el => [el, el.getBoundingClientRect()])
    .filter(([el, r]) => r.bottom > box.top && r.top < box.bottom && r.right > box.left && r.left < box.right)
    .map(([el, r]) => `${el.tagName.toLowerCase()}.${el.className} covers ${focused.name || focused.tagName}`);
}"""


def assert_focus_visible(page: Page) -> None:
    """The focused element is on screen and nothing sticky or fixed covers it."""
    # Bootstrap scrolls smoothly: measure once the focused element has stopped moving (3 s at most).
    box, deadline = None, time.monotonic() + 3
    while time.monotonic() < deadline:
        previous, box = box, page.evaluate("() => document.activeElement.getBoundingClientRect().toJSON()")
        if box == previous:
            break
        page.wait_for_timeout(100)
    height = page.viewport_size["height"]
    assert box["top"] >= 0 and box["bottom"] <= height, f"the focused element is off screen: {box}"
    covered = page.evaluate(FOCUS_OBSCURED_BY)
    assert not covered, f"focus hidden: {covered}"


def check_page(page: Page, journey: str, step: str) -> None:
    """Run the accessibility check once, then photograph the page at 1280 and 768 px wide
    (artifacts/screenshots/e2e-<journey>-<step>-<width>.png), leaving it at its first width. Pages
    walked with JavaScript off are checked, not photographed: they are the pages the walk with
    JavaScript on photographs (~0.3 s a picture, two widths, 80-odd pages)."""
    assert_accessible(page, f"{journey}/{step}")
    if javascript_mode(page) == "js-off" or not screenshots_on():
        return
    viewport = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": viewport["height"]})
        screenshot(page, journey, f"{step}-{width}")
    page.set_viewport_size(viewport)


def _serious(violations: list[dict]) -> list[dict]:
    return [violation for violation in violations if violation["impact"] in FAILING_IMPACTS]


def _violations_of_a_copy(page: Page) -> list[dict]:
    html = _NOSCRIPT_TAG.sub("", _SCRIPT.sub("", page.content()))
    address = page.url
    browser = page.context.browser
    copy_context = browser.new_context(viewport=page.viewport_size)
    try:
        copy_context.add_cookies(page.context.cookies())
        copy = copy_context.new_page()

        def serve(route):
            request = route.request
            if request.url == address and request.resource_type == "document":
                route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
            elif request.resource_type == "script":
                route.abort()
            else:
                route.continue_()

        copy.route("**/*", serve)
        copy.goto(address)
        return _serious(_AXE.run(copy, options=OPTIONS).response["violations"])
    finally:
        copy_context.close()
