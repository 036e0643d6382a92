"""Outbound pacing: platform rate limits per chat and overall, and waiting out `retry_after` answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)
MAX_RETRY_WAIT_S = 60.0


class Pacer:
    """Spaces sends so one chat gets at most one message per `interval` and all chats `overall_per_s` in total.

    The overall limit is a sliding window over when sends really left: at most `overall_per_s` in any
    second. A send held up by a busy host does not push the ones after it back, so the allowed rate is
    reached without ever being passed.
    """

    def __init__(self, interval: float, overall_per_s: float) -> None:
        self.interval = interval
        self._window_sends = max(1, round(overall_per_s))
        self._window = self._window_sends / overall_per_s
        self._recent: deque[float] = deque(maxlen=self._window_sends)  # when the latest sends left, oldest first
        self._next: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._overall = asyncio.Lock()

    async def wait(self, chat: str, interval: float | None = None) -> None:
        """Sleep until a message to `chat` is within the limits (`interval` overrides the per-chat gap)."""
        gap = self.interval if interval is None else interval
        async with self._lock:
            now = time.monotonic()
            turn = max(now, self._next.get(chat, 0.0))
            self._next[chat] = turn + gap
            if len(self._next) > 10_000:
                self._next = {k: v for k, v in self._next.items() if v > now}
        if turn > now:
            await asyncio.sleep(turn - now)
        async with self._overall:  # then a place among all chats, first come first served
            now = time.monotonic()
            while len(self._recent) == self._window_sends and self._recent[0] + self._window > now:
                await asyncio.sleep(self._recent[0] + self._window - now)
                now = time.monotonic()
            self._recent.append(now)
            self._next[chat] = max(self._next.get(chat, 0.0), now + gap)

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
