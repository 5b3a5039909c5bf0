"""Forms name their errors for screen readers (WCAG 3.3.1, 4.1.2): a refused form opens with an error
summary announced as an alert, listing each field's error with a link to the field, and each invalid
field carries aria-invalid and aria-describedby pointing at its own message. Both ways forms are
drawn here are covered: field by field (`as_crispy_field` with templates/_form_errors.html) and
whole (`{{ form|crispy }}`, through templates/bootstrap5/errors.html)."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from visits.forms import mmt_grade_field_name


class Page(HTMLParser):
    """Each element's attributes, and the text inside elements with an id or a role."""

    def __init__(self, html: str):
        super().__init__()
        self.controls: dict[str, dict] = {}  # by name
        self.text_by_id: dict[str, str] = {}
        self.alerts: list[str] = []
        self.links: dict[str, str] = {}  # href -> text
        self._open: list[tuple[str, str | None, str | None, str | None]] = []
        self._alert_text = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("input", "select", "textarea") and "name" in attributes:
            self.controls[attributes["name"]] = attributes
        if tag in ("input", "br", "meta", "link", "img", "hr"):
            return
        if attributes.get("role") == "alert":
            self._alert_text = ""
        self._open.append((tag, attributes.get("id"), attributes.get("role"), attributes.get("href")))
        for _, element_id, _, _ in self._open:
            if element_id:
                self.text_by_id.setdefault(element_id, "")

    def handle_endtag(self, tag):
        while self._open:
            open_tag, _, role, href = self._open.pop()
            if role == "alert":
                self.alerts.append(self._alert_text)
            if open_tag == tag:
                return

    def handle_data(self, data):
        for _, element_id, role, href in self._open:
            if element_id:
                self.text_by_id[element_id] += data
            if role == "alert":
                self._alert_text += data
            if href:
                self.links[href] = self.links.get(href, "") + data

    def description_of(self, name: str) -> str:
        """The text a screen reader reads as the control's description."""
        ids = self.controls[name].get("aria-describedby", "").split()
        return " ".join(" ".join(self.text_by_id.get(i, "").split()) for i in ids)


@pytest.mark.django_db
def test_a_form_drawn_field_by_field_names_its_errors(role_client):
    response = role_client("physician").post(reverse("patients:create"), {"mrn": "", "weight_kg": "seventy"})

    assert response.status_code == 200
    page = Page(response.content.decode())
    mrn = page.controls["mrn"]
    assert mrn["aria-invalid"] == "true"
    assert "This field is required." in page.description_of("mrn")
    assert page.controls["weight_kg"]["aria-invalid"] == "true"
    assert "Enter a number." in page.description_of("weight_kg")
    # The summary, announced when the page opens, links each message to its field.
    (summary,) = page.alerts
    assert "Nothing was saved. Check the fields marked below:" in summary
    assert "MRN: This field is required." in " ".join(summary.split())
    assert page.links[f"#{mrn['id']}"] == "MRN"


@pytest.mark.django_db
def test_a_form_drawn_whole_announces_its_form_wide_error(client, make_user):
    make_user(username="rn.field", password="right-password")
    response = client.post(reverse("login"), {"username": "rn.field", "password": "wrong-password"})

    page = Page(response.content.decode())
    (summary,) = page.alerts
    assert "Please enter a correct username and password" in summary
    assert "Check the fields marked below" not in summary  # no field of its own is wrong


@pytest.mark.django_db
def test_a_form_drawn_whole_links_its_field_errors(client):
    response = client.post(reverse("login"), {"username": "", "password": ""})

    page = Page(response.content.decode())
    assert page.controls["username"]["aria-invalid"] == "true"
    assert "This field is required." in page.description_of("username")
    (summary,) = page.alerts
    assert "Username: This field is required." in " ".join(summary.split())
    assert page.links[f"#{page.controls['username']['id']}"] == "Username"


@pytest.mark.django_db
def test_a_valid_page_has_no_error_summary(role_client):
    page = Page(role_client("physician").get(reverse("patients:create")).content.decode())

    assert page.alerts == []
    assert "aria-invalid" not in page.controls["mrn"]


@pytest.mark.django_db
def test_a_muscle_grade_drawn_by_hand_is_described_by_its_message(role_client, patient):
    grade = mmt_grade_field_name("deltoid", "right")
    response = role_client("physician").post(reverse("visits:create", args=[patient.uuid]), {grade: "11"})

    page = Page(response.content.decode())
    assert page.controls[grade]["aria-invalid"] == "true"
    assert page.description_of(grade), "aria-describedby points at no message"
    assert page.description_of(grade) in " ".join(page.alerts[0].split())
