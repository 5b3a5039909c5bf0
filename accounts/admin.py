from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .deletion_guards import user_has_history
from .models import ApiToken, CalendarFeed

User = get_user_model()


class CredentialAdmin(SimpleHistoryAdmin):
    """A secret-holding row (API token, calendar feed link): made only by its owner on their own
    page, never edited here, never deleted; the list's one action revokes."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The list may revoke (an action needs "change"); a single row's page is read-only.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row and its history stay for the audit


@admin.register(ApiToken)
class ApiTokenAdmin(CredentialAdmin):
    """Read-only view of everyone's tokens, with revocation. Tokens are made on the tokens
    page by their owner, the only person who ever sees the secret."""

    list_display = ["name", "user", "prefix", "scope", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter), ("expires_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    # The scope too: a read-only token made for an EHR never becomes a writer behind its owner's back.
    readonly_fields = ["user", "name", "prefix", "scope", "created_at", "last_used_at", "expires_at", "revoked_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset:
            services.api_token_revoke(by=request.user, token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(CalendarFeed)
class CalendarFeedAdmin(CredentialAdmin):
    """Everyone's calendar feed links, read-only, with revocation (a lost tablet's link)."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected calendar feed links", permissions=["change"])
    def revoke(self, request, queryset):
        for feed in queryset:
            services.calendar_feed_revoke(by=request.user, feed=feed)
        self.message_user(request, f"Revoked {queryset.count()} calendar feed link(s).")


admin.site.unregister(User)


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    """Django's user admin, except that a user with history is deactivated, never deleted
    (accounts.deletion_guards refuses it on every other path too)."""

    def has_delete_permission(self, request, obj=None):
        if obj is not None and user_has_history(obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # The bulk delete would reach users with history without asking about each one.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
