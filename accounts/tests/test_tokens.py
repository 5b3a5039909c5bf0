"""API tokens: the tokens page (list, create, revoke), the services behind it, and
bearer-token authentication of API requests."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import services
from accounts.auth import bearer_token_user, user_for_secret
from accounts.models import ApiToken

NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
TOKENS_URL = "/accounts/tokens/"
API_URL = "/api/v1/patients"

pytestmark = pytest.mark.django_db


def revoke_url(token) -> str:
    return reverse("accounts:token_revoke", kwargs={"token_id": token.pk})


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def nurse(make_user):
    return make_user("nurse")


@pytest.fixture
def nurse_client(client, nurse):
    client.force_login(nurse)
    return client


@pytest.fixture
def token_and_secret(nurse):
    return services.api_token_create(by=nurse, name="infusion pump export", now=NOW - timedelta(days=1))


# ------------------------------------------------------------------------ the page


def test_urls_are_named_for_the_navbar():
    assert reverse("accounts:tokens") == TOKENS_URL


def test_every_role_may_open_the_page(client, make_user, any_role):
    client.force_login(make_user(any_role))
    response = client.get(TOKENS_URL)
    assert response.status_code == 200
    assert "You have no API tokens." in response.content.decode()


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(TOKENS_URL)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_user_without_a_role_gets_403(client, make_user, method):
    client.force_login(make_user(None))
    response = getattr(client, method)(TOKENS_URL, {"name": "x", "lifetime_days": "30"})
    assert response.status_code == 403
    assert not ApiToken.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_create_shows_the_secret_once_and_stores_only_its_hash(nurse_client, nurse):
    response = nurse_client.post(TOKENS_URL, {"name": "dose-check script", "lifetime_days": "90"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    assert len(secret) >= 43
    assert secret in response.content.decode()
    assert "Copy this token now" in response.content.decode()

    token = ApiToken.objects.get()
    assert token.user == nurse
    assert token.name == "dose-check script"
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:8]
    assert token.created_at == NOW
    assert token.expires_at == NOW + timedelta(days=90)
    stored = [str(value) for value in ApiToken.objects.values().get().values()]
    stored += [str(value) for row in ApiToken.history.values() for value in row.values()]
    assert not any(secret in value for value in stored)

    listing = nurse_client.get(TOKENS_URL).content.decode()
    assert secret not in listing
    assert "dose-check script" in listing
    assert f"{token.prefix}…" in listing


@time_machine.travel(NOW, tick=False)
def test_create_without_expiry(nurse_client):
    response = nurse_client.post(TOKENS_URL, {"name": "nightly report", "lifetime_days": ""})
    assert response.status_code == 200
    assert ApiToken.objects.get().expires_at is None


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "", "lifetime_days": "30"}, "name"),
        ({"name": "x" * 101, "lifetime_days": "30"}, "name"),
        ({"name": "report", "lifetime_days": "7"}, "lifetime_days"),
    ],
)
def test_create_with_invalid_input_shows_the_form_again(nurse_client, data, field):
    response = nurse_client.post(TOKENS_URL, data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not ApiToken.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_list_shows_only_my_tokens_with_their_status(nurse_client, nurse, make_user):
    services.api_token_create(by=nurse, name="active one", now=NOW - timedelta(days=2))
    services.api_token_create(
        by=nurse, name="expired one", expires_at=NOW - timedelta(days=1), now=NOW - timedelta(days=2)
    )
    revoked, _ = services.api_token_create(by=nurse, name="revoked one", now=NOW - timedelta(days=2))
    services.api_token_revoke(by=nurse, token=revoked, now=NOW - timedelta(hours=1))
    services.api_token_create(by=make_user("physician"), name="someone else's", now=NOW)

    response = nurse_client.get(TOKENS_URL)

    statuses = {token.name: status for token, status in response.context["tokens"]}
    assert statuses == {"active one": "active", "expired one": "expired", "revoked one": "revoked"}
    assert "someone else&#x27;s" not in response.content.decode()


@time_machine.travel(NOW, tick=False)
def test_revoke(nurse_client, nurse, token_and_secret):
    token, _ = token_and_secret
    response = nurse_client.post(revoke_url(token))

    assert response.status_code == 302
    assert response.url == TOKENS_URL
    token.refresh_from_db()
    assert token.revoked_at == NOW
    assert token.history.get(history_change_reason="revoked").history_user == nurse


def test_revoke_someone_elses_token_is_404(client, make_user, token_and_secret):
    token, _ = token_and_secret
    client.force_login(make_user("physician"))
    response = client.post(revoke_url(token))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_a_missing_token_is_404(nurse_client):
    assert nurse_client.post("/accounts/tokens/999999/revoke/").status_code == 404


def test_revoke_needs_a_role(client, make_user):
    user = make_user(None)
    token, _ = services.api_token_create(by=user, name="left over")
    client.force_login(user)
    assert client.post(revoke_url(token)).status_code == 403


def test_revoke_by_get_is_405(nurse_client, token_and_secret):
    token, _ = token_and_secret
    assert nurse_client.get(revoke_url(token)).status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


# ------------------------------------------------------------------------ services


def test_create_audits_who_made_the_token(nurse, token_and_secret):
    token, _ = token_and_secret
    created = token.history.get()
    assert (created.history_type, created.history_user, created.history_change_reason) == ("+", nurse, "created")


def test_an_expiry_in_the_past_is_refused(nurse):
    with pytest.raises(ValidationError) as raised:
        services.api_token_create(by=nurse, name="x", expires_at=NOW, now=NOW)
    assert "expires_at" in raised.value.message_dict
    assert not ApiToken.objects.exists()


def test_each_token_gets_its_own_secret(nurse):
    secrets = {services.api_token_create(by=nurse, name=f"t{i}")[1] for i in range(5)}
    assert len(secrets) == 5


def test_revoking_twice_keeps_the_first_time(nurse, token_and_secret):
    token, _ = token_and_secret
    services.api_token_revoke(by=nurse, token=token, now=NOW)
    again = services.api_token_revoke(by=nurse, token=token, now=NOW + timedelta(hours=1))
    assert again.revoked_at == NOW
    assert token.history.count() == 2


# ------------------------------------------------------------------- authentication


def test_user_for_secret_checks_the_whole_secret(nurse, token_and_secret):
    _, secret = token_and_secret
    assert user_for_secret(secret, now=NOW) == nurse
    assert user_for_secret(secret[:-1], now=NOW) is None
    assert user_for_secret(secret + "x", now=NOW) is None
    assert user_for_secret("", now=NOW) is None
    assert user_for_secret(secret * 10, now=NOW) is None


@pytest.mark.parametrize(
    "header, authenticates",
    [
        ("Bearer {secret}", True),
        ("bearer {secret}", True),
        ("Bearer  {secret} ", True),
        ("Token {secret}", False),
        ("Bearer", False),
        ("{secret}", False),
        ("", False),
    ],
)
def test_bearer_token_user_reads_the_authorization_header(rf, nurse, token_and_secret, header, authenticates):
    _, secret = token_and_secret
    request = rf.get(API_URL, HTTP_AUTHORIZATION=header.format(secret=secret))
    assert bearer_token_user(request) == (nurse if authenticates else None)


@time_machine.travel(NOW, tick=False)
def test_a_live_token_authenticates_an_api_request(client, nurse, token_and_secret):
    _, secret = token_and_secret
    response = client.get(API_URL, **bearer(secret))
    assert response.status_code == 200, response.content
    assert "items" in response.json()


@time_machine.travel(NOW, tick=False)
def test_a_token_never_opens_pages(client, token_and_secret):
    _, secret = token_and_secret
    response = client.get("/patients/", **bearer(secret))
    assert response.status_code == 302


@pytest.mark.parametrize("case", ["revoked", "expired", "inactive user", "unknown", "other scheme"])
@time_machine.travel(NOW, tick=False)
def test_tokens_that_must_not_work_get_401(client, nurse, token_and_secret, case):
    token, secret = token_and_secret
    header = bearer(secret)
    if case == "revoked":
        services.api_token_revoke(by=nurse, token=token, now=NOW - timedelta(minutes=1))
    elif case == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=NOW)
    elif case == "inactive user":
        nurse.is_active = False
        nurse.save()
    elif case == "unknown":
        header = bearer("not-a-token-" + secret[12:])
    else:
        header = {"HTTP_AUTHORIZATION": f"Token {secret}"}

    response = client.get(API_URL, **header)

    assert response.status_code == 401
    assert response.json()["detail"]
    token.refresh_from_db()
    assert token.last_used_at is None


def test_last_used_at_is_updated_at_most_once_a_minute(client, token_and_secret):
    token, secret = token_and_secret
    with time_machine.travel(NOW, tick=False):
        assert client.get(API_URL, **bearer(secret)).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == NOW

    with time_machine.travel(NOW + timedelta(seconds=59), tick=False):
        assert client.get(API_URL, **bearer(secret)).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == NOW

    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        assert client.get(API_URL, **bearer(secret)).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == NOW + timedelta(seconds=61)
    assert token.history.count() == 1  # bookkeeping, not an audited change


# ------------------------------------------------------------------------ read-only scope


@time_machine.travel(NOW, tick=False)
def test_the_page_makes_a_read_only_token_when_asked(nurse_client, nurse):
    response = nurse_client.post(TOKENS_URL, {"name": "EHR reader", "lifetime_days": "90", "scope": "read-only"})

    assert response.status_code == 200
    token = ApiToken.objects.get(user=nurse)
    assert token.scope == "read-only"
    assert token.history.get().history_change_reason == "created"
    assert "Read only" in nurse_client.get(TOKENS_URL).content.decode()


@time_machine.travel(NOW, tick=False)
def test_a_token_made_without_a_scope_reads_and_writes(nurse_client, nurse):
    nurse_client.post(TOKENS_URL, {"name": "script", "lifetime_days": "90"})
    assert ApiToken.objects.get(user=nurse).scope == "read-write"


@time_machine.travel(NOW, tick=False)
def test_an_unknown_scope_is_refused_at_its_field(nurse_client, nurse):
    response = nurse_client.post(TOKENS_URL, {"name": "script", "lifetime_days": "90", "scope": "admin"})
    assert response.status_code == 200
    assert response.context["form"].errors["scope"]
    assert not ApiToken.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_a_read_only_token_reads_the_api_but_a_post_is_403(client, nurse):
    _, secret = services.api_token_create(by=nurse, name="EHR", scope="read-only", now=NOW - timedelta(days=1))

    assert client.get(API_URL, **bearer(secret)).status_code == 200
    response = client.post("/api/v1/dose-plans/calculate", data="{}", content_type="application/json", **bearer(secret))
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]


@time_machine.travel(NOW, tick=False)
def test_a_read_write_token_reaches_the_same_post(client, nurse):
    _, secret = services.api_token_create(by=nurse, name="script", now=NOW - timedelta(days=1))
    response = client.post("/api/v1/dose-plans/calculate", data="{}", content_type="application/json", **bearer(secret))
    assert response.status_code == 422  # past authentication, refused only for its empty body


@pytest.mark.parametrize(
    ("scope", "method", "allowed"),
    [
        ("read-only", "GET", True),
        ("read-only", "head", True),
        ("read-only", "POST", False),
        ("read-only", "DELETE", False),
        ("read-write", "POST", True),
    ],
)
def test_allows_method(scope, method, allowed):
    assert ApiToken(scope=scope).allows_method(method) is allowed


def test_the_admin_cannot_change_a_tokens_scope(client, make_user, nurse):
    from accounts.admin import ApiTokenAdmin

    assert "scope" in ApiTokenAdmin.readonly_fields
    token, _ = services.api_token_create(by=nurse, name="EHR", scope="read-only")
    admin_user = make_user(None, is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    client.post(reverse("admin:accounts_apitoken_change", args=[token.pk]), {"scope": "read-write", "_save": "Save"})
    token.refresh_from_db()
    assert token.scope == "read-only"


@time_machine.travel(NOW, tick=False)
def test_the_created_page_says_the_scope(nurse_client):
    response = nurse_client.post(TOKENS_URL, {"name": "EHR", "lifetime_days": "90", "scope": "read-only"})
    assert "Read only" in response.content.decode()
