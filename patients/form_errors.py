"""Putting a service's ValidationError next to the form fields it names.

Shared by every app's views: services raise ValidationError({"field": ...}) or a
plain one, and the person sees each message at its field (or at the top)."""

from django.core.exceptions import ValidationError


def add_service_errors(form, exc: ValidationError) -> None:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for field, messages in errors.items():
        form.add_error(field if field in form.fields else None, messages)


def call_service(form, service, **kwargs):
    """Run a service with the form's cleaned data; on ValidationError put the messages
    on the form and return None."""
    try:
        return service(**kwargs, **form.cleaned_data)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None
