"""Every URL pattern needs a login: pages redirect to the login form, the API answers 401."""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Public on purpose: logging in, the container health check, and the icon browsers fetch on their own.
# A calendar feed link carries its own credential in the path (an unknown one answers 404: test_ical).
PUBLIC = {"login", "healthz", "favicon", "calendar_feed_link"}
# A fixed UUID that matches no row: the test ids are built from these paths, and pytest-xdist
# needs every worker to collect the same ids (a fresh uuid4 differed between workers).
SAMPLE_KWARGS = {
    "uuid": uuid.UUID("00000000-0000-4000-8000-000000000000"),
    "slug": "labs",
    "str": "x",
    "int": 1,
    "path": "x",
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _concrete_path(route: str) -> str | None:
    import re

    if route.startswith("^") or "(?P" in route:  # regex routes (admin) get a sample by hand
        return None

    def substitute(match):
        converter = match.group(1) or "str"
        return str(SAMPLE_KWARGS[converter])

    return "/" + re.sub(r"<(?:(\w+):)?\w+>", substitute, route)


def _all_routes():
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        path = _concrete_path(route)
        if path is None or pattern.name in PUBLIC:
            continue
        routes.append(pytest.param(path, id=path))
    return routes


@pytest.mark.django_db
@pytest.mark.parametrize("path", _all_routes())
def test_every_url_needs_login(client, path):
    response = client.get(path)
    # Machine clients cannot follow a login redirect (the FHIR API answers with an OperationOutcome).
    if path.startswith(("/api/", "/fhir/")) or path in ("/fhir", "/scheduling/calendar.ics"):
        assert response.status_code == 401
    else:
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/") or response.url.startswith("/admin/login/")


@pytest.mark.django_db
def test_walk_covers_the_app():
    paths = [param.values[0] for param in _all_routes()]
    assert "/patients/" in paths
    assert any(path.startswith("/api/v1/patients") for path in paths)
    assert len(paths) > 15


@pytest.mark.django_db
def test_healthz_is_public_and_reaches_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
