"""The small interface every channel offers, and the callback it is given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from assistant.messages import Inbound, Reply

Handler = Callable[[Inbound], Awaitable[Reply | None]]


class Channel(Protocol):
    """A platform adapter: composed with the core's `handle`, it can also send proactively."""

    name: str

    async def send(self, address: str, reply: Reply) -> None: ...
