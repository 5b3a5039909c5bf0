"""The dose calculator page, its htmx fragment, and the reusable plan partial."""

import html
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.forms.models import model_to_dict
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dosing.models import Indication, Product, SiteSettings
from dosing.planning import label_info, plan_for
from dosing.templatetags.dosing_units import hours_minutes, ml_per_kg_min, plain, rate_ml_per_kg_min

D = Decimal
URL = reverse("dosing:calculator")
DM = "octagam-10/dermatomyositis"
WORKED = {
    "indication": DM,
    "weight_kg": "70",
    "height_cm": "170",
    "sex": "female",
    "dose_g_per_kg": "2.0",
    "days": "2",
    "weight_basis": "auto",
}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def nurse(role_client, db):
    return role_client("nurse")


def _text(content) -> str:
    if not isinstance(content, str):
        content = content.content.decode()
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", content))).strip()


def _pump_rates(response) -> list[str]:
    return [step["rate_ml_per_h"] for step in response.context["plan"]["rate_steps"]]


# ------------------------------------------------------------------ the worked check


@pytest.mark.django_db
def test_worked_check_dermatomyositis_70_kg(nurse):
    response = nurse.get(URL, WORKED)
    assert response.status_code == 200
    plan = response.context["plan"]
    assert (plan["daily_dose_g"], plan["daily_volume_ml"], plan["infusion_minutes"]) == ("70.00", "700.0", 288)
    assert _pump_rates(response) == ["42.0", "84.0", "168.0"]
    text = _text(response)
    assert "Daily dose to give 70 g/day" in text
    assert "Vials per day 2 × 30 g + 1 × 10 g" in text
    assert "Daily volume 700 mL" in text
    assert "Total per cycle 140 g over 2 days" in text
    assert "1 minute 0 1 mg/kg/min 42.0 mL/h 30 min 21 mL" in text
    assert "2 minute 30 2 mg/kg/min 84.0 mL/h 30 min 42 mL" in text
    assert "3 minute 60 4 mg/kg/min 168.0 mL/h until done (about 228 min) 637 mL" in text
    assert "4 h 48 min (288 min)" in text
    assert "Maximum 4 mg/kg/min = 168.0 mL/h Indication maximum 4 mg/kg/min." in text
    assert (
        "Dosing weight 70 kg (actual body weight, chosen automatically) BMI 24.2 < 30.0: actual body weight used"
        in text
    )
    assert "Ideal body weight (Devine) 61.4 kg" in text and "Body mass index 24.2 kg/m²" in text
    assert "Figures from: US prescribing information. Source: DailyMed set id" in text
    assert "site protocol — not label text" not in text


@pytest.mark.django_db
def test_worked_check_at_risk_caps_the_last_step(nurse):
    response = nurse.get(URL, {**WORKED, "at_risk": "on"})
    assert _pump_rates(response) == ["42.0", "84.0", "138.6"]
    assert response.context["plan"]["infusion_minutes"] == 336
    text = _text(response)
    assert "3 minute 60 3.3 mg/kg/min 138.6 mL/h until done" in text
    assert "5 h 36 min (336 min)" in text
    assert "At-risk cap 3.3 mg/kg/min (label)." in text
    assert "at risk: thrombosis or renal dysfunction" in text


@pytest.mark.django_db
def test_the_indication_may_also_be_given_by_id(nurse):
    dm = Indication.objects.get(product__slug="octagam-10", slug="dermatomyositis")
    response = nurse.get(URL, {**WORKED, "indication": str(dm.pk)})
    assert _pump_rates(response) == ["42.0", "84.0", "168.0"]


@pytest.mark.django_db
def test_empty_dose_and_days_take_the_label_dose_and_shortest_course(nurse):
    response = nurse.get(URL, {**WORKED, "dose_g_per_kg": "", "days": "", "weight_basis": ""})
    plan = response.context["plan"]
    assert (plan["dose_g_per_kg"], plan["days"], plan["weight_basis_requested"]) == ("2.00", 2, "auto")
    assert plan["daily_dose_g"] == "70.00"
    # A range takes its lower end: Gammagard MMN 0.5–2.4 g/kg over 1–5 days.
    plan = nurse.get(URL, {**WORKED, "indication": "gammagard-liquid/mmn", "dose_g_per_kg": "", "days": ""}).context[
        "plan"
    ]
    assert (plan["dose_g_per_kg"], plan["days"]) == ("0.50", 1)


@pytest.mark.django_db
def test_site_protocol_ladder_and_site_cap_are_marked(nurse):
    response = nurse.get(URL, {**WORKED, "indication": "gamunex-c/cidp", "days": "2", "at_risk": "on"})
    text = _text(response)
    assert "site protocol — not label text" in text
    assert "At-risk cap 3.3 mg/kg/min (site policy: the label gives no number)." in text
    assert "Figures from: Maker's US professional page (restates the label); rate steps: site protocol" in text


@pytest.mark.django_db
def test_a_dose_that_cannot_be_rounded_says_why(nurse):
    Product.objects.filter(slug="octagam-10").update(vial_sizes_in_stock_g=["30"])
    response = nurse.get(URL, {**WORKED, "weight_kg": "52"})
    plan = response.context["plan"]
    assert plan["rounded"] is False
    text = _text(response)
    assert "Not rounded: no whole-vial amount lies within the site's tolerance" in text
    assert "Dose not rounded: give 52.00 g" in text
    assert "2 × 30 g (discard what is left)" in text


@pytest.mark.django_db
def test_a_blocking_warning_is_a_danger_alert():
    plan = {**_worked_plan(), "blocked": True}
    plan["warnings"] = [
        {"code": "iga_deficiency_anti_iga", "message": "IgA deficiency: do not give.", "blocking": True}
    ]
    page = render_to_string("dosing/_plan.html", {"plan": plan, "label": _worked_label()})
    assert re.search(r'class="alert alert-danger".*Do not give as planned.*IgA deficiency: do not give\.', page, re.S)


# ------------------------------------------------------------------ errors at the fields


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "overrides", "message"),
    [
        ("days", {"days": "6"}, "Must be between 2 and 5 for dermatomyositis, not 6"),
        ("weight_kg", {"weight_kg": "0"}, "Must be above 0 and at most 350 kg, not 0"),
        ("weight_kg", {"weight_kg": ""}, "This field is required"),
        ("height_cm", {"height_cm": "20"}, "Must be between 40 and 250 cm, not 20"),
        ("dose_g_per_kg", {"dose_g_per_kg": "4"}, "Must be above 0 and at most 3 g/kg, not 4"),
        ("sex", {"sex": "other"}, "Select a valid choice"),
        ("indication", {"indication": "octagam-10/no-such"}, "Choose an indication from the catalog"),
        ("indication", {"indication": ""}, "Choose a product and indication"),
        ("weight_basis", {"weight_basis": "lean"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_shown_at_its_field_without_a_plan(nurse, field, overrides, message):
    response = nurse.get(URL, {**WORKED, **overrides})
    assert response.status_code == 200
    assert response.context["plan"] is None
    errors = response.context["form"].errors
    assert any(message in error for error in errors.get(field, [])), errors
    assert f'data-field="{field}"' in response.content.decode()


@pytest.mark.django_db
def test_a_link_with_only_the_indication_preselects_it_without_errors(nurse):
    response = nurse.get(URL, {"indication": DM})
    form = response.context["form"]
    assert not form.is_bound and form.initial["indication"] == DM
    assert f'<option value="{DM}" selected>' in response.content.decode()
    assert response.context["plan"] is None


# ------------------------------------------------------------------ the htmx fragment

HTMX = {"HX-Request": "true"}


@pytest.mark.django_db
def test_htmx_request_returns_the_results_fragment_only(nurse):
    response = nurse.get(URL, WORKED, headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and "<form" not in body and "<nav" not in body
    assert "168.0" in body and "4 h 48 min" in body
    assert "HX-Request" in response.headers["Vary"]
    page = nurse.get(URL, WORKED).content.decode()
    assert "<html" in page and 'id="calculator-results"' in page and body.strip() in page


@pytest.mark.django_db
def test_htmx_fragment_lists_field_errors(nurse):
    response = nurse.get(URL, {**WORKED, "days": "6"}, headers=HTMX)
    body = response.content.decode()
    assert "<form" not in body
    assert 'data-field="days" data-message="Must be between 2 and 5 for dermatomyositis, not 6"' in body


# ------------------------------------------------------------------ the page itself


@pytest.mark.django_db
def test_every_role_may_calculate(role_client, any_role):
    assert role_client(any_role).get(URL, WORKED).status_code == 200


@pytest.mark.django_db
def test_no_role_gets_403_and_anonymous_is_sent_to_login(role_client, client):
    assert client.get(URL).status_code == 302
    assert role_client(None).get(URL).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_calculator_refuses_other_methods(nurse, method):
    assert getattr(nurse, method)(URL).status_code == 405


@pytest.mark.django_db
def test_empty_page_groups_indications_by_product_and_loads_the_script(nurse):
    response = nurse.get(URL)
    page = response.content.decode()
    assert response.context["plan"] is None
    assert '<optgroup label="Octagam 10%">' in page
    assert len(re.findall(r'<option value="[a-z0-9-]+/[a-z0-9-]+"', page)) == Indication.objects.count() == 15
    assert re.search(r'<form method="get" action="/dosing/calculator/" id="dose-calculator"', page)
    assert '<script src="/static/js/calculator.js" defer></script>' in page
    assert finders.find("js/calculator.js")


@pytest.mark.django_db
def test_the_form_recalculates_with_htmx_as_the_person_types_and_keeps_the_link(nurse):
    page = nurse.get(URL).content.decode()
    form = re.search(r'<form [^>]*id="dose-calculator"[^>]*>', page).group(0)
    assert 'hx-get="/dosing/calculator/"' in form
    assert 'hx-trigger="input changed delay:300ms, change"' in form
    assert 'hx-target="#calculator-results"' in form and 'hx-replace-url="true"' in form
    # One request at a time, then only the newest inputs (an aborted request would log an htmx error).
    assert 'hx-sync="this:queue last"' in form
    script = Path(finders.find("js/calculator.js")).read_text()
    assert "fetch(" not in script and "history" not in script  # htmx asks and keeps the link


@pytest.mark.django_db
def test_the_fetch_header_no_longer_gives_a_fragment(nurse):
    body = nurse.get(URL, WORKED, headers={"X-Requested-With": "fetch"}).content.decode()
    assert "<html" in body


@pytest.mark.django_db
def test_page_has_no_inline_script_style_or_handler(nurse):
    page = nurse.get(URL, {**WORKED, "at_risk": "on"}).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"\sstyle=|\son[a-z]+=|<style", page)


@pytest.mark.django_db
def test_queries_do_not_grow_with_products_and_indications(nurse):
    nurse.get(URL, WORKED)  # warm the session and permission caches alike for both counts
    with CaptureQueriesContext(connection) as before:
        nurse.get(URL, WORKED)
    template = Indication.objects.get(product__slug="octagam-10", slug="dermatomyositis")
    for number in range(3):
        product = Product.objects.create(
            slug=f"extra-{number}",
            name=f"Extra {number}",
            concentration_mg_per_ml=D("100"),
            vial_sizes_in_stock_g=["10"],
        )
        for slug in ("one", "two"):
            fields = model_to_dict(template, exclude=["id", "product"])
            Indication.objects.create(**{**fields, "slug": slug}, product=product)
    with CaptureQueriesContext(connection) as after:
        response = nurse.get(URL, WORKED)
    assert response.context["plan"]["daily_dose_g"] == "70.00"
    assert len(after) == len(before)


@pytest.mark.django_db
def test_site_settings_apply_to_the_calculation(nurse):
    SiteSettings.objects.filter(pk=1).update(adjusted_weight_bmi_threshold=D("24"))
    plan = nurse.get(URL, WORKED).context["plan"]
    assert plan["weight_basis"] == "adjusted"
    assert plan["dosing_weight_kg"] == "64.8"


# ------------------------------------------------------------------ the partial from dicts alone


def _worked_inputs():
    return {
        "weight_kg": D("70"),
        "height_cm": D("170"),
        "sex": "female",
        "dose_g_per_kg": D("2"),
        "days": 2,
        "weight_basis": "auto",
        "at_risk": False,
    }


def _worked_objects():
    dm = Indication.objects.select_related("product").get(product__slug="octagam-10", slug="dermatomyositis")
    return dm.product, dm


def _worked_plan() -> dict:
    product, dm = _worked_objects()
    return plan_for(product=product, indication=dm, site=SiteSettings.load(), **_worked_inputs()).to_dict()


def _worked_label() -> dict:
    return label_info(*_worked_objects())


@pytest.mark.django_db
def test_partial_renders_a_stored_order_snapshot_without_the_database(django_assert_num_queries):
    # As an order page would: the plan and label come back from JSON, with no model objects.
    plan = json.loads(json.dumps(_worked_plan()))
    label = json.loads(json.dumps(_worked_label()))
    with django_assert_num_queries(0):
        text = _text(render_to_string("dosing/_plan.html", {"plan": plan, "label": label}))
    assert "Daily dose to give 70 g/day" in text
    assert "3 minute 60 4 mg/kg/min 168.0 mL/h until done (about 228 min) 637 mL" in text
    assert "4 h 48 min (288 min)" in text


@pytest.mark.django_db
def test_partial_marks_figures_not_from_the_us_label():
    label = {**_worked_label(), "status": "eu", "status_display": "EU product information (not the US label)"}
    text = _text(render_to_string("dosing/_plan.html", {"plan": _worked_plan(), "label": label}))
    assert "Figures from: not the US label EU product information" in text


# ------------------------------------------------------------------ the display filters


@pytest.mark.parametrize(
    ("value", "shown"),
    [("70.00", "70"), ("3.30", "3.3"), ("0.8", "0.8"), ("100.0", "100"), (D("2.50"), "2.5"), (5, "5"), (None, "")],
)
def test_plain_drops_only_trailing_zeros(value, shown):
    assert plain(value) == shown


@pytest.mark.parametrize(
    ("rate", "concentration", "shown", "exact"),
    [
        ("3.3", "100", "0.033", True),
        ("3.3", "50", "0.066", True),
        ("3.33", "50", "0.0666", True),
        ("4.00", "100.0", "0.04", True),
        ("12", "100", "0.12", True),
        ("1", "60", "≈ 0.0167", False),
    ],
)
def test_ml_per_kg_min_divides_exactly_or_says_approximately(rate, concentration, shown, exact):
    assert ml_per_kg_min(rate, concentration) == shown
    assert rate_ml_per_kg_min(rate, concentration)[1] is exact


@pytest.mark.parametrize(("minutes", "shown"), [(288, "4 h 48 min"), (336, "5 h 36 min"), (300, "5 h"), (45, "45 min")])
def test_hours_minutes(minutes, shown):
    assert hours_minutes(minutes) == shown


@pytest.mark.parametrize("value", [3.3, True])
def test_filters_refuse_floats(value):
    with pytest.raises(TypeError):
        plain(value)


# ------------------------------------------------------- pharmacy-grade limits (issue 15)


def _warnings_shown(response) -> dict[str, str]:
    """The warnings on the page, by their data-warning-code, as visible text."""
    page = response.content.decode()
    found = re.findall(r'data-warning-code="([a-z_0-9]+)">(.*?)</div>', page, flags=re.S)
    return {code: _text(body) for code, body in found}


@pytest.mark.django_db
def test_250_kg_chronic_itp_shows_the_daily_and_pump_ceilings(nurse):
    response = nurse.get(
        URL,
        {**WORKED, "indication": "octagam-10/chronic-itp", "weight_kg": "250", "height_cm": "180",
         "weight_basis": "actual"},
    )  # fmt: skip
    shown = _warnings_shown(response)
    assert (
        "above the ceiling of 140 g per infusion day (site policy; no label gives one)" in shown["daily_dose_ceiling"]
    )
    assert shown["pump_rate_ceiling"] == (
        "Pump ceiling 999 mL/h (site policy): the ladder's 1800.0 mL/h runs at 999.0 mL/h (6.66 mg/kg/min) "
        "instead; infusion time 209 min (was 166 min)."
    )
    assert "4 minute 90 6.66 mg/kg/min 999.0 mL/h until done (about 119 min) 1975 mL" in _text(response)


@pytest.mark.django_db
def test_short_stature_fewer_vials_and_slow_pump_warnings_are_shown(nurse):
    short = _warnings_shown(nurse.get(URL, {**WORKED, "weight_kg": "80", "height_cm": "150"}))
    assert short["short_stature"].startswith("Height 150.0 cm is below 152.4 cm (60 in)")
    vials = _warnings_shown(nurse.get(URL, {**WORKED, "weight_kg": "73"}))
    assert vials["fewer_vials_available"].startswith("Fewer vials: 70 g (3 vials: 2 × 30 g + 1 × 10 g, -4.1 %)")
    neonate = nurse.get(
        URL,
        {**WORKED, "indication": "privigen/primary-immunodeficiency", "weight_kg": "3", "height_cm": "50",
         "weight_basis": "actual", "dose_g_per_kg": "0.3", "days": "1"},
    )  # fmt: skip
    assert _warnings_shown(neonate)["pump_rate_below_minimum"].startswith("step 1 at 0.9 mL/h: below 1 mL/h")


@pytest.mark.django_db
def test_the_site_vial_proposal_reaches_the_page(nurse):
    SiteSettings.objects.filter(pk=1).update(vial_proposal="fewest")
    response = nurse.get(URL, {**WORKED, "weight_kg": "73"})
    assert response.context["plan"]["daily_dose_g"] == "70.00"
    assert "Vials per day 2 × 30 g + 1 × 10 g" in _text(response)
    assert "The nearest amount is 73 g (7 vials" in _warnings_shown(response)["fewer_vials_available"]
