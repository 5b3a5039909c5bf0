"""Production by default: DEBUG off never runs on the public development key, and an oversized
API body answers JSON like every other API error."""

import json

import pytest
from django.test import override_settings

from ivig_clinic.tests.test_settings import _manage


def test_debug_off_refuses_to_start_without_a_secret_key():
    result = _manage("check", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert "DEBUG=1" in result.stderr  # the message says how to run for development


def test_debug_off_refuses_the_development_key_given_explicitly():
    result = _manage("check", SECRET_KEY="django-insecure-ivig-clinic-development-only-key-do-not-deploy")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_on_starts_on_the_development_key():
    result = _manage("check", SECRET_KEY="", DEBUG="1")
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_api_body_answers_json_413(client, django_user_model):
    user = django_user_model.objects.create_user("big", password="x" * 12)
    client.force_login(user)
    body = json.dumps({"mrn": "X" * 2000})
    response = client.post("/api/v1/dose-plans/calculate", body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert "1000 bytes" in response.json()["detail"]
