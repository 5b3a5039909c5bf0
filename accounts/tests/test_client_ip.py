"""The address a login failure counts against: REMOTE_ADDR, or the balancer's X-Forwarded-For entry."""

import pytest
from django.test import RequestFactory

from accounts.client_ip import client_ip_address, forwarded_client


@pytest.mark.parametrize(
    ("forwarded_for", "trusted", "expected"),
    [
        ("", 0, "10.0.0.2"),  # served directly: the peer
        ("203.0.113.7", 0, "10.0.0.2"),  # a header nobody trusts is ignored
        ("203.0.113.7", 1, "203.0.113.7"),  # what our balancer saw
        ("6.6.6.6, 203.0.113.7", 1, "203.0.113.7"),  # a forged entry to its left changes nothing
        (" 6.6.6.6 ,203.0.113.7 ", 1, "203.0.113.7"),
        ("6.6.6.6, 198.51.100.4, 203.0.113.7", 2, "198.51.100.4"),  # the site's TLS proxy appends too
        ("", 1, "10.0.0.2"),  # a request that did not come through the balancer: the peer
        ("203.0.113.7", 2, "10.0.0.2"),
    ],
)
def test_the_client_is_the_entry_the_outermost_trusted_proxy_wrote(forwarded_for, trusted, expected):
    assert forwarded_client(forwarded_for, "10.0.0.2", trusted_proxies=trusted) == expected


def test_a_negative_proxy_count_is_refused():
    with pytest.raises(ValueError, match="trusted_proxies"):
        forwarded_client("203.0.113.7", "10.0.0.2", trusted_proxies=-1)


@pytest.mark.parametrize(("count", "expected"), [(0, "10.0.0.2"), (1, "203.0.113.7")])
def test_axes_callable_follows_the_setting(settings, count, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert client_ip_address(request) == expected


def test_axes_is_configured_to_use_it(settings):
    from axes.helpers import get_client_ip_address

    settings.TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert settings.AXES_CLIENT_IP_CALLABLE == "accounts.client_ip.client_ip_address"
    assert get_client_ip_address(request) == "203.0.113.7"
