import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

BASE_DIR = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    environment = {
        key: value for key, value in os.environ.items() if key not in {"DEBUG", "PRODUCTION", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, capture_output=True, text=True
    )


def test_check_deploy_is_clean_under_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        PRODUCTION="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="ivig.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_development_settings():
    # The same check must be able to fail: without PRODUCTION it reports the missing hardening.
    result = _manage("check", "--deploy", "--fail-level", "WARNING", DEBUG="1")
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS" in result.stderr + result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", PRODUCTION="true", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_no_pending_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_pages_send_a_self_only_content_security_policy(client):
    response = client.get("/accounts/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "http" not in policy  # no outside origin is ever allowed
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_pages_load_no_asset_from_another_origin(client):
    html = client.get("/accounts/login/").content.decode()
    assert "cdn" not in html.lower()
    assert 'src="http' not in html and 'href="http' not in html
