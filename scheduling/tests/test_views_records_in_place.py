"""Adding a part of the infusion record in place (htmx) from the session page: the part's form opens
in the page's #record-entry, a recorded entry answers with the record area (the new row focused), the
message and, for rates and reactions, the plan's ladder; errors answer the form with 422 and write
nothing. Without htmx the buttons open the part's page and its post redirects, as before."""

import re
import uuid

import pytest

from scheduling.tests import test_views_records as page_tests
from scheduling.tests.test_views_records import PART_FORMS, PART_MODELS, detail_url, nurse_client, part_url

HTMX = {"HX-Request": "true"}
pytestmark = pytest.mark.django_db

# The same nurse, session, start and site as the page tests (test_views_records.py).
nurse, session, started, usual_first_step = (
    page_tests.nurse,
    page_tests.session,
    page_tests.started,
    page_tests.usual_first_step,
)


def test_the_session_page_opens_each_part_in_place_with_a_page_to_fall_back_on(client, nurse, started):
    html = nurse_client(client, nurse).get(detail_url(started)).content.decode()
    assert '<div id="record-entry"></div>' in html
    assert '<div id="record-area">' in html
    for part in PART_FORMS:
        url = part_url(started, part)
        assert f'href="{url}" hx-get="{url}" hx-target="#record-entry" hx-swap="innerHTML"' in html


@pytest.mark.parametrize("part", list(PART_FORMS))
def test_the_form_in_place_posts_with_htmx_and_takes_focus(client, nurse, started, part):
    response = nurse_client(client, nurse).get(part_url(started, part), headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "<nav" not in html
    assert f'hx-post="{part_url(started, part)}" hx-target="#record-area" hx-swap="outerHTML"' in html
    assert 'id="record-entry-h"' in html and 'name="submission_id"' in html
    assert "autofocus" in html


@pytest.mark.parametrize("part", list(PART_FORMS))
def test_an_entry_in_place_answers_the_record_with_the_new_row_focused(client, nurse, started, part):
    response = nurse_client(client, nurse).post(part_url(started, part), PART_FORMS[part], headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and '<div id="record-area">' in html
    entry = PART_MODELS[part].objects.get()
    assert re.search(rf'<tr data-entry="{entry.uuid}" tabindex="-1" autofocus', html)
    assert html.count("autofocus") == 1
    assert 'hx-swap-oob="innerHTML"' in html and "Recorded the" in html
    # The form's panel is empty again, ready for the next entry.
    assert '<div id="record-entry"></div>' in html
    ladder_too = '<section id="plan" aria-labelledby="plan-h" class="mb-4" hx-swap-oob="true">' in html
    assert ladder_too == (part in ("rates", "reactions"))


def test_an_invalid_entry_in_place_is_422_with_the_error_at_the_field_and_nothing_written(client, nurse, started):
    data = PART_FORMS["vitals"] | {"diastolic_mmhg": "140"}
    response = nurse_client(client, nurse).post(part_url(started, "vitals"), data, headers=HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    # The record area, with the form and its error in the panel and focus on the refused field.
    assert html.lstrip().startswith("{%") is False and '<div id="record-area">' in html
    panel = html[html.index('<div id="record-entry"') :]
    assert f'hx-post="{part_url(started, "vitals")}"' in panel
    field = re.search(r'<input [^>]*name="diastolic_mmhg"[^>]*>', panel).group(0)
    assert "is-invalid" in field and "autofocus" in field and html.count("autofocus") == 1
    assert "not below" in panel
    assert "hx-swap-oob" not in html  # nothing else changed
    assert not PART_MODELS["vitals"].objects.exists()


def test_cancel_in_place_closes_the_form(client, nurse, started):
    response = nurse_client(client, nurse).get(part_url(started, "vitals") + "?cancel=1", headers=HTMX)
    assert response.status_code == 200 and response.content == b""


def test_without_htmx_the_part_page_and_its_redirect_are_as_before(client, nurse, started):
    client = nurse_client(client, nurse)
    page = client.get(part_url(started, "vitals")).content.decode()
    assert "<html" in page and "hx-post" not in page
    response = client.post(part_url(started, "vitals"), PART_FORMS["vitals"])
    assert response.status_code == 302 and response.url == f"{detail_url(started)}#vitals"


def test_a_repeated_in_place_entry_is_recorded_once(client, nurse, started):
    client = nurse_client(client, nurse)
    data = PART_FORMS["vitals"] | {"submission_id": str(uuid.uuid4())}
    assert client.post(part_url(started, "vitals"), data, headers=HTMX).status_code == 200
    repeat = client.post(part_url(started, "vitals"), data, headers=HTMX)
    assert repeat["HX-Redirect"] == f"{detail_url(started)}#vitals"
    assert PART_MODELS["vitals"].objects.count() == 1


def test_others_may_not_write_in_place(role_client, started):
    response = role_client("viewer").post(part_url(started, "vitals"), PART_FORMS["vitals"], headers=HTMX)
    assert response.status_code == 403 and not PART_MODELS["vitals"].objects.exists()
