"""The test run's settings: the real ones, with a secret key made for this process.

Tests run with DEBUG off, like production, and DEBUG off refuses the public development key
(settings.py). This key exists only inside one test process and signs nothing that outlives it.
"""

import os
import secrets

os.environ.setdefault("SECRET_KEY", "test-run-" + secrets.token_urlsafe(40))
# No connection pool in the test run, even with PRODUCTION in the environment: pytest-django creates and
# drops a test database per run (per xdist worker), which a pool's idle connections would hold open, and one
# test process serves one request at a time, so a pool would save nothing. ivig_clinic/tests/test_processes.py
# tests the pool settings, and scripts/native-stack-check runs the pool against PostgreSQL.
os.environ.setdefault("DATABASE_POOL_MAX_SIZE", "0")

from .settings import *  # noqa: E402, F403

# Two test runs at once against one PostgreSQL (scripts/test-suite runs the browser tests beside the others)
# need test databases of their own: pytest-django names them after TEST["NAME"] (plus each xdist worker's
# suffix), so the second run sets TEST_DATABASE_NAME. SQLite's in-memory test databases are per process.
if os.environ.get("TEST_DATABASE_NAME") and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ["TEST_DATABASE_NAME"]  # noqa: F405
