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
