"""What a tool knows about the turn: the verified caller and the services it may use."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.clock import Clock
from assistant.db import Database
from assistant.entities import EntityCache
from assistant.messages import Role
from assistant.settings import Settings
from knowledge.library import Library


@dataclass(frozen=True)
class Caller:
    """The person behind this turn, from the verified channel request (never from model output)."""

    person_id: int
    role: Role
    channel: str
    conversation: str
    currency: str = "EUR"
    home_city: str | None = None
    display_name: str = ""
    chat: str = ""  # "channel:chat id": the chat this turn came from (a group chat is shared by its members)
    in_group: bool = False


@dataclass(frozen=True)
class Services:
    """Shared services handed to every tool: the database, the clock, settings and the entity index."""

    db: Database
    clock: Clock
    settings: Settings
    entities: EntityCache
    library: Library | None = None  # Roadie's own documents, for answers with a source


@dataclass(frozen=True)
class TurnContext:
    """LangChain runtime context for one turn: tools read it through `ToolRuntime.context`.

    `message` is the person's own words this turn, as the channel verified them: write tools
    read it to check that a confirmation really came from the person, not from the model.
    `asked` holds the confirmations Roadie asked for during this turn: the person has not seen
    them yet, so this turn's "yes" can't answer them.
    """

    caller: Caller
    services: Services
    message: str = ""
    asked: set[int] = field(default_factory=set, compare=False)
