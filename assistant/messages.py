"""The neutral message model every channel speaks: who said what, and what Roadie answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["traveller", "staff"]


@dataclass(frozen=True)
class ConversationKey:
    """Identifies one conversation: a chat on a channel, optionally one user and thread in it."""

    channel: str
    chat_id: str
    user_id: str = ""
    thread_id: str = ""

    def thread(self) -> str:
        """A stable string id, used for conversation memory and locks."""
        return ":".join((self.channel, self.chat_id, self.user_id, self.thread_id))


@dataclass(frozen=True)
class Inbound:
    """One verified message from a person; `message_id` is the platform's id, used to dedupe."""

    key: ConversationKey
    text: str
    message_id: str = ""
    display_name: str = ""
    role: Role = "traveller"


@dataclass(frozen=True)
class Button:
    """A quick reply: `label` is shown, `value` is sent back as the person's next message."""

    label: str
    value: str


@dataclass(frozen=True)
class ToolCall:
    """A tool the agent called during a turn, with the arguments it passed."""

    name: str
    args: dict[str, Any]


@dataclass
class Reply:
    """What Roadie answers: Markdown text plus optional buttons and an image URL."""

    text: str
    buttons: list[Button] = field(default_factory=list)
    image: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
