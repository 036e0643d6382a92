"""The one way Roadie opens Redis: a client for `ROADIE_REDIS_URL` (None when it is empty) and its key prefix.

Every feature that shares state between workers through Redis (conversation locks and dedupe keys in
`assistant/locks.py`, rate limits) opens its client here, so one URL, one prefix and one set of
timeouts apply to all of them. Clients are built by `main.py` and passed down, never made at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.settings import Settings

if TYPE_CHECKING:
    import redis
    import redis.asyncio

CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0


def open_async_redis(settings: Settings) -> redis.asyncio.Redis | None:
    """An asyncio Redis client for the configured URL, or None when Redis is not configured."""
    if not settings.redis_url:
        return None
    import redis.asyncio

    return redis.asyncio.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        health_check_interval=30,
    )


def open_redis(settings: Settings) -> redis.Redis | None:
    """A blocking Redis client (for code running in a worker thread), or None when Redis is not configured."""
    if not settings.redis_url:
        return None
    import redis

    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        health_check_interval=30,
    )


def key(settings: Settings, *parts: str) -> str:
    """A Redis key under this deployment's prefix: key(settings, "lock", "web:abc") → "roadie:lock:web:abc"."""
    return settings.redis_prefix + ":".join(parts)
