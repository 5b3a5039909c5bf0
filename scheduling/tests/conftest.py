"""Fixtures shared by scheduling's test modules (test modules never import one another)."""

import pytest


@pytest.fixture
def staff(make_user):
    """A physician, a pharmacist and a nurse, each with their role."""

    class Staff:
        physician = make_user("physician")
        pharmacist = make_user("pharmacist")
        nurse = make_user("nurse")

    return Staff
