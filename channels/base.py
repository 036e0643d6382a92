"""The small interface every channel offers, the callback it is given, and turns run after an ack."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import datetime
from typing import Protocol

from fastapi import FastAPI

from assistant.messages import Inbound, Reply

Handler = Callable[[Inbound], Awaitable[Reply | None]]
Deliver = Callable[[Reply], Awaitable[None]]
log = logging.getLogger(__name__)
QUIET_S = 0.05  # acks first: a turn starts once no webhook has arrived for this long…
WAIT_AT_MOST_S = 5.0  # …or once its own webhook is this old, so answers in a long burst are at most this late


class Channel(Protocol):
    """A platform adapter: composed with the core's `handle`, it can also send proactively."""

    name: str

    async def send(self, address: str, reply: Reply) -> None: ...


class People(Protocol):
    """What a channel may ask the core about the people it talks to (the core owns that record)."""

    async def last_inbound_at(self, channel: str, address: str) -> datetime | None:
        """When this person last wrote to Roadie on `channel` (None if never)."""
        ...

    async def opted_out(self, channel: str, address: str) -> bool:
        """True when the person said STOP and has not said START since."""
        ...

    async def remember(self, channel: str, key: str, value: str) -> None:
        """Keep `value` under the channel's `key` for every worker (the first value stored stays)."""
        ...

    async def recall(self, channel: str, key: str) -> str | None:
        """What the channel remembered under `key` (None when nothing was, or it is older than 90 days)."""
        ...


class SendRefused(Exception):
    """A proactive message that must not go out (opt-out, closed session window); the reason is recorded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookChannel(Channel, Protocol):
    """A channel reached over HTTP: it adds its routes to the app and runs turns after acknowledging."""

    def install(self, app: FastAPI) -> None: ...

    def attach(self, handle: Handler, people: People) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class BackgroundTurns:
    """Runs turns after the platform has been acknowledged, and waits for them on shutdown.

    At most `turns_at_once` turns run together (the rest wait in line), so a burst of webhooks
    never crowds out the event loop that acknowledges them; delivery happens outside that limit.
    Acks come first: while webhooks keep arriving (gaps under `quiet_s`), the next turn waits, at
    most until its own webhook is `wait_at_most_s` old; turns start in the order they arrived.
    """

    def __init__(
        self,
        turns_at_once: int | None = None,
        quiet_s: float = QUIET_S,
        wait_at_most_s: float = WAIT_AT_MOST_S,
        grace_s: float = 30.0,
    ) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._grace_s = grace_s
        self._slots = asyncio.Semaphore(turns_at_once) if turns_at_once else None
        self._quiet_s = quiet_s
        self._wait_at_most_s = wait_at_most_s
        self._in_order = asyncio.Lock()
        self._last_arrival = 0.0

    def run(self, handle: Handler, inbound: Inbound, deliver: Deliver) -> None:
        """Handle `inbound` in the background and deliver the reply (nothing for a duplicate)."""
        self._last_arrival = time.monotonic()
        start_by = self._last_arrival + self._wait_at_most_s
        task = asyncio.create_task(self._turn(handle, inbound, deliver, start_by))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _turn(self, handle: Handler, inbound: Inbound, deliver: Deliver, start_by: float) -> None:
        try:
            async with self._slots or nullcontext():
                await self._after_acks(start_by)
                reply = await handle(inbound)
            if reply is not None:
                await deliver(reply)
        except Exception:
            log.exception("background turn on %s failed", inbound.key.channel)

    async def _after_acks(self, start_by: float) -> None:
        """Return once no webhook has arrived for `quiet_s`, or at `start_by`; callers pass in arrival order."""
        async with self._in_order:
            # Not a poll: each sleep ends exactly when the quiet gap would, unless another webhook came meanwhile.
            while (now := time.monotonic()) < start_by and (idle := now - self._last_arrival) < self._quiet_s:  # noqa: ASYNC110
                await asyncio.sleep(min(self._quiet_s - idle, start_by - now))

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for running turns to finish (cancelled after the shutdown grace, `grace_s`)."""
        if not self._tasks:
            return
        _, running = await asyncio.wait(set(self._tasks), timeout=self._grace_s)
        for task in running:
            task.cancel()
