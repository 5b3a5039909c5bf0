"""Several processes, one clinic: the database pool and the cache read from the environment, and
exactly one beat sending the periodic jobs. scripts/native-stack-check runs the same pieces as real
processes (three web instances behind nginx, two workers, two beats)."""

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ivig_clinic import beat
from ivig_clinic.celery import app
from ivig_clinic.env_config import cache_config, database_config, trusted_proxy_count

BASE_DIR = Path(__file__).resolve().parents[2]
SQLITE = "sqlite:///var/x.sqlite3"
POSTGRES = "postgres://ivig:secret@db:5432/ivig"


def _db(production=False, **environ):
    return database_config(environ, default_url=SQLITE, production=production)


@pytest.mark.parametrize(
    ("environ", "production", "pool", "conn_max_age"),
    [
        ({}, False, None, 60),
        ({}, True, None, 60),  # SQLite under PRODUCTION: nothing to pool
        ({"DATABASE_URL": POSTGRES}, False, None, 60),
        ({"DATABASE_URL": POSTGRES, "DATABASE_CONN_MAX_AGE": "0"}, False, None, 0),
        ({"DATABASE_URL": POSTGRES}, True, (1, 2, 10), 0),  # on by default in production
        ({"DATABASE_URL": POSTGRES, "DATABASE_POOL_MAX_SIZE": "0"}, True, None, 60),  # switched off
        ({"DATABASE_URL": POSTGRES, "DATABASE_POOL_MAX_SIZE": "6"}, False, (1, 6, 10), 0),
        (
            {
                "DATABASE_URL": POSTGRES,
                "DATABASE_POOL_MAX_SIZE": "8",
                "DATABASE_POOL_MIN_SIZE": "0",
                "DATABASE_POOL_TIMEOUT": "3",
                "DATABASE_CONN_MAX_AGE": "600",  # ignored with the pool: Django refuses both
            },
            True,
            (0, 8, 3),
            0,
        ),
    ],
)
def test_the_pool_is_on_where_the_environment_says(environ, production, pool, conn_max_age):
    config = _db(production, **environ)
    assert config["CONN_MAX_AGE"] == conn_max_age
    options = config.get("OPTIONS", {}).get("pool")
    # With the pool, Django turns the health check into the pool's check on every checkout.
    assert config["CONN_HEALTH_CHECKS"] is True
    if pool is None:
        assert options is None
    else:
        assert (options["min_size"], options["max_size"], options["timeout"]) == pool


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DATABASE_POOL_MAX_SIZE": "4"}, "needs PostgreSQL"),
        ({"DATABASE_URL": POSTGRES, "DATABASE_POOL_MAX_SIZE": "2", "DATABASE_POOL_MIN_SIZE": "3"}, "exceeds"),
        ({"DATABASE_URL": POSTGRES, "DATABASE_POOL_MAX_SIZE": "two"}, "whole number"),
        ({"DATABASE_URL": POSTGRES, "DATABASE_POOL_MAX_SIZE": "-1"}, "at least 0"),
        ({"DATABASE_URL": POSTGRES, "DATABASE_POOL_MAX_SIZE": "2", "DATABASE_POOL_TIMEOUT": "0"}, "at least 1"),
    ],
)
def test_an_impossible_pool_refuses_to_start(environ, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        _db(**environ)


@pytest.mark.parametrize(
    ("environ", "backend", "location"),
    [
        ({}, "django.core.cache.backends.locmem.LocMemCache", None),
        ({"CACHE_URL": "  "}, "django.core.cache.backends.locmem.LocMemCache", None),
        ({"CACHE_URL": "redis://redis:6379/1"}, "django.core.cache.backends.redis.RedisCache", "redis://redis:6379/1"),
        ({"CACHE_URL": "rediss://cache.example.org:6380/0"}, "django.core.cache.backends.redis.RedisCache", None),
    ],
)
def test_the_cache_is_redis_when_a_cache_url_is_set(environ, backend, location):
    default = cache_config(environ)["default"]
    assert default["BACKEND"] == backend
    if location:
        assert default["LOCATION"] == location


def test_a_cache_url_that_is_not_redis_is_refused():
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL must be"):
        cache_config({"CACHE_URL": "memcached://127.0.0.1:11211"})


def _settings_in_a_new_process(**environ):
    """The settings a fresh process builds from this environment (what gunicorn would get)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "CACHE_URL"))}
    env.pop("DEBUG", None)
    env.update({"DJANGO_SETTINGS_MODULE": "ivig_clinic.settings", "SECRET_KEY": "x" * 50, **environ})
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps({'db': s.DATABASES['default'], 'cache': s.CACHES['default'], "
        "'beat': s.CELERY_BEAT_SCHEDULER, 'axes': s.AXES_HANDLER, 'sessions': s.SESSION_ENGINE}, default=str))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_settings_pool_postgresql_and_share_the_cache():
    built = _settings_in_a_new_process(
        PRODUCTION="true", DATABASE_URL=POSTGRES, CACHE_URL="redis://redis:6379/1", ALLOWED_HOSTS="ivig.example.org"
    )
    assert built["db"]["OPTIONS"]["pool"]["max_size"] == 2
    assert built["db"]["CONN_MAX_AGE"] == 0
    assert built["cache"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    # What several web instances must share lives in the database, whichever cache is configured.
    assert built["sessions"] == "django.contrib.sessions.backends.db"
    assert built["axes"] == "axes.handlers.database.AxesDatabaseHandler"
    assert built["beat"] == "ivig_clinic.beat:SingleBeatScheduler"


def test_zero_setup_settings_need_no_service():
    built = _settings_in_a_new_process(DEBUG="1")
    assert built["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert "pool" not in built["db"].get("OPTIONS", {})
    assert built["cache"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


# --- Exactly one beat.


def test_a_second_file_lock_waits_until_the_first_is_released(tmp_path):
    first, second = beat.FileBeatLock(tmp_path / "beat.lock"), beat.FileBeatLock(tmp_path / "beat.lock")
    assert first.hold() and first.hold()  # holding again is renewing
    assert not second.hold()
    first.release()
    assert second.hold()
    assert not first.hold()
    second.release()


def test_the_lock_follows_the_broker(tmp_path):
    assert isinstance(
        beat.beat_lock_for(type("App", (), {"conf": _Conf("redis://127.0.0.1:6379/0", tmp_path)})()),
        beat.RedisBeatLock,
    )
    # Filesystem broker: beside its queue, whatever --schedule file each beat was given.
    lock = beat.beat_lock_for(type("App", (), {"conf": _Conf("filesystem://", tmp_path)})())
    assert isinstance(lock, beat.FileBeatLock)
    assert lock.path == tmp_path / "broker" / "celerybeat.lock"


class _Conf:
    def __init__(self, broker_url, folder):
        self.broker_url = broker_url
        self.beat_schedule_filename = str(folder / "schedules" / "celerybeat-schedule")
        self.broker_transport_options = {"data_folder_in": str(folder / "broker" / "queue")}


def _scheduler(tmp_path, name, lock):
    scheduler = beat.SingleBeatScheduler(app=app, schedule_filename=str(tmp_path / name))
    scheduler.update_from_dict({"probe": {"task": "accounts.tasks.housekeeping", "schedule": 0.05}})
    scheduler.lock = lock
    scheduler.producer = None  # nothing reaches the broker: apply_entry is replaced below
    scheduler.sent = []
    scheduler.apply_entry = lambda entry, producer=None: scheduler.sent.append(entry.name)
    return scheduler


def _run(schedulers, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for scheduler in schedulers:
            scheduler.tick()
        time.sleep(0.06)


def test_of_two_beats_only_the_lock_holder_sends_and_the_other_takes_over(tmp_path):
    first = _scheduler(tmp_path, "first", beat.FileBeatLock(tmp_path / "beat.lock"))
    second = _scheduler(tmp_path, "second", beat.FileBeatLock(tmp_path / "beat.lock"))
    try:
        _run([first, second], 0.5)
        assert first.sent and set(first.sent) == {"probe"}
        assert second.sent == []
        assert second.tick() == beat.RENEW_SECONDS  # standing by: checks the lock again soon

        first.close()  # stopping hands the lock over at once
        sent_before = len(first.sent)
        _run([second], 0.5)
        assert second.sent and set(second.sent) == {"probe"}
        assert len(first.sent) == sent_before
    finally:
        first.close()
        second.close()


def test_the_holder_wakes_up_in_time_to_renew_its_lock(tmp_path):
    scheduler = _scheduler(tmp_path, "only", beat.FileBeatLock(tmp_path / "beat.lock"))
    scheduler.update_from_dict({"probe": {"task": "accounts.tasks.housekeeping", "schedule": 3600}})
    try:
        assert 0 <= scheduler.tick() <= beat.RENEW_SECONDS < beat.LOCK_SECONDS
    finally:
        scheduler.close()


def test_a_beat_that_cannot_reach_its_lock_sends_nothing(tmp_path):
    class Unreachable:
        def hold(self):
            raise redis.ConnectionError("refused")

    scheduler = _scheduler(tmp_path, "cut-off", Unreachable())
    _run([scheduler], 0.3)
    assert scheduler.sent == []


redis_broker = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis"),
    reason="needs Redis as the broker (CI's PostgreSQL + Redis run sets CELERY_BROKER_URL)",
)


@redis_broker
def test_the_redis_lock_has_one_holder_renewed_until_it_expires_or_is_released():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    key = f"ivig-test-beat-lock-{uuid.uuid4().hex}"
    first, second = beat.RedisBeatLock(client, key=key, seconds=1), beat.RedisBeatLock(client, key=key, seconds=1)
    try:
        assert first.hold() and first.holder() == first.owner
        assert not second.hold()
        time.sleep(0.6)
        assert first.hold()  # renewed: a full second again from now
        time.sleep(0.6)
        assert not second.hold()
        second.release()  # not the holder: releasing does nothing
        assert first.holder() == first.owner

        time.sleep(1.2)  # the holder stopped renewing (died): the key expires
        assert second.hold() and second.holder() == second.owner
        assert not first.hold()
        second.release()
        assert first.hold()
    finally:
        client.delete(key)


@redis_broker
def test_two_processes_share_the_redis_cache():
    from django.core.cache.backends.redis import RedisCache

    # Two cache clients, as two web instances would each build from the same CACHE_URL.
    one = RedisCache(settings.CELERY_BROKER_URL, {"KEY_PREFIX": f"ivig-test-{uuid.uuid4().hex}"})
    other = RedisCache(settings.CELERY_BROKER_URL, {"KEY_PREFIX": one.key_prefix})
    one.set("probe", {"written by": "instance 1"}, timeout=30)
    try:
        assert other.get("probe") == {"written by": "instance 1"}
    finally:
        one.delete("probe")


# --- The compose file and its native run.


def _compose():
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def test_every_compose_service_runs_in_the_native_stack_check():
    script = (BASE_DIR / "scripts" / "native-stack-check").read_text()
    declared = re.search(r'^SERVICES="([^"]+)"', script, re.MULTILINE).group(1).split()
    assert sorted(declared) == sorted(_compose()["services"])


def test_compose_runs_three_web_instances_behind_the_proxy_two_workers_and_one_beat():
    services = _compose()["services"]
    commands = {name: " ".join(service.get("command") or []) for name, service in services.items()}
    web = sorted(name for name, command in commands.items() if command.startswith("gunicorn"))
    assert web == ["web-1", "web-2", "web-3"]
    assert sorted(name for name, command in commands.items() if " worker " in f"{command} ") == ["worker-1", "worker-2"]
    assert [name for name, command in commands.items() if " beat " in f"{command} "] == ["beat"]
    balancer = (BASE_DIR / "deploy" / "nginx-ivig-clinic.conf").read_text()
    assert re.findall(r"^\s*server (web-\d+):8000", balancer, re.MULTILINE) == web
    assert "./deploy/nginx-ivig-clinic.conf:/etc/nginx/conf.d/default.conf:ro" in services["proxy"]["volumes"]
    assert all("ports" not in services[name] for name in web)  # reached only through the proxy
    # Every process shares the cache and pools its connections; the arithmetic is in README "Production".
    environment = services["web-1"]["environment"]
    assert environment["CACHE_URL"].startswith("redis://redis:6379/")
    assert environment["CACHE_URL"] != environment["CELERY_BROKER_URL"]
    assert int(environment["DATABASE_POOL_MAX_SIZE"]) >= 1
    # Login failures count against the address the balancer appended to X-Forwarded-For, not its own.
    assert environment["TRUSTED_PROXY_COUNT"] == "${TRUSTED_PROXY_COUNT:-1}"
    assert re.search(r"^\s*proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;", balancer, re.MULTILINE)


def test_trusted_proxy_count_is_read_from_the_environment_and_defaults_to_direct():
    assert trusted_proxy_count({}) == 0
    assert trusted_proxy_count({"TRUSTED_PROXY_COUNT": "1"}) == 1
    for bad in ("-1", "one"):
        with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXY_COUNT"):
            trusted_proxy_count({"TRUSTED_PROXY_COUNT": bad})


def test_synthetic_seeding_sees_the_production_pool():
    from clinic.synthetic import connection_pooled

    pooled = database_config({"DATABASE_URL": "postgres://ivig@db/ivig"}, default_url="sqlite:///x", production=True)
    direct = database_config({"DATABASE_URL": "postgres://ivig@db/ivig"}, default_url="sqlite:///x", production=False)
    assert connection_pooled(pooled) is True  # so `make load` seeds in one process (commit c7049c4)
    assert connection_pooled(direct) is False
