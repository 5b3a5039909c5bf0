"""POST /api/v1/dose-plans/calculate: the worked examples, exact decimals, every
invalid input answered 422 in one shape naming its field, and who may call it."""

import json
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils.crypto import get_random_string

from accounts.services import api_token_create
from dosing.models import SiteSettings

URL = "/api/v1/dose-plans/calculate"
OCTAGAM_DM = {
    "product": "octagam-10",
    "indication": "dermatomyositis",
    "weight_kg": 70,
    "height_cm": 170,
    "sex": "female",
    "dose_g_per_kg": 2,
    "days": 2,
}

pytestmark = pytest.mark.django_db


def post_json(client, body, **extra):
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, content, content_type="application/json", **extra)


@pytest.fixture
def nurse_client(role_client):
    return role_client("nurse")


def plan(client, **changes) -> dict:
    response = post_json(client, {**OCTAGAM_DM, **changes})
    assert response.status_code == 200, response.content
    return response.json()


def ml_per_h(data: dict) -> list[str]:
    return [step["rate_ml_per_h"] for step in data["rate_steps"]]


# ------------------------------------------------------------------ the arithmetic


def test_worked_example_octagam_dermatomyositis(nurse_client):
    data = plan(nurse_client)

    assert data["weight_basis"] == "actual"
    assert Decimal(data["dosing_weight_kg"]) == 70
    assert Decimal(data["prescribed_daily_dose_g"]) == 70
    assert Decimal(data["daily_dose_g"]) == 70
    assert Decimal(data["total_dose_g"]) == 140
    assert data["daily_volume_ml"] == "700.0"
    # Fewest vials from 2/5/10/20/30 g for 70 g: two 30 g and one 10 g.
    assert data["vials_per_day"] == [{"size_g": "30", "count": 2}, {"size_g": "10", "count": 1}]
    assert ml_per_h(data) == ["42.0", "84.0", "168.0"]
    assert [(s["start_min"], s["minutes"]) for s in data["rate_steps"]] == [(0, 30), (30, 30), (60, 228)]
    assert data["infusion_minutes"] == 288
    assert Decimal(data["max_rate_mg_per_kg_min"]) == 4
    assert data["max_rate_ml_per_h"] == "168.0"
    assert data["warnings"] == []
    assert data["label"]["status"] == "label"
    assert "DailyMed" in data["label"]["source"]
    assert data["blocked"] is False


def test_at_risk_caps_the_last_step(nurse_client):
    data = plan(nurse_client, at_risk=True)

    assert ml_per_h(data) == ["42.0", "84.0", "138.6"]
    assert data["infusion_minutes"] == 336
    assert Decimal(data["max_rate_mg_per_kg_min"]) == Decimal("3.3")
    assert data["max_rate_ml_per_h"] == "138.6"
    assert "at-risk cap 3.3" in data["cap_reason"]


def test_obese_patient_on_auto_is_dosed_on_adjusted_weight(nurse_client):
    # BMI 120 / 1.65² = 44.1; IBW 45.5 + 2.3 × (64.96 − 60) = 56.9; adjusted 56.9 + 0.4 × 63.1 = 82.1 kg.
    data = plan(nurse_client, weight_kg=120, height_cm=165)

    assert data["weight_basis_requested"] == "auto"
    assert data["weight_basis"] == "adjusted"
    assert (data["bmi"], data["ideal_body_weight_kg"], data["adjusted_body_weight_kg"]) == ("44.1", "56.9", "82.1")
    assert data["dosing_weight_kg"] == "82.1"
    assert "adjusted body weight 82.1 kg used" in data["weight_reason"]
    assert Decimal(data["prescribed_daily_dose_g"]) == Decimal("82.10")


@pytest.mark.parametrize("changes", [{}, {"at_risk": True}, {"weight_kg": 120, "height_cm": 165}, {"days": 5}])
def test_invariants(nurse_client, changes):
    data = plan(nurse_client, **changes)
    steps = data["rate_steps"]
    assert all(Decimal(s["rate_ml_per_h"]) <= Decimal(data["max_rate_ml_per_h"]) for s in steps)
    assert sum(Decimal(s["volume_ml"]) for s in steps) == Decimal(data["daily_volume_ml"])
    assert data["infusion_minutes"] == steps[-1]["start_min"] + steps[-1]["minutes"]


# ----------------------------------------------------------------- exact decimals


def test_json_numbers_and_decimal_strings_give_identical_plans(nurse_client):
    numbers = {**OCTAGAM_DM, "weight_kg": 70.5, "height_cm": 170, "dose_g_per_kg": 2, "days": 2}
    strings = {**OCTAGAM_DM, "weight_kg": "70.5", "height_cm": "170", "dose_g_per_kg": "2", "days": "2"}
    from_numbers = post_json(nurse_client, numbers)
    from_strings = post_json(nurse_client, strings)
    assert from_numbers.status_code == from_strings.status_code == 200
    assert from_numbers.json() == from_strings.json()


@pytest.mark.parametrize("written", ["70.1", "70.12345678901234567", "70.10", "1.234567890123456789e1"])
def test_a_json_number_is_read_from_its_text_not_through_a_float(nurse_client, written):
    body = json.dumps({**OCTAGAM_DM, "weight_basis": "actual", "weight_kg": "__W__"}).replace('"__W__"', written)
    data = post_json(nurse_client, body).json()
    assert Decimal(data["dosing_weight_kg"]) == Decimal(written)
    assert data["dosing_weight_kg"] == format(Decimal(written), "f")


# --------------------------------------------------------------- invalid input


def assert_invalid(response, fields: set) -> list[dict]:
    assert response.status_code == 422, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str) and body["detail"]
    assert all(set(error) == {"field", "message"} and error["message"] for error in body["errors"])
    assert {error["field"] for error in body["errors"]} == fields
    return body["errors"]


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"weight_kg": 0}, "weight_kg"),
        ({"weight_kg": -70}, "weight_kg"),
        ({"weight_kg": "350.1"}, "weight_kg"),
        ({"height_cm": "39.9"}, "height_cm"),
        ({"height_cm": 250.01}, "height_cm"),
        ({"product": "octagam-99"}, "product"),
        ({"indication": "gout"}, "indication"),
        ({"indication": "primary-immunodeficiency"}, "indication"),  # Octagam 5%'s, not Octagam 10%'s
        ({"days": 1}, "days"),
        ({"days": 6}, "days"),
        ({"days": 2.5}, "days"),
        ({"days": "two"}, "days"),
        ({"days": True}, "days"),
        ({"dose_g_per_kg": 0}, "dose_g_per_kg"),
        ({"dose_g_per_kg": "3.01"}, "dose_g_per_kg"),
        ({"sex": "other"}, "sex"),
        ({"sex": "F"}, "sex"),
        ({"weight_basis": "lean"}, "weight_basis"),
        ({"weight_kg": "70,1"}, "weight_kg"),
        ({"weight_kg": "70.1kg"}, "weight_kg"),
        ({"weight_kg": "NaN"}, "weight_kg"),
        ({"weight_kg": "Infinity"}, "weight_kg"),
        ({"weight_kg": "1_000"}, "weight_kg"),
        ({"weight_kg": " 70"}, "weight_kg"),
        ({"weight_kg": ""}, "weight_kg"),
        ({"weight_kg": True}, "weight_kg"),
        ({"weight_kg": None}, "weight_kg"),
        ({"weight_kg": [70]}, "weight_kg"),
        ({"at_risk": "yes"}, "at_risk"),
        ({"at_risk": 1}, "at_risk"),
        ({"renal_risk": True}, "renal_risk"),  # not supported: refused rather than silently ignored
    ],
)
def test_invalid_input_is_422_naming_the_field(nurse_client, changes, field):
    assert_invalid(post_json(nurse_client, {**OCTAGAM_DM, **changes}), {field})


def test_a_missing_field_is_named(nurse_client):
    body = {key: value for key, value in OCTAGAM_DM.items() if key != "height_cm"}
    assert_invalid(post_json(nurse_client, body), {"height_cm"})


def test_every_bad_field_is_named_at_once(nurse_client):
    response = post_json(nurse_client, {**OCTAGAM_DM, "weight_kg": 0, "height_cm": 10, "sex": "x", "days": "2.5"})
    assert_invalid(response, {"weight_kg", "height_cm", "sex", "days"})
    assert response.json()["detail"] == "Invalid input: days, height_cm, sex, weight_kg."


def test_unknown_product_and_indication_are_both_named(nurse_client):
    assert_invalid(
        post_json(nurse_client, {**OCTAGAM_DM, "product": "x", "indication": "y"}), {"product", "indication"}
    )


def test_a_domain_error_carries_the_calculation_message(nurse_client):
    (error,) = assert_invalid(post_json(nurse_client, {**OCTAGAM_DM, "days": 6}), {"days"})
    assert error["message"] == "must be between 2 and 5 for dermatomyositis, not 6"


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"x"', "", '{"weight_kg": NaN}'])
def test_a_body_that_is_not_a_json_object_is_422(nurse_client, body):
    assert_invalid(post_json(nurse_client, body), {None})


# ---------------------------------------------------------------- who may call it


def test_every_role_may_calculate(role_client, any_role):
    assert post_json(role_client(any_role), OCTAGAM_DM).status_code == 200


def test_anonymous_gets_401(client):
    response = post_json(client, OCTAGAM_DM)
    assert response.status_code == 401
    assert response.json()["detail"]


def test_a_user_without_a_role_gets_403(role_client):
    response = post_json(role_client(None), OCTAGAM_DM)
    assert response.status_code == 403
    assert response.json()["detail"]


def test_get_is_405(nurse_client):
    assert nurse_client.get(URL).status_code == 405


def test_token_auth_needs_no_csrf(make_user):
    _, secret = api_token_create(by=make_user("pharmacist"), name="dose check")
    client = Client(enforce_csrf_checks=True)
    response = post_json(client, OCTAGAM_DM, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200, response.content
    assert response.json()["infusion_minutes"] == 288


def test_a_bad_token_gets_401(client):
    assert post_json(client, OCTAGAM_DM, HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401


def test_a_token_of_a_user_without_a_role_gets_403(client, make_user):
    _, secret = api_token_create(by=make_user(None), name="left over")
    assert post_json(client, OCTAGAM_DM, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403


def test_session_auth_needs_csrf(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("physician"))
    assert post_json(client, OCTAGAM_DM).status_code == 403

    csrf_secret = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf_secret
    response = post_json(client, OCTAGAM_DM, HTTP_X_CSRFTOKEN=csrf_secret)
    assert response.status_code == 200, response.content


# -------------------------------------------------------------------- OpenAPI


def test_openapi_describes_request_response_and_errors(nurse_client):
    schema = nurse_client.get("/api/v1/openapi.json").json()
    operation = schema["paths"][URL]["post"]

    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(request["required"]) == {
        "product",
        "indication",
        "weight_kg",
        "height_cm",
        "sex",
        "dose_g_per_kg",
        "days",
    }
    assert {"weight_basis", "at_risk"} <= set(request["properties"])
    assert request["properties"]["sex"]["enum"] == ["female", "male"]

    def component(status: str) -> dict:
        ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]

    assert {"daily_dose_g", "rate_steps", "vials_per_day", "warnings", "label"} <= set(component("200")["properties"])
    assert set(component("422")["properties"]) == {"detail", "errors"}


# ------------------------------------------------------- pharmacy-grade limits (issue 15)

ITP_250_KG = {"indication": "chronic-itp", "weight_kg": 250, "height_cm": 180, "weight_basis": "actual"}


def codes(data: dict) -> list[str]:
    return [warning["code"] for warning in data["warnings"]]


def warning(data: dict, code: str) -> dict:
    (found,) = [item for item in data["warnings"] if item["code"] == code]
    return found


def set_site(**values) -> None:
    SiteSettings.objects.filter(pk=SiteSettings.load().pk).update(**values)


def test_a_site_at_risk_cap_stricter_than_the_label_is_honoured(nurse_client):
    set_site(site_at_risk_cap_mg_per_kg_min=Decimal("2.0"))
    data = plan(nurse_client, at_risk=True)
    assert Decimal(data["max_rate_mg_per_kg_min"]) == 2
    assert ml_per_h(data) == ["42.0", "84.0"]
    assert data["cap_reason"] == "at-risk cap 2 mg/kg/min (site policy, stricter than the label's 3.3 mg/kg/min)"


def test_250_kg_chronic_itp_meets_the_daily_and_pump_ceilings(nurse_client):
    data = plan(nurse_client, **ITP_250_KG)
    assert Decimal(data["daily_dose_g"]) == 250
    assert ml_per_h(data) == ["150.0", "300.0", "600.0", "999.0"]
    assert data["rate_steps"][-1]["rate_mg_per_kg_min"] == "6.66"
    assert data["infusion_minutes"] == 209
    ceiling = warning(data, "daily_dose_ceiling")
    assert ceiling["blocking"] is False
    assert "above the ceiling of 140 g per infusion day (site policy" in ceiling["message"]
    assert "No number of days within the range for chronic-itp (2 days)" in ceiling["message"]
    assert warning(data, "pump_rate_ceiling")["message"] == (
        "Pump ceiling 999 mL/h (site policy): the ladder's 1800.0 mL/h runs at 999.0 mL/h (6.66 mg/kg/min) "
        "instead; infusion time 209 min (was 166 min)."
    )
    assert data["blocked"] is False


def test_the_site_ceilings_are_read_from_the_site_settings(nurse_client):
    set_site(daily_dose_ceiling_g=Decimal("250"), pump_rate_ceiling_ml_per_h=Decimal("1200"))
    data = plan(nurse_client, **ITP_250_KG)
    assert "daily_dose_ceiling" not in codes(data)
    # 8 mg/kg/min = 1,200.0 mL/h is at the ceiling; 12 (1,800 mL/h) is held to 8.00 = 1,200.0 mL/h.
    assert ml_per_h(data) == ["150.0", "300.0", "600.0", "1200.0"]


def test_the_vial_tolerance_is_measured_against_the_exact_dose(nurse_client):
    # 0.5 g/kg x 10.9 kg / 3 days = 1.8167 g; 2 g is +9.9 % of 1.82 g but +10.1 % of the exact dose.
    data = plan(
        nurse_client,
        product="gammagard-liquid",
        indication="mmn",
        weight_kg="10.9",
        height_cm=80,
        dose_g_per_kg="0.5",
        days=3,
    )
    assert data["rounded"] is False
    assert data["daily_dose_g"] == "1.82"
    assert "(nearest: 2 g, +10.1 % of the exact 1.817 g)" in warning(data, "rounding_outside_tolerance")["message"]


def test_short_stature_on_auto_keeps_actual_weight(nurse_client):
    data = plan(nurse_client, weight_kg=80, height_cm=150)
    assert (data["weight_basis"], data["dosing_weight_kg"]) == ("actual", "80")
    assert "below 152.4 cm (60 in), where the Devine formula is not extended" in data["weight_reason"]
    assert "short_stature" in codes(data)


def test_short_stature_with_an_explicit_adjusted_weight_is_extrapolated(nurse_client):
    data = plan(nurse_client, weight_kg=80, height_cm=150, weight_basis="adjusted")
    assert (data["weight_basis"], data["dosing_weight_kg"]) == ("adjusted", "58.0")
    assert "the Devine formula is extrapolated below 60 in" in warning(data, "short_stature")["message"]


def test_juvenile_dermatomyositis_on_auto_uses_actual_weight(nurse_client):
    assert plan(nurse_client, weight_kg=80, height_cm=160)["dosing_weight_kg"] == "63.4"  # without the field
    data = plan(nurse_client, weight_kg=80, height_cm=160, juvenile_dermatomyositis=True)
    assert (data["weight_basis"], data["dosing_weight_kg"]) == ("actual", "80")
    assert data["weight_reason"].startswith("juvenile dermatomyositis: the adult BMI rule does not choose")


def test_a_pump_rate_below_the_minimum_is_flagged(nurse_client):
    data = plan(
        nurse_client,
        product="privigen",
        indication="primary-immunodeficiency",
        weight_kg=3,
        height_cm=50,
        weight_basis="actual",
        dose_g_per_kg="0.3",
        days=1,
    )
    assert data["rate_steps"][0]["rate_ml_per_h"] == "0.9"
    assert warning(data, "pump_rate_below_minimum")["message"].startswith("step 1 at 0.9 mL/h: below 1 mL/h")


def test_fewer_vials_and_the_site_vial_proposal(nurse_client):
    nearest = plan(nurse_client, weight_kg=73)
    assert nearest["daily_dose_g"] == "73.00"
    assert sum(vial["count"] for vial in nearest["vials_per_day"]) == 7
    assert (
        "Fewer vials: 70 g (3 vials: 2 × 30 g + 1 × 10 g, -4.1 %)"
        in warning(nearest, "fewer_vials_available")["message"]
    )
    set_site(vial_proposal="fewest")
    fewest = plan(nurse_client, weight_kg=73)
    assert fewest["daily_dose_g"] == "70.00"
    assert fewest["vials_per_day"] == [{"size_g": "30", "count": 2}, {"size_g": "10", "count": 1}]
    assert "The nearest amount is 73 g (7 vials" in warning(fewest, "fewer_vials_available")["message"]


def test_hyperprolinaemia_blocks_privigen_only(nurse_client):
    data = plan(nurse_client, product="privigen", indication="chronic-itp", hyperprolinaemia=True)
    blocking = warning(data, "hyperprolinaemia_proline")
    assert blocking["blocking"] is True
    assert data["blocked"] is True
    assert "hyperprolinaemia_proline" not in codes(plan(nurse_client, hyperprolinaemia=True))  # Octagam


@pytest.mark.parametrize("field", ["hyperprolinaemia", "juvenile_dermatomyositis"])
def test_the_new_flags_must_be_booleans(nurse_client, field):
    assert_invalid(post_json(nurse_client, {**OCTAGAM_DM, field: "yes"}), {field})


def test_without_the_new_fields_todays_answer_stands(nurse_client):
    data = plan(nurse_client)
    assert ml_per_h(data) == ["42.0", "84.0", "168.0"]
    assert data["infusion_minutes"] == 288
    assert data["warnings"] == []
