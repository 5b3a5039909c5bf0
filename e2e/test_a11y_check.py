"""The accessibility check itself: it finds what it is there to find, with JavaScript on and off
(where it checks a copy of the page), and names the rule, the impact and the element."""

import pytest

from e2e.a11y import assert_accessible, assert_errors_named, axe_on, scriptless
from e2e.conftest import TIMEOUT_MS, WIDE

pytestmark = pytest.mark.e2e

# Amber on white, 1.6:1 (serious: WCAG 1.4.3; a stylesheet class, as the CSP refuses style attributes in the
# copy) and an image without a text alternative (critical: 1.1.1).
PLANT = """() => document.querySelector("main").insertAdjacentHTML("beforeend",
  '<p class="planted-text text-warning">Not legible</p><img class="planted-image" src="/static/favicon.svg">')"""


def test_the_checks_fail_on_planted_faults_with_javascript_on_and_off(browser, live_server):
    if not axe_on():
        pytest.skip("E2E_AXE=0: the axe checks are off in this pass")
    for javascript in (True, False):
        context = browser.new_context(viewport=WIDE, base_url=live_server.url, java_script_enabled=javascript)
        if not javascript:
            scriptless(context)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            page = context.new_page()
            page.goto("/accounts/login/")
            assert_accessible(page, "login")  # the page as served passes
            page.evaluate(PLANT)
            with pytest.raises(AssertionError) as failure:
                assert_accessible(page, "login with planted faults")

            # A refused form names its errors; take a field's description away and the check says so.
            page.goto("/accounts/login/")
            page.evaluate("() => { document.querySelector('main form').noValidate = true; }")
            page.get_by_role("button", name="Log in").click()
            assert_errors_named(page)
            page.evaluate("() => document.querySelector('#id_username').removeAttribute('aria-describedby')")
            with pytest.raises(AssertionError, match="username: aria-describedby does not point at its message"):
                assert_errors_named(page)
        finally:
            context.close()
        report = str(failure.value)
        assert "- color-contrast (serious)" in report, report
        assert "- image-alt (critical)" in report, report
        assert 'class="planted-text' in report and 'class="planted-image"' in report, report
