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
    """One verified message from a person; `message_id` is the platform's id, used to dedupe.

    `in_group` is true in a group chat or channel; channels forward only the group messages
    addressed to Roadie (a mention, a command, a reply to it).
    """

    key: ConversationKey
    text: str
    message_id: str = ""
    display_name: str = ""
    role: Role = "traveller"
    in_group: bool = False
    replayable: bool = False  # the sender repeats a message it got no answer to: a repeat gets the first answer


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


@dataclass(frozen=True)
class Poll:
    """A vote to run in the chat: native where the platform has polls, buttons or numbers elsewhere.

    A vote comes back as the person's message `vote <poll_id> <option number, from 1>`.
    """

    poll_id: str
    question: str
    options: tuple[str, ...]


@dataclass
class Reply:
    """What Roadie answers: Markdown text plus optional buttons, a poll and an image.

    `image` is either an absolute URL or a path under `/media/` that Roadie's app serves
    (the file lives in `{data_dir}/media/`); channels upload it or link to it. `document` is a
    file to hand over the same way (a data export): channels that can send files attach it,
    the others rely on the link the text already carries.
    """

    text: str
    buttons: list[Button] = field(default_factory=list)
    image: str | None = None
    document: str | None = None
    poll: Poll | None = None
    closes_poll: str | None = None  # the poll this message announces closed: channels stop their native poll
    tool_calls: list[ToolCall] = field(default_factory=list)
