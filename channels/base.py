"""The small interface every channel offers, the callback it is given, and turns run after an ack."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from fastapi import FastAPI

from assistant.messages import Inbound, Reply

Handler = Callable[[Inbound], Awaitable[Reply | None]]
Deliver = Callable[[Reply], Awaitable[None]]
log = logging.getLogger(__name__)


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
    """

    def __init__(self, turns_at_once: int | None = None) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(turns_at_once) if turns_at_once else None

    def run(self, handle: Handler, inbound: Inbound, deliver: Deliver) -> None:
        """Handle `inbound` in the background and deliver the reply (nothing for a duplicate)."""
        task = asyncio.create_task(self._turn(handle, inbound, deliver))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _turn(self, handle: Handler, inbound: Inbound, deliver: Deliver) -> None:
        try:
            if self._slots is None:
                reply = await handle(inbound)
            else:
                async with self._slots:
                    reply = await handle(inbound)
            if reply is not None:
                await deliver(reply)
        except Exception:
            log.exception("background turn on %s failed", inbound.key.channel)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, grace_s: float = 30.0) -> None:
        """Wait for running turns to finish (cancelled after `grace_s` seconds)."""
        if not self._tasks:
            return
        _, running = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in running:
            task.cancel()
