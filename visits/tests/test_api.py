"""POST /api/v1/tis/calculate: the tis.md worked example, exact decimals from JSON numbers,
every invalid input answered 422 in one shape naming its field, and who may call it."""

import copy
import json

import pytest
from django.conf import settings
from django.test import Client
from django.utils.crypto import get_random_string

from accounts.services import api_token_create

URL = "/api/v1/tis/calculate"
# tis.md worked example (adult, MMT-8 0-80): TIS 35, minimal.
WORKED = {
    "population": "adult",
    "mmt_max": 80,
    "baseline": {
        "physician_global": 6,
        "patient_global": 7,
        "mmt": 60,
        "haq": 1.5,
        "extramuscular_global": 4,
        "enzymes": {"ck": {"value": 3000, "uln": 200}},
    },
    "followup": {
        "physician_global": 4.5,
        "patient_global": 5.5,
        "mmt": 68,
        "haq": 1.05,
        "extramuscular_global": 2.5,
        "enzymes": {"ck": {"value": 2550, "uln": 200}},
    },
}

pytestmark = pytest.mark.django_db


def post_json(client, body, **extra):
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, content, content_type="application/json", **extra)


@pytest.fixture
def viewer_client(role_client):
    return role_client("viewer")


def changed(path: str, value):
    """The worked example with one dotted path set to `value` (or removed, for `...`)."""
    body = copy.deepcopy(WORKED)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return body


def calculate(client, body) -> dict:
    response = post_json(client, body)
    assert response.status_code == 200, response.content
    return response.json()


# ------------------------------------------------------------------ the arithmetic


def test_worked_example_is_35_minimal(viewer_client):
    data = calculate(viewer_client, WORKED)

    assert data["total"] == "35.0"
    assert data["category"] == "minimal"
    assert data["missing"] == []
    assert {name: score["points"] for name, score in data["measures"].items()} == {
        "physician_global": "7.5",
        "patient_global": "2.5",
        "mmt": "10.0",
        "haq": "5.0",
        "enzyme": "2.5",
        "extramuscular_global": "7.5",
    }
    assert data["measures"]["physician_global"]["percent_change"] == "15.00"
    enzyme = data["measures"]["enzyme"]
    assert (enzyme["name"], enzyme["uln"], enzyme["range"], enzyme["range_uln_multiple"]) == ("ck", "200", "3000", 15)
    assert "not confirmed" in data["enzyme_range_rule"]


def test_juvenile_thresholds(viewer_client):
    # 35 is minimal for both populations; 20 is minimal for adults but none for children.
    assert calculate(viewer_client, changed("population", "juvenile"))["category"] == "minimal"
    body = changed("followup.mmt", 60)
    body["followup"]["patient_global"] = 7
    body["followup"]["physician_global"] = 3  # 30 %: 17.5, + haq 5 + enzyme 2.5 + extramuscular 7.5 = 32.5
    assert calculate(viewer_client, body)["total"] == "32.5"
    body["followup"]["haq"] = 1.5
    assert calculate(viewer_client, body)["category"] == "minimal"  # 27.5, adult
    body["population"] = "juvenile"
    assert calculate(viewer_client, body)["category"] == "none"  # 27.5 < 30


def test_2_2_to_0_7_is_exactly_15_percent_from_json_numbers(viewer_client):
    # With binary floats this is 15.000000000000002 %: the >15-25 band, 15 points instead of 7.5.
    body = json.dumps(changed("baseline.physician_global", "__B__")).replace('"__B__"', "2.2")
    body = body.replace('"physician_global": 4.5', '"physician_global": 0.7')
    assert '"physician_global": 2.2' in body and '"physician_global": 0.7' in body

    data = calculate(viewer_client, body)

    assert data["measures"]["physician_global"] == {"percent_change": "15.00", "points": "7.5"}


def test_json_numbers_and_decimal_strings_agree(viewer_client):
    as_strings = json.loads(json.dumps(WORKED), parse_float=str, parse_int=str)
    as_strings["mmt_max"] = "80"
    assert calculate(viewer_client, as_strings) == calculate(viewer_client, WORKED)


@pytest.mark.parametrize(
    "path, value, missing",
    [
        ("baseline.haq", None, ["haq"]),
        ("followup.haq", ..., ["haq"]),
        ("baseline.enzymes", None, ["enzyme"]),
        ("followup.enzymes", {}, ["enzyme"]),
        ("followup.enzymes", {"ck": None}, ["enzyme"]),
        ("followup.enzymes", {"ldh": {"value": 300, "uln": 250}}, ["enzyme"]),  # not the enzyme followed
    ],
)
def test_a_missing_measure_makes_the_tis_incomplete(viewer_client, path, value, missing):
    data = calculate(viewer_client, changed(path, value))
    assert (data["total"], data["category"], data["missing"]) == (None, "incomplete", missing)


def test_the_most_abnormal_enzyme_at_baseline_is_followed(viewer_client):
    body = changed("baseline.enzymes", {"ck": {"value": 1000, "uln": 200}, "aldolase": {"value": 48, "uln": 8}})
    body["followup"]["enzymes"] = {"ck": {"value": 200, "uln": 200}, "aldolase": {"value": 48, "uln": 8}}
    enzyme = calculate(viewer_client, body)["measures"]["enzyme"]
    assert (enzyme["name"], enzyme["points"]) == ("aldolase", "0.0")


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
    "path, value, field",
    [
        ("baseline.physician_global", 10.1, "baseline.physician_global"),
        ("baseline.physician_global", -0.1, "baseline.physician_global"),
        ("followup.patient_global", 11, "followup.patient_global"),
        ("followup.extramuscular_global", "10.5", "followup.extramuscular_global"),
        ("baseline.haq", -0.125, "baseline.haq"),
        ("followup.haq", 3.125, "followup.haq"),
        ("baseline.mmt", 81, "baseline.mmt"),  # above the MMT-8 0-80 scale in use
        ("followup.mmt", 151, "followup.mmt"),
        ("followup.mmt", -1, "followup.mmt"),
        ("baseline.enzymes", {"cpk": {"value": 3000, "uln": 200}}, "baseline.enzymes.cpk"),
        ("baseline.enzymes", {"ck": {"value": -1, "uln": 200}}, "baseline.enzymes.ck.value"),
        ("followup.enzymes", {"ck": {"value": 2550, "uln": 0}}, "followup.enzymes.ck.uln"),
        ("followup.enzymes", {"ck": {"value": 2550}}, "followup.enzymes.ck.uln"),
        ("followup.enzymes", {"ck": {"value": 2550, "uln": 200, "unit": "U/L"}}, "followup.enzymes.ck.unit"),
        ("followup.enzymes", [2550, 200], "followup.enzymes"),
        ("population", "elderly", "population"),
        ("population", None, "population"),
        ("population", ..., "population"),
        ("mmt_max", 100, "mmt_max"),
        ("mmt_max", 80.5, "mmt_max"),
        ("mmt_max", ..., "mmt_max"),
        ("baseline", ..., "baseline"),
        ("baseline", [], "baseline"),
        ("baseline.physician_global", "6,5", "baseline.physician_global"),
        ("baseline.physician_global", "NaN", "baseline.physician_global"),
        ("baseline.physician_global", True, "baseline.physician_global"),
        ("baseline.physician_global", [6], "baseline.physician_global"),
        ("baseline.physician_gobal", 6, "baseline.physician_gobal"),  # misspelt: refused, not ignored
        ("at_risk", True, "at_risk"),
    ],
)
def test_invalid_input_is_422_naming_the_field(viewer_client, path, value, field):
    assert_invalid(post_json(viewer_client, changed(path, value)), {field})


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_json_number_is_422_naming_its_field(viewer_client, constant):
    body = json.dumps(changed("followup.haq", "__X__")).replace('"__X__"', constant)
    (error,) = assert_invalid(post_json(viewer_client, body), {"followup.haq"})
    assert constant in error["message"]


def test_a_huge_exponent_is_out_of_range_not_an_error(viewer_client):
    body = json.dumps(changed("followup.haq", "__X__")).replace('"__X__"', "1e400")
    assert_invalid(post_json(viewer_client, body), {"followup.haq"})


def test_mmt_is_checked_against_the_scale_given(viewer_client):
    body = changed("mmt_max", 52)
    (error,) = assert_invalid(post_json(viewer_client, body), {"baseline.mmt", "followup.mmt"})[:1]
    assert error["message"] == "must be between 0 and 52 points, not 60"


def test_every_bad_field_is_named_at_once(viewer_client):
    body = changed("baseline.physician_global", 11)
    body["followup"]["haq"] = -1
    body["population"] = "x"
    response = post_json(viewer_client, body)
    assert_invalid(response, {"baseline.physician_global", "followup.haq", "population"})
    assert response.json()["detail"] == "Invalid input: baseline.physician_global, followup.haq, population."


def test_the_message_says_what_is_allowed(viewer_client):
    (error,) = assert_invalid(
        post_json(viewer_client, changed("baseline.physician_global", 10.5)), {"baseline.physician_global"}
    )
    assert error["message"] == "must be between 0 and 10 cm, not 10.5"


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"x"', "", "{"])
def test_a_body_that_is_not_a_json_object_is_422(viewer_client, body):
    assert_invalid(post_json(viewer_client, body), {None})


# ---------------------------------------------------------------- who may call it


def test_every_role_may_calculate(role_client, any_role):
    assert post_json(role_client(any_role), WORKED).status_code == 200


def test_anonymous_gets_401(client):
    response = post_json(client, WORKED)
    assert response.status_code == 401
    assert response.json()["detail"]


def test_a_user_without_a_role_gets_403(role_client):
    response = post_json(role_client(None), WORKED)
    assert response.status_code == 403
    assert response.json()["detail"]


def test_get_is_405(viewer_client):
    assert viewer_client.get(URL).status_code == 405


def test_token_auth_needs_no_csrf(make_user):
    _, secret = api_token_create(by=make_user("physician"), name="tis check")
    client = Client(enforce_csrf_checks=True)
    response = post_json(client, WORKED, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200, response.content
    assert response.json()["total"] == "35.0"


def test_a_token_of_a_user_without_a_role_gets_403(client, make_user):
    _, secret = api_token_create(by=make_user(None), name="left over")
    assert post_json(client, WORKED, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403


def test_session_auth_needs_csrf(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("physician"))
    assert post_json(client, WORKED).status_code == 403

    csrf_secret = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf_secret
    assert post_json(client, WORKED, HTTP_X_CSRFTOKEN=csrf_secret).status_code == 200


# -------------------------------------------------------------------- OpenAPI


def test_openapi_describes_request_response_and_errors(viewer_client):
    schema = viewer_client.get("/api/v1/openapi.json").json()
    operation = schema["paths"][URL]["post"]

    def resolved(node):
        # Every "$ref" must point at a schema the OpenAPI document has.
        if isinstance(node, dict):
            if "$ref" in node:
                return resolved(schema["components"]["schemas"][node["$ref"].removeprefix("#/components/schemas/")])
            return {key: resolved(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolved(item) for item in node]
        return node

    request = resolved(operation["requestBody"]["content"]["application/json"]["schema"])
    assert set(request["required"]) == {"population", "mmt_max", "baseline", "followup"}
    assert request["properties"]["population"]["enum"] == ["adult", "juvenile"]
    assert [branch["enum"] for branch in request["properties"]["mmt_max"]["anyOf"]] == [
        [80, 150, 52],
        ["80", "150", "52"],
    ]
    visit = request["properties"]["baseline"]
    vas = visit["properties"]["physician_global"]["anyOf"][0]
    assert (vas["minimum"], vas["maximum"]) == (0, 10)
    assert visit["properties"]["enzymes"]["anyOf"][0]["propertyNames"]["enum"] == [
        "ck",
        "aldolase",
        "ast",
        "alt",
        "ldh",
    ]

    def component(status: str) -> dict:
        ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]

    assert {"total", "category", "measures", "missing"} <= set(component("200")["properties"])
    assert set(component("422")["properties"]) == {"detail", "errors"}
    assert {"401", "403"} <= set(operation["responses"])
