"""A user with history is deactivated, never deleted: not in the admin, not by any other path."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import ProtectedError

from accounts import services
from accounts.deletion_guards import UserHasHistory, user_has_history
from accounts.models import ApiToken

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def author(make_user):
    """A nurse who wrote one audited change (a token of their own)."""
    user = make_user("nurse")
    services.api_token_create(by=user, name="export")
    return user


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(None, is_staff=True, is_superuser=True))
    return client


def test_deleting_a_user_with_history_is_refused_and_nothing_changes(author):
    with pytest.raises(UserHasHistory, match="deactivate the account instead"), transaction.atomic():
        author.delete()
    assert User.objects.filter(pk=author.pk).exists()
    assert ApiToken.history.filter(history_user=author).count() == 1


def test_a_queryset_delete_is_refused_too(author):
    with pytest.raises(ProtectedError), transaction.atomic():
        User.objects.filter(pk=author.pk).delete()
    assert ApiToken.history.get().history_user_id == author.pk


def test_a_user_without_history_may_be_deleted(make_user):
    user = make_user("nurse")
    assert not user_has_history(user)
    user.delete()
    assert not User.objects.filter(pk=user.pk).exists()


def test_admin_offers_no_delete_for_a_user_with_history(admin_client, author):
    assert admin_client.get(f"/admin/auth/user/{author.pk}/delete/").status_code == 403
    response = admin_client.post(f"/admin/auth/user/{author.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert User.objects.filter(pk=author.pk).exists()


def test_admin_has_no_bulk_delete_for_users(admin_client, author):
    response = admin_client.get("/admin/auth/user/")
    assert response.status_code == 200
    assert "delete_selected" not in response.content.decode()
    response = admin_client.post(
        "/admin/auth/user/", {"action": "delete_selected", "_selected_action": [author.pk], "post": "yes"}
    )
    assert User.objects.filter(pk=author.pk).exists()


def test_admin_may_still_deactivate(admin_client, author):
    page = admin_client.get(f"/admin/auth/user/{author.pk}/change/")
    assert page.status_code == 200
    assert 'name="is_active"' in page.content.decode()
