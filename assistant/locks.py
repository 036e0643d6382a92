"""Per-conversation locks and "seen this platform message" keys: in-process, or shared by workers through Redis.

One worker alone needs nothing more than `KeyedLocks` and the database's processed-message rows.
Several workers behind a load balancer share Redis (`ROADIE_REDIS_URL`): a conversation's turns are
serialised across all of them with a Redis lock (redis-py's `Lock`: SET NX PX with a token, released
by a script), and a webhook delivered to two workers is answered by the first to SET NX its key.
Keys carry the deployment's prefix and a hash of the conversation, never the chat id or phone number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

from assistant.observability import conversation_key

if TYPE_CHECKING:
    import redis.asyncio

log = logging.getLogger(__name__)
SEEN_FOR_S = 3 * 24 * 3600  # platforms redeliver within hours (Telegram keeps updates 24 h); keys outlive that
LOCK_POLL_S = 0.02  # how often a waiting worker asks for a held Redis lock


class LockTimeout(Exception):
    """A conversation stayed locked by another worker for longer than a turn may take."""


class ConversationLocks(Protocol):
    """Serialises one conversation's turns: `async with locks.hold(key): …`."""

    def hold(self, key: str) -> AbstractAsyncContextManager[None]: ...


class FirstDeliveries(Protocol):
    """Remembers platform message ids: `first` is True exactly once per (channel, message id)."""

    async def first(self, channel: str, message_id: str) -> bool: ...


class KeyedLocks:
    """One asyncio lock per conversation, so a conversation's turns never overlap (in-process)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]


class RedisLocks:
    """A conversation's lock in Redis, held by one worker at a time (and, inside it, by one task).

    The lock lives `expire_s` and is renewed every third of that while its turn runs, so a long turn
    keeps it and a crashed worker's lock frees within `expire_s`. A worker waits at most `wait_s` for
    the lock, then raises `LockTimeout`.
    """

    def __init__(self, client: redis.asyncio.Redis, prefix: str, expire_s: float, wait_s: float) -> None:
        self._client = client
        self._prefix = prefix
        self._expire_s = expire_s
        self._wait_s = wait_s
        self._local = KeyedLocks()  # tasks of this worker queue here, not by polling Redis

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        from redis.exceptions import LockError, RedisError

        async with self._local.hold(key):
            lock = self._client.lock(
                f"{self._prefix}lock:{conversation_key(key)}",
                timeout=self._expire_s,
                sleep=LOCK_POLL_S,
                blocking_timeout=self._wait_s,
            )
            held: bool | None
            try:
                held = await lock.acquire()
            except RedisError as error:  # Redis down: this worker's own lock still orders its turns
                log.warning("conversation lock not shared (Redis: %s); serialised in this worker only", error)
                held = None
            if held is None:
                yield
                return
            if not held:
                raise LockTimeout(f"conversation {conversation_key(key)} stayed locked for {self._wait_s:.0f} s")
            renewing = asyncio.create_task(self._renew(lock))
            try:
                yield
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
                try:
                    await lock.release()
                except LockError:
                    log.warning(
                        "a conversation lock expired before its turn ended (turn longer than %s s)", self._expire_s
                    )
                except RedisError as error:
                    log.warning("conversation lock not released (Redis: %s); it expires by itself", error)

    async def _renew(self, lock: redis.asyncio.lock.Lock) -> None:
        """Reset the lock's time to live every third of it while the turn runs."""
        from redis.exceptions import LockError, RedisError

        while True:
            await asyncio.sleep(self._expire_s / 3)
            try:
                await lock.reacquire()
            except (LockError, RedisError):
                log.warning("a conversation lock was lost while its turn ran")
                return


class RedisDeliveries:
    """Platform message ids remembered in Redis for three days (SET NX EX): shared by every worker.

    If Redis does not answer, `first` raises; the conversation service then records the id in the
    database instead (shared by the workers too, when that is PostgreSQL).
    """

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def first(self, channel: str, message_id: str) -> bool:
        key = f"{self._prefix}seen:{channel}:{conversation_key(message_id)}"
        return bool(await self._client.set(key, b"1", nx=True, ex=SEEN_FOR_S))
