"""Gunicorn's access log without secrets: every atom of a log line (request line, path, query,
referrer, the raw URI in the environ) passes through accounts.log_redaction.redact.
gunicorn.conf.py (read by gunicorn from the working directory) selects it."""

from gunicorn.glogging import Logger

from accounts.log_redaction import redact


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
