"""Exactly one beat: Celery beat's scheduler, sending only while it holds a lock.

Two beats would send every periodic job twice (two reminder sweeps racing, two nightly runs).
Compose runs one beat, but a second one started by mistake (a `docker compose run beat`, a beat
left running on the old host during a move, `worker --beat` on a second machine) must not double
the schedule. So the scheduler sends only while it holds a lock; any other beat waits, checking
every few seconds, and takes over when the holder stops or dies.

The lock lives where the beat sends its jobs:
- Redis broker (production): a Redis key with a time-to-live, renewed by the holder on every tick
  (`RedisBeatLock`). A holder that dies stops renewing and the key expires LOCK_SECONDS later.
- Filesystem broker (`make run`, one machine): an flock on a file next to the broker
  (`FileBeatLock`); the operating system releases it when the holding process dies.

A holder frozen for longer than LOCK_SECONDS (a stopped VM) may come back to find a successor
sending: each job could then run twice once. Every periodic job is idempotent (settings), so that
costs work, not correctness.
"""

import fcntl
import logging
import os
import socket
import uuid
from pathlib import Path

import redis
from celery.beat import PersistentScheduler

logger = logging.getLogger(__name__)

LOCK_KEY = "ivig-clinic:celery-beat-lock"
# The holder renews every RENEW_SECONDS; a dead holder's lock is taken over at most
# LOCK_SECONDS + RENEW_SECONDS after its last renewal.
LOCK_SECONDS = 30
RENEW_SECONDS = 10


class RedisBeatLock:
    """A Redis key naming the holder, with a time-to-live the holder keeps renewing."""

    def __init__(self, client, *, key: str = LOCK_KEY, seconds: int = LOCK_SECONDS):
        self.client = client
        self.key = key
        self.seconds = seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        # Compare-and-renew and compare-and-delete must be atomic: between a GET and an EXPIRE
        # the key could expire and another beat take it, and we would extend the other's lock.
        self._renew = client.register_script(
            "if redis.call('get', KEYS[1]) == ARGV[1] then "
            "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
        )
        self._release = client.register_script(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
        )

    def hold(self) -> bool:
        """Take the lock if it is free, renew it if it is ours; True while we hold it."""
        milliseconds = self.seconds * 1000
        if self._renew(keys=[self.key], args=[self.owner, milliseconds]):
            return True
        return bool(self.client.set(self.key, self.owner, nx=True, px=milliseconds))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.owner])

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value


class FileBeatLock:
    """An exclusive flock on a file: one machine, released by the kernel when the holder dies."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None

    def hold(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for as long as we hold the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def beat_lock_for(app):
    """The lock that fits the broker beat sends to: Redis's own, or a file beside the broker."""
    broker_url = app.conf.broker_url or ""
    if broker_url.startswith(("redis://", "rediss://")):
        return RedisBeatLock(redis.Redis.from_url(broker_url, socket_timeout=5))
    # Beside the broker's queue folder, which every beat sending to this broker shares by definition
    # (beats given different --schedule files would not share a folder beside those).
    queue = (app.conf.broker_transport_options or {}).get("data_folder_in")
    folder = Path(queue).parent if queue else Path(app.conf.beat_schedule_filename or "celerybeat-schedule").parent
    return FileBeatLock(folder / "celerybeat.lock")


class SingleBeatScheduler(PersistentScheduler):
    """PersistentScheduler that ticks only while it holds the beat lock (settings.CELERY_BEAT_SCHEDULER)."""

    lock = None
    holding = None  # unknown until the first tick, so that the first tick says which it is

    def tick(self, *args, **kwargs):
        if self.lock is None:
            self.lock = beat_lock_for(self.app)
        try:
            holding, reason = self.lock.hold(), "the beat lock is held by another beat"
        except Exception as exc:  # noqa: BLE001 - Redis unreachable: not knowing means not sending
            holding, reason = False, f"cannot reach the beat lock ({exc})"
        if holding != self.holding:  # logged once per change, not every few seconds
            self.holding = holding
            if holding:
                logger.info("beat: holds the beat lock; sending the periodic jobs")
            else:
                logger.warning("beat: %s; standing by", reason)
        if not holding:
            return RENEW_SECONDS
        # Wake up at least every RENEW_SECONDS, whatever the schedule says, to keep the lock.
        return min(super().tick(*args, **kwargs), RENEW_SECONDS)

    def close(self):
        try:
            super().close()
        finally:
            if self.lock is not None and self.holding:
                # Hand over at once rather than after LOCK_SECONDS: a standby beat takes over on its next tick.
                self.lock.release()
                self.holding = False
