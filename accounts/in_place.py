"""In-place updates (htmx): one view answers an htmx request with the part of the page that
changed and a plain form post with the whole page, as before.

- Success: the view renders its fragment (a partial the full page includes too, so there is one
  markup) with `done_in_place`, which also names the page a repeated sending is sent to
  (accounts.submissions). The fragment includes "_messages.html" with ``oob=True``: the messages
  land in the page's status region (aria-live), and other changed parts come as hx-swap-oob.
- Form errors: the fragment with the errors next to the fields and status 422 (base.html's
  htmx-config swaps 422; a plain post still gets its page with 200, as before).
"""

from django.shortcuts import render

from .submissions import submission_result

FORM_ERRORS = 422  # Unprocessable Content: the form, with what to correct, and nothing written


def in_place(request) -> bool:
    return bool(getattr(request, "htmx", False))


def done_in_place(request, *, page_url: str, template: str, context: dict):
    """The fragment that shows a write's result; the same submission sent again gets page_url."""
    submission_result(request, page_url)
    return render(request, template, context)


def form_status(request, status: int = 200) -> int:
    """A form refused for its input answers 422 in place; any other status (a 409) stands."""
    return FORM_ERRORS if in_place(request) and status == 200 else status
