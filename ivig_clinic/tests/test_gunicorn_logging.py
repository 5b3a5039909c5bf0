"""Gunicorn's access log never shows a calendar feed secret (accounts.log_redaction)."""

import logging
from datetime import timedelta
from types import SimpleNamespace

from gunicorn.config import Config

from ivig_clinic.gunicorn_logging import RedactingLogger

SECRET = "Zq3-Xy_9abcdefghijklmnopqrstuvwxyz0123456789"


def test_gunicorn_access_log_line_has_no_secret():
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = RedactingLogger(cfg)
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(handler.format(record))
    logger.access_log.addHandler(handler)
    path = f"/scheduling/calendar/{SECRET}.ics"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_REFERER": f"https://ivig.example.org{path}",
    }
    resp = SimpleNamespace(status="200 OK", sent=120, headers=[])
    req = SimpleNamespace(headers=[("USER-AGENT", "Calendar/1.0")])
    logger.access(resp, req, environ, timedelta(milliseconds=5))
    assert len(lines) == 1
    assert SECRET not in lines[0]
    assert "GET /scheduling/calendar/[redacted] HTTP/1.1" in lines[0]


def test_gunicorn_reads_the_redacting_logger_from_the_repo_config():
    from django.conf import settings

    config = (settings.BASE_DIR / "gunicorn.conf.py").read_text()
    namespace = {}
    exec(compile(config, "gunicorn.conf.py", "exec"), namespace)
    assert namespace["logger_class"] == "ivig_clinic.gunicorn_logging.RedactingLogger"
