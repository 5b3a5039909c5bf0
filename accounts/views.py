"""The API-token page: each user lists, creates and revokes their own tokens.
Each view: authorise, bind the form, call a service, then redirect or render."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import roles_of

from . import services
from .forms import ApiTokenForm, CalendarFeedForm
from .models import ApiToken, CalendarFeed
from .submissions import submission_result

# Both forms on the tokens page have a "name": the prefix keeps their ids apart.
FEED_PREFIX = "feed"


def _require_role(request) -> None:
    # Tokens act with the user's permissions; without a clinic role there is nothing to use one for.
    if not roles_of(request.user):
        raise PermissionDenied


def _get_token_for_user(user, token_id: int) -> ApiToken:
    """Someone else's token is answered exactly like a missing one."""
    return get_object_or_404(ApiToken, pk=token_id, user=user)


@require_http_methods(["GET", "POST"])
@never_cache  # the POST answer carries the secret: no copy in any cache
def token_list(request):
    _require_role(request)
    now = timezone.now()
    form = ApiTokenForm(request.POST or None)
    if form.is_bound and form.is_valid():
        try:
            token, secret = services.api_token_create(
                by=request.user,
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(now),
                scope=form.cleaned_data["scope"],
                now=now,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # Rendered, not redirected: the secret must never be stored, not even in the session.
            # Sent twice, the form leads to the token list (the secret is not shown again).
            submission_result(request, reverse("accounts:tokens"))
            return render(request, "accounts/token_created.html", {"token": token, "secret": secret})
    return _render_list(request, form=form, feed_form=CalendarFeedForm(prefix=FEED_PREFIX), now=now)


def _render_list(request, *, form, feed_form, now, status=200):
    tokens = [(token, token.status_on(now)) for token in ApiToken.objects.filter(user=request.user)]
    feeds = CalendarFeed.objects.filter(user=request.user)
    context = {"form": form, "tokens": tokens, "feed_form": feed_form, "feeds": feeds}
    return render(request, "accounts/token_list.html", context, status=status)


@require_POST
def token_revoke(request, token_id: int):
    _require_role(request)
    token = services.api_token_revoke(by=request.user, token=_get_token_for_user(request.user, token_id))
    messages.success(request, f"Revoked the token “{token.name}” ({token.prefix}…). Scripts using it now get 401.")
    return redirect("accounts:tokens")


@require_POST
@never_cache  # the answer carries the feed link's secret
def feed_create(request):
    _require_role(request)
    form = CalendarFeedForm(request.POST, prefix=FEED_PREFIX)
    if not form.is_valid():
        return _render_list(request, form=ApiTokenForm(), feed_form=form, now=timezone.now(), status=400)
    feed, secret = services.calendar_feed_create(by=request.user, name=form.cleaned_data["name"])
    link = request.build_absolute_uri(reverse("scheduling:calendar_feed_link", args=[secret]))
    # Rendered, not redirected: like a token's, the secret is shown once and never stored; sent
    # twice, the form leads to the list (one link made, its secret not shown again).
    submission_result(request, reverse("accounts:tokens"))
    return render(request, "accounts/feed_created.html", {"feed": feed, "link": link})


@require_POST
def feed_revoke(request, feed_id: int):
    _require_role(request)
    feed = get_object_or_404(CalendarFeed, pk=feed_id, user=request.user)
    feed = services.calendar_feed_revoke(by=request.user, feed=feed)
    messages.success(request, f"Revoked the calendar feed link “{feed.name}”. Calendars using it stop updating.")
    return redirect("accounts:tokens")
