"""The database and cache settings read from the environment (settings.py calls these).

Kept apart from settings.py so that each rule can be tested with a plain dict for an environment,
without reloading the settings module.
"""

from collections.abc import Mapping

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

POOL_ENGINE = "django.db.backends.postgresql"
# With PRODUCTION on and PostgreSQL, the pool is on unless DATABASE_POOL_MAX_SIZE=0. Gunicorn's sync
# workers each serve one request at a time, so a process needs one connection, and a second one covers a
# connection being replaced; README "Production" has the arithmetic against max_connections.
PRODUCTION_POOL_MAX_SIZE = 2
REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"
LOCMEM_CACHE = "django.core.cache.backends.locmem.LocMemCache"


def _int(environ: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = environ.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def database_config(environ: Mapping[str, str], *, default_url: str, production: bool) -> dict:
    """DATABASES["default"] from DATABASE_URL, with psycopg's connection pool when asked for.

    DATABASE_POOL_MAX_SIZE > 0 turns the pool on (PostgreSQL only; default 2 under PRODUCTION, else 0);
    DATABASE_POOL_MIN_SIZE (1) connections stay open; DATABASE_POOL_TIMEOUT (10) seconds is how long a
    request waits for a free connection before failing. Without the pool, each process keeps one
    connection for DATABASE_CONN_MAX_AGE (60) seconds.

    >>> config = database_config({"DATABASE_URL": "postgres://ivig@db/ivig", "DATABASE_POOL_MAX_SIZE": "4"},
    ...                          default_url="sqlite:///x.sqlite3", production=False)
    >>> config["CONN_MAX_AGE"], config["OPTIONS"]["pool"]["max_size"], config["OPTIONS"]["pool"]["min_size"]
    (0, 4, 1)
    """
    url = environ.get("DATABASE_URL") or default_url
    config = dj_database_url.parse(
        url,
        conn_max_age=_int(environ, "DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
    is_postgresql = config["ENGINE"] == POOL_ENGINE
    default_max = PRODUCTION_POOL_MAX_SIZE if production and is_postgresql else 0
    max_size = _int(environ, "DATABASE_POOL_MAX_SIZE", default_max, minimum=0)
    if max_size == 0:
        return config
    if not is_postgresql:
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MAX_SIZE={max_size} needs PostgreSQL (psycopg's pool); DATABASE_URL is {config['ENGINE']}."
        )
    min_size = _int(environ, "DATABASE_POOL_MIN_SIZE", 1, minimum=0)
    if min_size > max_size:
        raise ImproperlyConfigured(f"DATABASE_POOL_MIN_SIZE ({min_size}) exceeds DATABASE_POOL_MAX_SIZE ({max_size}).")
    # Django refuses a pool together with persistent connections: the pool keeps them instead.
    config["CONN_MAX_AGE"] = 0
    config.setdefault("OPTIONS", {})["pool"] = {
        "min_size": min_size,
        "max_size": max_size,
        "timeout": _int(environ, "DATABASE_POOL_TIMEOUT", 10, minimum=1),
    }
    # CONN_HEALTH_CHECKS (kept on) becomes the pool's check: a connection broken by a PostgreSQL restart
    # is replaced when it is taken out of the pool, never handed to a request.
    return config


def trusted_proxy_count(environ: Mapping[str, str]) -> int:
    """TRUSTED_PROXY_COUNT: how many proxies of our own stand in front of the app, each appending to
    X-Forwarded-For (0, the default: clients connect directly). Login failures are counted against the
    address the outermost of them saw (accounts/client_ip.py). Set it only when the app can be reached
    through those proxies alone: a client connecting directly could otherwise name its own address.

    >>> trusted_proxy_count({}), trusted_proxy_count({"TRUSTED_PROXY_COUNT": "1"})
    (0, 1)
    """
    return _int(environ, "TRUSTED_PROXY_COUNT", 0, minimum=0)


def cache_config(environ: Mapping[str, str]) -> dict:
    """CACHES from CACHE_URL: Redis, shared by every process, when set; else each process's own memory.

    >>> cache_config({"CACHE_URL": "redis://redis:6379/1"})["default"]["BACKEND"]
    'django.core.cache.backends.redis.RedisCache'
    >>> cache_config({})["default"]["BACKEND"]
    'django.core.cache.backends.locmem.LocMemCache'
    """
    url = (environ.get("CACHE_URL") or "").strip()
    if not url:
        return {"default": {"BACKEND": LOCMEM_CACHE}}
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"CACHE_URL must be a redis://, rediss:// or unix:// URL, not {url!r}.")
    return {"default": {"BACKEND": REDIS_CACHE, "LOCATION": url, "KEY_PREFIX": "ivig-clinic"}}
