"""The test run's settings: the real ones, with a secret key made for this process.

Tests run with DEBUG off, like production, and DEBUG off refuses the public development key
(settings.py). This key exists only inside one test process and signs nothing that outlives it.
"""

import os
import secrets

os.environ.setdefault("SECRET_KEY", "test-run-" + secrets.token_urlsafe(40))

from .settings import *  # noqa: E402, F403
