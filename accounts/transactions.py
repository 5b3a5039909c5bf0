"""One transaction per service, and work that must run once before it commits.

Every service that writes runs in ``service_transaction()`` (or is decorated ``@service``): one
database transaction. At the end of the outermost one, still inside it, the hooks that apps
above registered in ``BEFORE_COMMIT`` run once; they read what the service touched from
``scratch()``, a dict that lives exactly as long as the outermost service transaction.

risk uses it to recompute the flags of every patient whose chart a service touched, once per
patient per transaction however many rows were saved (booking a 12-cycle course saves 36).
Why before commit and not ``transaction.on_commit``: the chart change, the risk verdict and the
lower rate cap of an order in use must commit together or not at all; after commit there would
be a moment (and, if the recompute failed, a night) in which a saved renal result had not
reached the chair."""

import threading
from collections.abc import Callable
from contextlib import contextmanager
from functools import wraps

from django.db import transaction

# Run at the end of the outermost service transaction, in order, inside it. A hook may write;
# the hooks run again while any of them leaves work in the scratch (at most a few rounds).
BEFORE_COMMIT: list[Callable[[], bool]] = []
MAX_ROUNDS = 5

_local = threading.local()


def in_service() -> bool:
    """True inside a service transaction: work can be left for its end."""
    return getattr(_local, "depth", 0) > 0


def scratch() -> dict:
    """The open service transaction's scratch dict (empty outside one, and thrown away)."""
    return _local.scratch if in_service() else {}


@contextmanager
def service_transaction():
    """A service's transaction; nested ones join the outermost, whose end runs the hooks.

    Example: ``with service_transaction(): measurement_record(...); lab_result_record(...)``
    recomputes the patient's flags once, before the commit.
    """
    with transaction.atomic():
        outermost = not in_service()
        if outermost:
            _local.depth, _local.scratch = 0, {}
        _local.depth += 1
        try:
            yield
            if outermost:
                _run_hooks()
        finally:
            _local.depth -= 1
            if outermost:
                _local.scratch = {}


def _run_hooks() -> None:
    for _ in range(MAX_ROUNDS):
        did_work = [hook() for hook in BEFORE_COMMIT]  # every hook runs, not only up to the first
        if not any(did_work):
            return
    raise RuntimeError(f"before-commit hooks still had work after {MAX_ROUNDS} rounds")


def service(func):
    """Run ``func`` as a service: in a service transaction (see ``service_transaction``)."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        with service_transaction():
            return func(*args, **kwargs)

    return wrapper
