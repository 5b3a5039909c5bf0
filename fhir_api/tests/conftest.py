import json
from decimal import Decimal

import pytest

from accounts.services import api_token_create
from fhir_api.resources import MODELS


@pytest.fixture
def reader(client, make_user):
    """A test client logged in as a viewer, the least of the clinic roles."""
    client.force_login(make_user("viewer"))
    return client


@pytest.fixture
def token_for(make_user):
    def make(role: str | None = "viewer", scope: str = "read-write") -> str:
        return api_token_create(by=make_user(role), name="EHR", scope=scope)[1]

    return make


def body(response) -> dict:
    """The JSON with every number as the exact Decimal it was written as."""
    return json.loads(response.content, parse_float=Decimal)


def parsed(response):
    """The response read back by its fhir.resources R4B model: fails if it is not valid FHIR."""
    resource_type = json.loads(response.content)["resourceType"]
    return MODELS[resource_type].model_validate_json(response.content)
