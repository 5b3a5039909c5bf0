"""What every in-place update (htmx) shares: an expired session sends the whole page to the login
form, the page carries the status region and the script that reports refused answers, and
base.html's htmx-config swaps form errors (422) but treats other 4xx/5xx as errors."""

import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from accounts.in_place import FORM_ERRORS, form_status

INBOX = reverse("scheduling:inbox")


@pytest.mark.django_db
def test_an_expired_session_sends_the_whole_page_to_the_login_and_back(client):
    response = client.post(
        reverse("risk:acknowledge", args=["7a0c3a53-5b8e-4c4f-9d52-6f1c2a2d9e01"]),
        {"comment": "checked"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/?severity=high"},
    )
    assert response.status_code == 200 and response.content == b""
    assert response["HX-Redirect"] == "/accounts/login/?next=/%3Fseverity%3Dhigh"


@pytest.mark.django_db
def test_an_expired_session_from_another_host_page_goes_back_to_the_fragments_url(client):
    response = client.get(INBOX, headers={"HX-Request": "true", "HX-Current-URL": "https://elsewhere.example/x"})
    assert response["HX-Redirect"] == f"/accounts/login/?next={INBOX}"


@pytest.mark.django_db
def test_without_htmx_an_expired_session_is_the_plain_login_redirect(client):
    response = client.get(INBOX)
    assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next={INBOX}"
    assert "HX-Redirect" not in response


@pytest.mark.django_db
def test_the_page_has_a_status_region_the_error_script_and_the_htmx_config(role_client):
    html = role_client("nurse").get(INBOX).content.decode()
    assert '<div id="messages" aria-live="polite">' in html
    assert "{#" not in html and "#}" not in html  # no template comment leaks into the page
    assert '<script src="/static/js/in_place.js" defer></script>' in html
    assert finders.find("js/in_place.js")
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html).group(1))
    assert config["allowEval"] is False and config["includeIndicatorStyles"] is False
    # A swapped-in form is wired (and its autofocus field focused) as soon as it shows.
    assert config["defaultSettleDelay"] == 0
    handling = {rule["code"]: rule for rule in config["responseHandling"]}
    assert handling["422"]["swap"] is True and handling["409"]["swap"] is True
    assert handling["[45].."] == {"code": "[45]..", "swap": False, "error": True}
    # The first rule matching a status wins: 422 and 409 before the 4xx error rule.
    codes = [rule["code"] for rule in config["responseHandling"]]
    assert codes.index("422") < codes.index("[45]..") and codes.index("409") < codes.index("[45]..")


def test_the_error_script_reports_refused_and_failed_answers():
    script = Path(finders.find("js/in_place.js")).read_text()
    assert 'addEventListener("htmx:responseError"' in script and 'addEventListener("htmx:sendError"' in script
    assert "eval(" not in script and "innerHTML" not in script


class _Request:
    def __init__(self, htmx):
        self.htmx = htmx


@pytest.mark.parametrize(
    ("htmx", "status", "expected"), [(True, 200, FORM_ERRORS), (False, 200, 200), (True, 409, 409), (False, 409, 409)]
)
def test_form_errors_answer_422_in_place_only(htmx, status, expected):
    assert form_status(_Request(htmx), status) == expected
