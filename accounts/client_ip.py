"""The address a login failure is counted against (django-axes' AXES_CLIENT_IP_CALLABLE).

Behind our own balancer every request arrives from the balancer's address, so counting failures by
REMOTE_ADDR would let one person's typos lock a username out for everyone. The balancer appends the
address it was connected from to X-Forwarded-For; with `TRUSTED_PROXY_COUNT` = N proxies of our own
in front of the app, the client is the N-th address from the right: the one the outermost of our
proxies saw. Entries further left were written by the client and are ignored, so a forged header
cannot pick the address it is counted against. N = 0 (the default: the app serves clients directly)
reads REMOTE_ADDR and ignores the header altogether.

(django-axes would do this through django-ipware's AXES_IPWARE_PROXY_COUNT, but ipware is not
installed here, and without it axes silently reads REMOTE_ADDR whatever those settings say.)
"""

from django.conf import settings
from django.http import HttpRequest


def forwarded_client(forwarded_for: str, remote_addr: str | None, *, trusted_proxies: int) -> str | None:
    """The client's address given an X-Forwarded-For value and the peer's address.

    Example: forwarded_client("6.6.6.6, 203.0.113.7", "10.0.0.2", trusted_proxies=1) == "203.0.113.7"
    (6.6.6.6 is what the client claimed; 203.0.113.7 is what our balancer saw). With fewer entries
    than trusted proxies (a request that did not pass through them all) it is the peer's address.
    """
    if trusted_proxies < 0:
        raise ValueError(f"trusted_proxies: must not be negative, not {trusted_proxies}")
    if trusted_proxies == 0:
        return remote_addr
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    if len(hops) < trusted_proxies:
        return remote_addr
    return hops[-trusted_proxies]


def client_ip_address(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the address of `request`'s client, per TRUSTED_PROXY_COUNT."""
    return forwarded_client(
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        request.META.get("REMOTE_ADDR"),
        trusted_proxies=settings.TRUSTED_PROXY_COUNT,
    )
