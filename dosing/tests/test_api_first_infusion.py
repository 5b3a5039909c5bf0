"""POST /api/v1/dose-plans/calculate with `first_infusion`: the slower first step in rate_steps,
by the site's factor; without the field, today's answers."""

import pytest

from dosing.models import SiteSettings

from .test_api import OCTAGAM_DM, assert_invalid, plan, post_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def nurse_client(role_client):
    return role_client("nurse")


def _steps(data):
    return [(s["rate_ml_per_h"], s["start_min"], s["minutes"], s["volume_ml"]) for s in data["rate_steps"]]


def test_without_the_field_or_false_the_answer_is_unchanged(nurse_client):
    usual = plan(nurse_client)
    assert plan(nurse_client, first_infusion=False) == usual
    assert _steps(usual) == [("42.0", 0, 30, "21.0"), ("84.0", 30, 30, "42.0"), ("168.0", 60, 228, "637.0")]
    assert usual["warnings"] == []


def test_a_first_infusion_holds_the_first_step_twice_as_long(nurse_client):
    data = plan(nurse_client, first_infusion=True)
    # 42 mL/h for 60 min instead of 30: 42 mL; 84 mL/h 30 min; 616 mL at 168 mL/h in 220 min.
    assert _steps(data) == [("42.0", 0, 60, "42.0"), ("84.0", 60, 30, "42.0"), ("168.0", 90, 220, "616.0")]
    assert data["infusion_minutes"] == 310
    (warning,) = data["warnings"]
    assert warning["code"] == "first_infusion_slow_start"
    assert "held 2 × 30 min = 60 min instead of 30 min (site policy" in warning["message"]
    assert data["blocked"] is False
    # The dose does not change, only the ladder.
    assert (data["daily_dose_g"], data["daily_volume_ml"]) == ("70.00", "700.0")


def test_the_factor_is_the_sites(nurse_client):
    SiteSettings.objects.update_or_create(pk=1, defaults={"first_infusion_first_step_factor": 3})
    data = plan(nurse_client, first_infusion=True)
    # 90 min at 42 mL/h = 63 mL; 595 mL at 168 mL/h = 212.5 -> 213 min.
    assert _steps(data)[0] == ("42.0", 0, 90, "63.0")
    assert data["infusion_minutes"] == 90 + 30 + 213
    assert "held 3 × 30 min = 90 min" in data["warnings"][0]["message"]


@pytest.mark.parametrize("value", ["yes", 1, "true", None, [True]])
def test_first_infusion_must_be_a_json_boolean(nurse_client, value):
    assert_invalid(post_json(nurse_client, {**OCTAGAM_DM, "first_infusion": value}), {"first_infusion"})


def test_openapi_describes_the_field(nurse_client):
    schema = nurse_client.get("/api/v1/openapi.json").json()
    request = schema["components"]["schemas"]["DosePlanRequest"]["properties"]["first_infusion"]
    assert request["type"] == "boolean" and request["default"] is False
