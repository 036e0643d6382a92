"""A fake chat platform to talk to Roadie in tests, and a channel that records what it was sent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from assistant.messages import ConversationKey, Inbound, Reply, Role
from channels.base import Handler


@dataclass
class FakeChannel:
    """Say things as a person and get Roadie's replies; proactive sends are kept in `sent`."""

    handle: Handler
    name: str = "fake"
    sent: list[tuple[str, Reply]] = field(default_factory=list)

    async def say(
        self,
        text: str,
        user: str = "ana",
        role: Role = "traveller",
        chat: str | None = None,
        message_id: str | None = None,
        in_group: bool = False,
    ) -> Reply | None:
        """Send `text` as `user` and return Roadie's reply (None when dropped as a duplicate)."""
        key = ConversationKey(channel=self.name, chat_id=chat or user, user_id=user)
        mid = message_id if message_id is not None else uuid.uuid4().hex
        inbound = Inbound(key=key, text=text, message_id=mid, display_name=user, role=role, in_group=in_group)
        return await self.handle(inbound)

    async def send(self, address: str, reply: Reply) -> None:
        self.sent.append((address, reply))
