"""Outbound pacing: platform rate limits per chat and overall, and waiting out `retry_after` answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)
MAX_RETRY_WAIT_S = 60.0


class Pacer:
    """Spaces sends so one chat gets at most one message per `interval` and all chats `overall_per_s` in total."""

    def __init__(self, interval: float, overall_per_s: float) -> None:
        self.interval = interval
        self._overall_gap = 1.0 / overall_per_s
        self._next: dict[str, float] = {}
        self._next_overall = 0.0
        self._lock = asyncio.Lock()

    async def wait(self, chat: str, interval: float | None = None) -> None:
        """Sleep until a message to `chat` is within the limits (`interval` overrides the per-chat gap)."""
        async with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(chat, 0.0), self._next_overall)
            self._next[chat] = slot + (self.interval if interval is None else interval)
            self._next_overall = slot + self._overall_gap
            if len(self._next) > 10_000:
                self._next = {k: v for k, v in self._next.items() if v > now}
        if slot > now:
            await asyncio.sleep(slot - now)

    def hold(self, chat: str, seconds: float) -> None:
        """The platform asked us to wait: no message to `chat` for `seconds`."""
        self._next[chat] = max(self._next.get(chat, 0.0), time.monotonic() + seconds)


async def with_retry_after(
    send: Callable[[], Awaitable[T]],
    retry_after: Callable[[Exception], float | None],
    attempts: int = 3,
    on_wait: Callable[[float], None] | None = None,
) -> T:
    """Call `send`; when it fails with a rate-limit error, wait as long as the platform says and try again."""
    for attempt in range(1, attempts + 1):
        try:
            return await send()
        except Exception as error:
            wait = retry_after(error)
            if wait is None or attempt == attempts:
                raise
            wait = min(max(wait, 0.0), MAX_RETRY_WAIT_S)
            log.warning("rate limited, retrying in %.1f s (attempt %d of %d)", wait, attempt, attempts)
            if on_wait is not None:
                on_wait(wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")
