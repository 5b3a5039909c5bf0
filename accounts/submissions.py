"""One submission, one result: a form sent twice (a double click, a reload, a slow network
resending) or an API write retried does its work once, and the repeat gets the first one's
answer, not an error and not a second row.

- Forms: every POST form carries ``{% submission_token %}``, a hidden ``submission_id`` (a fresh
  UUID each time the page is drawn). Sent twice, the second gets the first's redirect.
- JSON API (``/api/``): a client may send an ``Idempotency-Key`` header (any text up to 255
  characters, e.g. a UUID). The same key with the same body gets the first answer again, with
  ``Idempotent-Replayed: true``; the same key with another body or path is refused (422).

How: `SubmissionOnceMiddleware` opens one transaction around the view, and in it first inserts
a `FormSubmission` row (user, key). The insert of a concurrent duplicate waits on the unique
index until the first commits, then fails, and the duplicate answers with the stored result.
A view that succeeded (a redirect; for the API a 2xx) stores its result in the row before the
commit; anything else (a form with errors, a 4xx, a 500) gives the claim back, so the person
can correct the form and send it again. A view that answers success by rendering a page rather
than redirecting (the API-token page, which shows the secret once; an in-place update, which
answers an htmx request with its fragment) names its result with `submission_result()`. A repeated
htmx sending is sent to that page whole (HX-Redirect).
"""

import hashlib
import uuid
from datetime import datetime, timedelta

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from .auth import bearer_token_user
from .models import FormSubmission

FIELD_NAME = "submission_id"
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
SUBMISSION_KEEP_HOURS = 24  # a day covers any retry a person or a script makes
IGNORED_FIELDS = frozenset({"csrfmiddlewaretoken"})  # differs per page draw, not per intent
REPEATED = "This form had already been sent: here is what it did. Nothing was done twice."
REPEATED_CHANGED = (
    "This form had already been sent, and the changes in the repeated sending were not saved. "
    "Open the form again to enter something new."
)


def new_submission_id() -> str:
    return str(uuid.uuid4())


def submission_result(request, url: str) -> None:
    """For a view whose success is a rendered page: where a repeated sending is sent instead."""
    request.submission_result_url = url


def submissions_expire(now: datetime) -> int:
    """Delete the claims older than SUBMISSION_KEEP_HOURS (housekeeping); returns how many."""
    deleted, _ = FormSubmission.objects.filter(created_at__lt=now - timedelta(hours=SUBMISSION_KEEP_HOURS)).delete()
    return deleted


class SubmissionOnceMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST":
            return self.get_response(request)
        is_api = request.path.startswith("/api/")
        key = request.headers.get(HEADER) if is_api else _form_key(request)
        if key is None:
            return self.get_response(request)
        if is_api and not 0 < len(key.strip()) <= MAX_KEY_LENGTH:
            return _api_error(f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} characters.")
        user = _user(request, is_api)
        if user is None:
            return self.get_response(request)  # not logged in: the view answers 401 or the login page
        fingerprint = _fingerprint(request, is_api)
        with transaction.atomic():
            claim = _claim(user, key.strip(), request.path, fingerprint)
            if claim is None:
                return _replay(request, user, key.strip(), fingerprint, is_api)
            response = self.get_response(request)
            if transaction.get_rollback() or response.status_code >= 500:
                transaction.set_rollback(True)  # a failed view leaves nothing, its claim included
            elif not _record(claim, request, response, is_api):
                claim.delete()  # not done (a form with errors): the same submission may come again
        return response


def _form_key(request) -> str | None:
    value = request.POST.get(FIELD_NAME, "")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None  # no token (or a mangled one): the view runs as it always did


def _user(request, is_api: bool):
    if request.user.is_authenticated:
        return request.user
    return bearer_token_user(request) if is_api else None


def _fingerprint(request, is_api: bool) -> str:
    if is_api:
        content = request.body
    else:
        items = sorted((name, value) for name, values in request.POST.lists() for value in values)
        content = repr([item for item in items if item[0] not in IGNORED_FIELDS]).encode()
    return hashlib.sha256(content).hexdigest()


def _claim(user, key: str, path: str, fingerprint: str) -> FormSubmission | None:
    try:
        with transaction.atomic():
            return FormSubmission.objects.create(
                user=user, key=key, path=path, fingerprint=fingerprint, created_at=timezone.now()
            )
    except IntegrityError:
        return None  # sent before (and committed: a concurrent insert waited for it)


def _record(claim: FormSubmission, request, response, is_api: bool) -> bool:
    if is_api:
        if not 200 <= response.status_code < 300 or getattr(response, "streaming", False):
            return False
        claim.response_status = response.status_code
        claim.response_content_type = response.get("Content-Type", "")
        claim.response_body = response.content.decode(response.charset or "utf-8")
    elif 300 <= response.status_code < 400 and response.has_header("Location"):
        claim.result_url = response["Location"]
    elif getattr(request, "submission_result_url", ""):
        claim.result_url = request.submission_result_url
    else:
        return False
    claim.save(update_fields=["result_url", "response_status", "response_content_type", "response_body"])
    return True


def _replay(request, user, key: str, fingerprint: str, is_api: bool):
    first = FormSubmission.objects.filter(user=user, key=key).first()
    same = first is not None and first.path == request.path and first.fingerprint == fingerprint
    if is_api:
        if not same:
            return _api_error(f"This {HEADER} was used for another request; use a new key for a new request.")
        response = HttpResponse(
            first.response_body, status=first.response_status, content_type=first.response_content_type
        )
        response["Idempotent-Replayed"] = "true"
        return response
    if first is None or first.path != request.path:
        return HttpResponse("This form's token was used by another form. Reload the page.", status=400)
    if same:
        messages.info(request, REPEATED)
    else:
        messages.warning(request, REPEATED_CHANGED)
    if request.headers.get("HX-Request") == "true":
        # An in-place form sent twice: the whole page shows the first one's result (a redirect
        # followed inside the request would swap a whole page into a fragment).
        return HttpResponseClientRedirect(first.result_url)
    return HttpResponseRedirect(first.result_url)


def _api_error(message: str) -> JsonResponse:
    # The API's one shape of invalid input (patients/api_common.py).
    return JsonResponse({"detail": message, "errors": [{"field": HEADER, "message": message}]}, status=422)
