"""Which of the shows Roadie just listed a person means by "the second one", "number 3" or "the last one"."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage

_ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
    "last": -1,
    "primero": 0,
    "primera": 0,
    "segundo": 1,
    "segunda": 1,
    "tercero": 2,
    "tercera": 2,
    "erste": 0,
    "ersten": 0,
    "zweite": 1,
    "zweiten": 1,
    "dritte": 2,
    "dritten": 2,
    "premier": 0,
    "première": 0,
    "deuxième": 1,
    "troisième": 2,
    "terceiro": 2,
}
ORDINAL = re.compile(
    r"\b(?:the\s+|el\s+|la\s+|die\s+|den\s+|le\s+|o\s+|a\s+)?("
    + "|".join(_ORDINALS)
    + r")\b(?:\s+(?:one|show|date|option|concert|gig))?"
    r"|\b(?:number|no\.?|option|#)\s*([1-9])\b",
    re.IGNORECASE,
)
# A pick means a trip when it says so (or when Roadie had asked which show to plan the trip to).
TRIP_WORDS = re.compile(
    r"\b(?:book|trip|plan|go|going|tickets?|quote|reserve|buy|get us|take|viaje|reise|voyage|viagem|reservar|buchen)\b",
    re.IGNORECASE,
)
MAX_WORDS = 14


def ordinal(text: str) -> int | None:
    """The list position a message points at (0-based, -1 for the last), or None."""
    if len(text.split()) > MAX_WORDS:
        return None
    found = ORDINAL.search(text)
    if found is None:
        return None
    return _ORDINALS[found.group(1).lower()] if found.group(1) else int(found.group(2)) - 1


def _previous_turn(messages: list[BaseMessage]) -> list[ToolMessage]:
    """The tool results of the turn before the latest message."""
    found: list[ToolMessage] = []
    for message in reversed(messages[:-1]):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, ToolMessage) and isinstance(message.artifact, dict):
            found.append(message)
    return found


def listed_show(messages: list[BaseMessage], position: int) -> dict[str, Any] | str | None:
    """The show at `position` of the list Roadie just gave: slots of a listed show, or the text of a choice button."""
    for message in _previous_turn(messages):
        artifact = message.artifact
        data = artifact.get("data") or {}
        events = [e for e in data.get("events") or [] if isinstance(e, dict)]
        if events and -len(events) <= position < len(events):
            event = events[position]
            day = datetime.fromisoformat(event["starts_at"]).date()
            return {  # a show's date in UTC may be the day after the local one: allow both
                "artist": event["artist"],
                "city": event["city"],
                "date_from": (day - timedelta(days=1)).isoformat(),
                "date_to": day.isoformat(),
            }
        choices = [b.get("value", "") for b in artifact.get("buttons") or [] if isinstance(b, dict)]
        if data.get("choices") and -len(choices) <= position < len(choices):
            return str(choices[position])
    return None
