"""Shows by meaning: upcoming events in the vector store, described by artist, genre, venue and city."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from assistant.catalogue import ARTISTS
from assistant.context import TurnContext
from assistant.models import Event
from knowledge.library import Library
from knowledge.store import PUBLIC
from tools.common import local_time, upcoming

PROFILES = {a.name: a for a in ARTISTS}
_indexed: dict[int, set[int]] = {}  # library id → event ids already in its store
_lock = threading.Lock()


def style(event: Event) -> str:
    """The artist's sound in a few words: genre and description."""
    profile = PROFILES.get(event.artist.name)
    return f"{event.artist.name} — {event.artist.genre}. {profile.description if profile else ''}".strip()


def describe(event: Event) -> str:
    """What a show is like, in words a question can match: the sound, the venue, the city and the month."""
    when = local_time(event.starts_at, event.venue.timezone)
    venue = event.venue
    return f"{style(event)} Live at {venue.name}, {venue.city}, {venue.country} ({venue.region}), {when:%B %Y}."


def like_text(ctx: TurnContext, like: str) -> str:
    """The style asked for: a known artist's genre and description, or the person's own words."""
    found = artist_named(ctx, like)
    profile = PROFILES.get(found) if found else None
    if profile is None:
        return like
    return f"music like {profile.name}: {profile.genre}. {profile.description}"


def artist_named(ctx: TurnContext, like: str) -> str | None:
    """The catalogue artist `like` names, if it names one."""
    return ctx.services.entities.index().lookup("artist", like)


def ensure_events(session: Session, library: Library, now: datetime) -> None:
    """Put every upcoming show not yet in the store into it (once per process, then only new ones)."""
    with _lock:
        known = _indexed.setdefault(id(library), set())
        fresh = [e for e in session.scalars(upcoming(now)).unique() if e.id not in known]
        for event in fresh:
            library.put(
                f"event/{event.id}",
                f"# {event.artist.name} in {event.venue.city}\n\n{describe(event)}",
                group=PUBLIC,
                kind="event",
                extra={
                    "event_id": event.id,
                    "artist": event.artist.name,
                    "city": event.venue.city,
                    "country": event.venue.country,
                    "region": event.venue.region,
                    "starts": int(event.starts_at.timestamp()),
                },
            )
            known.add(event.id)


def similar_events(
    session: Session,
    ctx: TurnContext,
    like: str,
    city: str | None,
    country: str | None,
    region: str | None,
    start: date | None,
    end: date | None,
    k: int = 8,
) -> list[tuple[Event, float]]:
    """Upcoming shows most like `like`, filtered by place and dates inside the store query."""
    library = ctx.services.library
    if library is None:
        return []
    now = ctx.services.clock.now()
    ensure_events(session, library, now)
    where: dict[str, object] = {}
    for key, value in (("city", city), ("country", country), ("region", region)):
        if value:
            where[key] = value
    low = datetime.combine(start, time.min, UTC) - timedelta(hours=14) if start else now
    bounds = {"$gte": int(max(low, now).timestamp())}
    if end:
        bounds["$lt"] = int(
            (datetime.combine(end + timedelta(days=1), time.min, UTC) + timedelta(hours=14)).timestamp()
        )
    where["starts"] = bounds
    named = artist_named(ctx, like)
    if named:
        where["artist"] = {"$ne": named}  # "something like Bad Bunny" means other artists in that style
    wanted = library.embed(like_text(ctx, like))
    hits = library.store.query(wanted, k * 3, kind="event", where=where)
    shows = []
    for hit in hits:
        event = session.get(Event, int(hit.chunk.metadata["event_id"]))
        if event is None or event.status != "scheduled":
            continue
        day = local_time(event.starts_at, event.venue.timezone).date()
        if (start and day < start) or (end and day > end):
            continue  # the store's bounds are generous for time zones; the local date decides
        shows.append((event, float(library.embed(style(event)) @ wanted)))  # ranked by sound alone
    return sorted(shows, key=lambda pair: -pair[1])[:k]
