"""Secrets never reach a log line: the calendar feed link's secret (a path segment, because
calendar apps can send neither a header nor a cookie) and any ``token=`` query value (the old
feed form, or a script that puts a token in a URL by mistake) are replaced by ``[redacted]``.

Plain Python, no Django: gunicorn's access logger (ivig_clinic.gunicorn_logging) loads it
before Django starts, and LOGGING attaches `RedactSecrets` to Django's own request logs.
"""

import logging
import re

REDACTED = "[redacted]"
FEED_SECRET = re.compile(r"(/scheduling/calendar/)[^/\s?#\"]+")
TOKEN_QUERY = re.compile(r"((?:^|[?&;\s])(?:token|access_token)=)[^&;\s\"#]+", re.IGNORECASE)


def redact(text: str) -> str:
    """The text with feed secrets and ``token=`` values replaced.

    Example: ``redact("GET /scheduling/calendar/Abc-12_x.ics HTTP/1.1")`` is
    ``"GET /scheduling/calendar/[redacted] HTTP/1.1"``; ``redact("/x?token=s3cret&a=1")`` is
    ``"/x?token=[redacted]&a=1"``.
    """
    return TOKEN_QUERY.sub(rf"\1{REDACTED}", FEED_SECRET.sub(rf"\1{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """A logging filter that rewrites each record's message with `redact` (it never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True
