"""Putting a service's ValidationError next to the form fields it names.

Shared by every app's views: services raise ValidationError({"field": ...}) or a
plain one, and the person sees each message at its field (or at the top)."""

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from .audit import STALE

PAGE_OUT_OF_DATE = "This page is out of date: reload it and try again. Nothing was saved."


def page_version_field() -> forms.IntegerField:
    """The version of the record the page showed, posted back hidden; forms that carry one inherit
    PageVersionForm, and the service compares it (accounts.audit.check_version)."""
    return forms.IntegerField(required=False, widget=forms.HiddenInput)


class PageVersionMixin:
    """For a form whose page showed a version of a record (put it first among the bases).

    One meaning everywhere: a post without a readable version is a stale page, refused at the
    top of the form with STALE (the view answers 409); a service never sees it, so
    ``expected_version=None`` only ever comes from a caller that showed no page."""

    version_field = "version"

    def clean(self):
        name = self.version_field
        if name in self._errors or self.cleaned_data.get(name) is None:
            self._errors.pop(name, None)
            self.cleaned_data.pop(name, None)
            self.add_error(None, ValidationError(PAGE_OUT_OF_DATE, code=STALE))
        return super().clean()


class PageVersionForm(PageVersionMixin, forms.Form):
    """A plain form with a page version (see PageVersionMixin)."""


def add_service_errors(form, exc: ValidationError) -> None:
    # The errors themselves (not just their text) so their codes survive, e.g. STALE.
    errors = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
    for field, error_list in errors.items():
        form.add_error(field if field in form.fields else None, error_list)


def conflict_status(*forms) -> int:
    """409 when a form was refused because its page showed an older version of the record
    (someone else saved first), else 200: the page is re-rendered either way."""
    stale = any(form is not None and form.has_error(NON_FIELD_ERRORS, code=STALE) for form in forms)
    return 409 if stale else 200


def call_service(form, service, **kwargs):
    """Run a service with the form's cleaned data; on ValidationError put the messages
    on the form and return None."""
    try:
        return service(**kwargs, **form.cleaned_data)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None


def carry_version(form, version: int, name: str = "version") -> None:
    """Make ``form`` post ``version`` from now on. After a stale refusal the page is shown again
    with the record as it is now, so a second try is made knowing what changed, and accepted."""
    if form.is_bound:
        form.data = form.data.copy()
        form.data[form.add_prefix(name)] = str(version)
    else:
        form.initial[name] = version
