"""Slot extraction: the artists, places, genres and dates a message names, ready to become tool arguments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from assistant.entities import EntityIndex, Mention, normalise
from assistant.planner.dates import MONTHS, DateParser

GENRES = {
    "rock": "rock",
    "pop": "pop",
    "metal": "metal",
    "heavy metal": "metal",
    "reggaeton": "reggaeton",
    "hip hop": "hip hop",
    "hiphop": "hip hop",
    "rap": "hip hop",
    "r&b": "r&b",
    "rnb": "r&b",
    "indie": "indie",
    "latin": "latin",
    "soul": "soul",
    "funk": "funk",
    "dance": "dance",
}
LOCATION_SLOTS = ("city", "country", "region", "venue")
DATE_SLOTS = ("date_from", "date_to")
# Words that carry no request of their own: a message made only of these plus slots is a follow-up.
FILLER = {
    "what",
    "about",
    "how",
    "and",
    "in",
    "on",
    "at",
    "the",
    "for",
    "instead",
    "then",
    "no",
    "nope",
    "i",
    "meant",
    "mean",
    "sorry",
    "actually",
    "ok",
    "okay",
    "whats",
    "there",
    "any",
    "also",
    "only",
    "just",
    "maybe",
    "or",
    "please",
    "pls",
    "plz",
    "what's",
    "y",
    "et",
    "und",
    "e",
    "en",
    "im",
    "a",
    "oh",
    "hmm",
    "well",
    "rather",
    "try",
    "one",
    "ones",
    "those",
    "them",
    "shows",
    "show",
    "dates",
    "concerts",
    "gigs",
    "near",
    "around",
    "same",
    "but",
    "yes",
    "yeah",
    "wait",
    "like",
    "is",
    "it",
    "que",
    "tal",
    "wie",
    "ist",
    "mit",
    "pour",
    "avec",
    "do",
    "of",
    "to",
    "during",
    "next",
    "this",
    "month",
    "week",
    "weekend",
    "year",
    "2026",
    "2027",
    "2028",
    "anything",
}
# A capitalised place after "in"/"at" that the catalogue does not know: the tool says so.
UNKNOWN_PLACE = re.compile(r"\b(?:in|at|near)\s+([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){0,2})")
# Words that open a follow-up ("what about Berlin?", "and in May?", "no, I meant Manchester").
FOLLOW_UP_CUES = {
    "what",
    "whats",
    "how",
    "and",
    "no",
    "nope",
    "actually",
    "instead",
    "only",
    "then",
    "or",
    "sorry",
    "i",
    "y",
    "und",
    "et",
    "e",
    "rather",
    "but",
    "same",
    "also",
    "ok",
    "okay",
    "try",
}
PREPOSITIONS = {"in", "on", "at", "for", "during", "near", "around", "en", "im", "a"}
UNKNOWN_ARTIST = re.compile(
    r"\b(?:see|find|any|search(?:ing)?(?: for)?|is|are|when is|where is|does|do|love|want to see|looking for)\s+"
    r"((?:[\w'&.!-]+\s?){1,4}?)\s*(?:concerts?|shows?|gigs?|tour(?:ing)?|tickets?|playing|live|dates?)\b",
    re.IGNORECASE,
)
NOT_NAMES = FILLER | {
    "me",
    "us",
    "some",
    "good",
    "cool",
    "cheap",
    "big",
    "upcoming",
    "all",
    "more",
    "other",
    "new",
    "local",
    "great",
    "best",
    "their",
    "his",
    "her",
    "she",
    "he",
    "they",
    "you",
    "your",
    "my",
    "we",
    "there",
    "any",
    "the",
    "a",
    "these",
    "that",
    "free",
    "outdoor",
    "stadium",
    "arena",
    "music",
}


@dataclass
class Slots:
    """What a message names: canonical values by slot, plus any words the index did not recognise."""

    values: dict[str, Any] = field(default_factory=dict)
    mentions: list[Mention] = field(default_factory=list)
    date_text: str = ""
    residual: list[str] = field(default_factory=list)

    @property
    def is_bare(self) -> bool:
        """True for a follow-up: slots and filler led by a cue ("what about…"), or one bare slot ("Berlin?")."""
        if not self.values or not all(w in FILLER for w in self.residual):
            return False
        if self.residual and self.residual[0] in FOLLOW_UP_CUES:
            return True
        kinds = {"date" if k in DATE_SLOTS else k for k in self.values}
        return len(kinds) == 1 and all(w in PREPOSITIONS for w in self.residual)


class SlotExtractor:
    """Reads slots from text using the entity index and the date parser."""

    def __init__(self, dates: DateParser | None = None) -> None:
        self._dates = dates or DateParser()

    def extract(self, text: str, index: EntityIndex, today: date) -> Slots:
        """All slots in `text`; later mentions of a kind do not override earlier ones."""
        slots = Slots()
        mentions = index.find(text)
        slots.mentions = mentions
        for mention in mentions:
            slots.values.setdefault(mention.kind, mention.value)
        if "artist" not in slots.values:
            unknown = UNKNOWN_ARTIST.search(text)
            if unknown:
                name = unknown.group(1).strip(" .!?")
                inside = any(m.start >= unknown.start(1) and m.end <= unknown.end(1) + 1 for m in mentions)
                words = normalise(name).split()
                if words and not inside and not any(w in NOT_NAMES or w in GENRES for w in words):
                    slots.values["artist"] = name
        spans = [(m.start, m.end) for m in mentions]
        found = self._dates.parse(text, today)
        if found is not None:
            slots.values["date_from"] = found.start.isoformat()
            slots.values["date_to"] = found.end.isoformat()
            slots.date_text = found.text
        elif bad := self._dates.impossible(text):
            slots.values["date_from"] = bad  # the tool answers that it cannot read this date
            slots.date_text = bad
        if not any(k in slots.values for k in LOCATION_SLOTS):
            place = UNKNOWN_PLACE.search(text)
            if place and not any(m.start <= place.start(1) < m.end for m in mentions):
                words = normalise(place.group(1)).split()
                if words and not any(w in NOT_NAMES or w in MONTHS or w in GENRES for w in words):
                    slots.values["city"] = place.group(1)
        low = normalise(text)
        for word, genre in GENRES.items():
            if re.search(rf"\b{re.escape(word)}\b", low):
                slots.values.setdefault("genre", genre)
                break
        remaining = "".join(" " if any(a <= i < b for a, b in spans) else c for i, c in enumerate(text))
        words = normalise(remaining).split()
        date_words = set(normalise(found.text).split()) if found else set()
        slots.residual = [w for w in words if w not in date_words and w not in GENRES]
        return slots
