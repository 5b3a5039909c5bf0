"""Acknowledging a flag in place (htmx), from the patient chart and from the dashboard: the form opens
where the button was, the acknowledgement comes back in its place with the message and (on the
dashboard) the count of flags not yet acknowledged; errors come back with the form and 422."""

import re
import uuid

import pytest
from django.urls import reverse

from patients.tests.factories import RiskFactorFactory
from risk.models import RiskFlag
from risk.services import flags_unacknowledged_total

HTMX = {"HX-Request": "true"}


@pytest.fixture
def flag(patient):
    RiskFactorFactory(patient=patient, kind="venous_thrombosis")
    return RiskFlag.objects.get(patient=patient, code="thrombosis_history")


def url(flag):
    return reverse("risk:acknowledge", kwargs={"flag_uuid": flag.uuid})


def hx_get_of_button(html: str, flag) -> str:
    match = re.search(rf'<div id="acknowledge-{flag.uuid}">\s*<a [^>]*hx-get="([^"]+)"', html)
    assert match, "the Acknowledge button opens the form in place"
    return match.group(1).replace("&amp;", "&")


@pytest.mark.django_db
def test_chart_button_opens_the_form_in_place_with_focus_in_the_comment(role_client, flag):
    client = role_client("nurse")
    chart = client.get(flag.patient.get_absolute_url()).content.decode()
    button = hx_get_of_button(chart, flag)
    assert f'href="{url(flag)}"' in chart  # without JavaScript: the acknowledge page
    assert 'hx-target="#acknowledge-' in chart and 'hx-swap="outerHTML"' in chart

    response = client.get(button, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<form") and "<html" not in html
    assert f'id="acknowledge-{flag.uuid}"' in html and f'hx-post="{url(flag)}"' in html
    assert re.search(r"<textarea [^>]*autofocus", html)
    assert 'name="submission_id"' in html and 'name="counted"' not in html


@pytest.mark.django_db
def test_acknowledge_in_place_from_the_chart(client, flag, make_user):
    nurse = make_user("nurse", first_name="Grace", last_name="Lindqvist")
    client.force_login(nurse)
    response = client.post(url(flag), {"comment": "Hydration ordered", "next": ""}, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert re.match(rf'\s*<div id="acknowledge-{flag.uuid}" tabindex="-1" autofocus>', html)
    assert "Grace Lindqvist" in html and "Hydration ordered" in html
    assert "Acknowledged: History of venous or arterial thrombosis" in html and 'hx-swap-oob="innerHTML"' in html
    assert "unacknowledged-count" not in html  # the chart shows no such count
    flag.refresh_from_db()
    assert flag.acknowledged_by == nurse and flag.acknowledgement_comment == "Hydration ordered"


@pytest.mark.django_db
def test_acknowledge_in_place_from_the_dashboard_updates_its_count(role_client, flag):
    client = role_client("physician")
    before = flags_unacknowledged_total()
    assert before >= 1
    dashboard = client.get(reverse("home")).content.decode()
    assert f'id="unacknowledged-count">{before}<' in dashboard
    button = hx_get_of_button(dashboard, flag)
    assert "counted=1" in button and "next=/" in button
    form = client.get(button, headers=HTMX).content.decode()
    assert '<input type="hidden" name="counted" value="1">' in form
    assert '<input type="hidden" name="next" value="/">' in form

    response = client.post(url(flag), {"comment": "Seen", "next": "/", "counted": "1"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<div id="unacknowledged-count" hx-swap-oob="innerHTML">{before - 1}</div>' in html
    assert f"for <bdi>{flag.patient.mrn}</bdi>" not in html  # acknowledged: no button any more
    assert flags_unacknowledged_total() == before - 1


@pytest.mark.django_db
def test_an_empty_comment_in_place_is_422_with_the_error_at_the_field_and_nothing_written(role_client, flag):
    response = role_client("nurse").post(url(flag), {"comment": "  ", "counted": "1"}, headers=HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert html.lstrip().startswith("<form") and "is-invalid" in html and "invalid-feedback" in html
    assert '<input type="hidden" name="counted" value="1">' in html  # the retry still updates the count
    flag.refresh_from_db()
    assert flag.acknowledged_at is None


@pytest.mark.django_db
def test_already_acknowledged_in_place_is_422_saying_so(role_client, flag):
    client = role_client("nurse")
    client.post(url(flag), {"comment": "first"})
    response = client.post(url(flag), {"comment": "second"}, headers=HTMX)
    assert response.status_code == 422 and "already acknowledged" in response.content.decode()
    flag.refresh_from_db()
    assert flag.acknowledgement_comment == "first"


@pytest.mark.django_db
def test_cancel_in_place_puts_the_button_back(role_client, flag):
    response = role_client("physician").get(url(flag) + "?cancel=1&next=/%3Fseverity%3Dhigh&counted=1", headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith(f'<div id="acknowledge-{flag.uuid}">')
    assert f'href="{url(flag)}?next=/%3Fseverity%3Dhigh"' in html
    assert "counted=1" in hx_get_of_button(html, flag)
    flag.refresh_from_db()
    assert flag.acknowledged_at is None


@pytest.mark.django_db
def test_without_htmx_the_page_and_its_post_are_as_before(role_client, flag):
    client = role_client("nurse")
    page = client.get(url(flag) + "?next=/").content.decode()
    assert "<html" in page and "hx-post" not in page and '<input type="hidden" name="next" value="/">' in page
    response = client.post(url(flag), {"comment": "ok", "next": "/"})
    assert response.status_code == 302 and response.url == "/"


@pytest.mark.django_db
def test_repeated_in_place_sending_goes_to_the_first_result_whole(role_client, flag):
    client = role_client("nurse")
    data = {"comment": "ok", "next": "/", "submission_id": str(uuid.uuid4())}
    assert client.post(url(flag), data, headers=HTMX).status_code == 200
    repeat = client.post(url(flag), data, headers=HTMX)
    assert repeat["HX-Redirect"] == "/"
    assert flag.history.filter(history_change_reason="acknowledged").count() == 1


@pytest.mark.django_db
def test_viewer_in_place_is_403(role_client, flag):
    assert role_client("viewer").post(url(flag), {"comment": "x"}, headers=HTMX).status_code == 403
