"""The accessibility check every browser test can call: axe-core (bundled with axe-playwright-python,
injected from the package's own file, so no request leaves the machine) over the page as it is now,
for WCAG 2.0, 2.1 and 2.2 level A and AA, failing on any serious or critical violation.

With JavaScript off a page's timers never fire, and axe needs them, so the check runs on a copy: the
page's DOM as the browser built it without scripts, served at the same address to a scripted page
that loads the same stylesheets, with the <noscript> contents kept as markup and every script left out.
"""

import re
from weakref import WeakSet

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page

from e2e.conftest import screenshot

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
    if page.context in _SCRIPTLESS:
        return _violations_of_a_copy(page)
    return _serious(_AXE.run(page, options=OPTIONS).response["violations"])


def assert_accessible(page: Page, name: str) -> None:
    """Fail with a readable list when axe finds a serious or critical violation on the page."""
    found = serious_violations(page)
    assert not found, f"{name} ({page.url}): axe found serious or critical violations:\n{violations_report(found)}"


def check_page(page: Page, journey: str, step: str) -> None:
    """Run the accessibility check once, then photograph the page at 1280 and 768 px wide
    (artifacts/screenshots/e2e-<journey>-<step>-<width>.png), leaving it at its first width."""
    assert_accessible(page, f"{journey}/{step}")
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
