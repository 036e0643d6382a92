"""Finds catalogue entities in free text (artists, venues, cities, countries, regions), typos included."""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import func, select

from assistant.catalogue import CITY_ALIASES, COUNTRY_ALIASES, REGION_ALIASES
from assistant.db import Database
from assistant.models import Artist, Venue

KINDS = ("artist", "venue", "city", "country", "region")
# Short aliases that are also everyday words: they count only when written as shown.
CASE_SENSITIVE = {"LA", "NY", "EU", "US", "AM", "Ed", "Bey", "Tay", "Dua", "Abel", "Karol", "Harry"}
STOP_WORDS = {
    "the",
    "in",
    "a",
    "an",
    "at",
    "on",
    "to",
    "for",
    "me",
    "my",
    "and",
    "or",
    "of",
    "is",
    "are",
    "any",
    "show",
    "shows",
    "concert",
    "concerts",
    "tour",
    "dates",
    "what",
    "about",
    "near",
    "find",
    "when",
    "where",
    "tickets",
    "ticket",
    "gig",
    "gigs",
    "live",
    "music",
    "playing",
    "with",
    "from",
    "this",
    "that",
    "next",
    "there",
    "how",
    "plan",
    "trip",
    "book",
    "all",
}


def normalise(text: str) -> str:
    """Lowercase, accents stripped, punctuation turned to spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace("’", "'").replace("'s ", " ")
    return re.sub(r"[^\w&]+", " ", text).strip()


@dataclass(frozen=True)
class Mention:
    """An entity found in text: its kind, canonical value, the words matched and how sure we are."""

    kind: str
    value: str
    start: int
    end: int
    surface: str
    score: float


@dataclass
class _Alias:
    kind: str
    value: str
    words: tuple[str, ...]
    case_sensitive: str | None


class EntityIndex:
    """Every name Roadie can recognise, built from the database plus known aliases."""

    def __init__(self, aliases: list[tuple[str, str, str]]) -> None:
        self._by_words: dict[tuple[str, ...], list[_Alias]] = {}
        self._fuzzy: dict[int, dict[str, _Alias]] = {}
        self.canonical: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for kind, surface, value in aliases:
            words = tuple(normalise(surface).split())
            if not words:
                continue
            alias = _Alias(kind, value, words, surface if surface in CASE_SENSITIVE else None)
            self._by_words.setdefault(words, []).append(alias)
            if alias.case_sensitive is None and len(" ".join(words)) >= 5:
                self._fuzzy.setdefault(len(words), {})[" ".join(words)] = alias
            if value not in self.canonical[kind]:
                self.canonical[kind].append(value)
        self.max_words = max((len(w) for w in self._by_words), default=1)

    @classmethod
    def from_database(cls, db: Database) -> EntityIndex:
        """Load artist names and aliases, venues, cities, countries and regions."""
        aliases: list[tuple[str, str, str]] = []
        with db.session() as session:
            for artist in session.scalars(select(Artist)):
                aliases.append(("artist", artist.name, artist.name))
                aliases.extend(("artist", alias, artist.name) for alias in artist.aliases)
            for venue in session.scalars(select(Venue)):
                aliases.append(("venue", venue.name, venue.name))
                short = re.sub(
                    r"\b(Stadium|Stadion|Arena|ArenA|Stade de|Estadio|Estádio da|Park)\b", "", venue.name
                ).strip()
                if short and short != venue.name and len(short) >= 4 and normalise(short) != normalise(venue.city):
                    aliases.append(("venue", short, venue.name))
                aliases.append(("city", venue.city, venue.city))
                aliases.append(("country", venue.country, venue.country))
                aliases.append(("region", venue.region, venue.region))
        known_cities = {v for k, _, v in aliases if k == "city"}
        for alias, city in CITY_ALIASES.items():
            if city in known_cities:
                aliases.append(("city", alias.upper() if len(alias) <= 2 else alias, city))
        aliases.extend(("country", alias, country) for alias, country in COUNTRY_ALIASES.items())
        aliases.extend(("region", alias, region) for alias, region in REGION_ALIASES.items())
        aliases += [("country", "US", "United States"), ("country", "USA", "United States"), ("region", "EU", "Europe")]
        return cls(aliases)

    def find(self, text: str) -> list[Mention]:
        """Mentions in `text`, longest match first, non-overlapping, in reading order."""
        tokens = [(m.group(), m.start(), m.end()) for m in re.finditer(r"[^\W_]+(?:[&'][^\W_]+)*", text)]
        words = [normalise(t[0]) for t in tokens]
        taken = [False] * len(tokens)
        found: list[Mention] = []
        for size in range(min(self.max_words, len(tokens)), 0, -1):
            for i in range(len(tokens) - size + 1):
                if any(taken[i : i + size]):
                    continue
                key = tuple(w for w in words[i : i + size])
                surface = text[tokens[i][1] : tokens[i + size - 1][2]]
                match = self._exact(key, surface) or self._fuzzy_match(key)
                if match is None:
                    continue
                alias, score = match
                found.append(Mention(alias.kind, alias.value, tokens[i][1], tokens[i + size - 1][2], surface, score))
                for j in range(i, i + size):
                    taken[j] = True
        return sorted(found, key=lambda m: m.start)

    def _exact(self, key: tuple[str, ...], surface: str) -> tuple[_Alias, float] | None:
        for alias in self._by_words.get(key, []):
            if alias.case_sensitive is None or alias.case_sensitive == surface:
                return alias, 100.0
        return None

    def _fuzzy_match(self, key: tuple[str, ...]) -> tuple[_Alias, float] | None:
        phrase = " ".join(key)
        if len(phrase) < 5 or all(w in STOP_WORDS for w in key) or key[0] in STOP_WORDS or key[-1] in STOP_WORDS:
            return None
        choices = self._fuzzy.get(len(key))
        if not choices:
            return None
        best = process.extractOne(phrase, choices.keys(), scorer=fuzz.ratio, score_cutoff=84)
        if best is None:
            return None
        return choices[best[0]], float(best[1])

    def lookup(self, kind: str, name: str) -> str | None:
        """The canonical name of `name` as a `kind`, tolerating case, accents and small typos."""
        for mention in self.find(name):
            if mention.kind == kind and mention.end - mention.start >= len(name.strip()) - 2:
                return mention.value
        return None

    def suggest(self, kind: str, name: str, limit: int = 3) -> list[str]:
        """The closest known names of `kind` to an unknown `name`, best first."""
        choices = {normalise(v): v for v in self.canonical.get(kind, [])}
        hits = process.extract(normalise(name), choices.keys(), scorer=fuzz.WRatio, limit=limit, score_cutoff=72)
        return [choices[hit[0]] for hit in hits]


class EntityCache:
    """Keeps one EntityIndex for the catalogue and rebuilds it when artists or venues change.

    The catalogue is looked at again at most every `recheck_s` seconds, so the planner and
    every tool of a turn share one index without a database round trip each.
    """

    def __init__(self, db: Database, recheck_s: float = 5.0) -> None:
        self._db = db
        self._recheck_s = recheck_s
        self._index: EntityIndex | None = None
        self._signature: tuple[int, int] | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def index(self) -> EntityIndex:
        """The current index; rebuilt when new artists or venues appeared since the last check."""
        with self._lock:
            if self._index is not None and time.monotonic() - self._checked_at < self._recheck_s:
                return self._index
            with self._db.session() as session:
                signature = (
                    session.scalar(select(func.max(Artist.id))) or 0,
                    session.scalar(select(func.max(Venue.id))) or 0,
                )
            if self._index is None or signature != self._signature:
                self._index = EntityIndex.from_database(self._db)
                self._signature = signature
            self._checked_at = time.monotonic()
            return self._index
