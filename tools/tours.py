"""Finding shows: search the catalogue of tour dates and show an artist's whole tour."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from typing import Any

from langchain.tools import ToolRuntime
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from assistant.messages import Button
from assistant.models import Artist, Event, Venue
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import cheapest_tickets, event_line, log_event, parse_day, resolve

SHOWN = 8


def _upcoming(now: datetime) -> Select[Event]:
    return (
        select(Event)
        .join(Event.artist)
        .join(Event.venue)
        .options(joinedload(Event.artist), joinedload(Event.venue))
        .where(Event.starts_at >= now, Event.status == "scheduled")
        .order_by(Event.starts_at)
    )


def _where_phrase(city: str | None, country: str | None, region: str | None, venue: str | None) -> str:
    place = venue or city or country or region
    return f" at {place}" if venue else (f" in {place}" if place else "")


@roadie_tool(
    summary="find shows by artist, city, country or dates",
    examples=(
        "any Coldplay shows in Europe?",
        "find Metallica concerts",
        "what concerts are in Berlin in June",
        "is Taylor Swift playing in London",
        "shows in Lisbon next month",
        "gigs in Paris this summer",
        "I want to see Dua Lipa live",
        "where can I see Bad Bunny",
        "concerts near Madrid in May",
        "what's on at Wembley",
        "find me rock concerts in Germany",
        "any shows this weekend",
        "buscar conciertos de Shakira",
        "Konzerte in München",
        "concerts à Paris en juin",
        "shows do Coldplay em Lisboa",
        "who is playing in Tokyo",
        "Billie Eilish tickets",
        "looking for a concert in New York in March",
        "anything in Amsterdam next week",
    ),
)
def search_events(
    runtime: ToolRuntime[Any, Any],
    artist: str | None = None,
    city: str | None = None,
    country: str | None = None,
    region: str | None = None,
    venue: str | None = None,
    genre: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
) -> ToolAnswer:
    """Search upcoming concerts and shows in Roadie's catalogue.

    Use it whenever someone asks which shows exist, where or when an artist plays, or what is
    on in a place or period. Every argument is optional and they combine.

    Args:
        artist: Artist name as the person wrote it, e.g. "Coldplay".
        city: City name, e.g. "Berlin".
        country: Country name, e.g. "Germany".
        region: Region: Europe, North America, Latin America, Asia, Oceania or Middle East.
        venue: Venue name, e.g. "Wembley Stadium".
        genre: Music genre, e.g. "rock" or "reggaeton".
        date_from: First day to include, ISO format YYYY-MM-DD.
        date_to: Last day to include, ISO format YYYY-MM-DD.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    today = now.date()
    artist_name = resolve(ctx, "artist", artist)
    city_name = resolve(ctx, "city", city)
    country_name = resolve(ctx, "country", country)
    region_name = resolve(ctx, "region", region)
    venue_name = resolve(ctx, "venue", venue)
    start, end = parse_day(date_from, "the start date"), parse_day(date_to, "the end date")
    if start and end and end < start:
        start, end = end, start
    notes: list[str] = []
    if end and end < today:
        notes.append(f"{end:%-d %B %Y} is in the past, so here is what's coming up instead.")
        start = end = None
    elif start and start < today:
        start = today

    query = _upcoming(now)
    if artist_name:
        query = query.where(Artist.name == artist_name)
    if genre:
        query = query.where(func.lower(Artist.genre).contains(genre.strip().lower()))
    if venue_name:
        query = query.where(Venue.name == venue_name)
    if city_name:
        query = query.where(Venue.city == city_name)
    if country_name:
        query = query.where(Venue.country == country_name)
    if region_name:
        query = query.where(Venue.region == region_name)
    dated = query
    if start:
        dated = dated.where(Event.starts_at >= datetime.combine(start, time.min, UTC) - timedelta(hours=14))
    if end:
        dated = dated.where(
            Event.starts_at < datetime.combine(end + timedelta(days=1), time.min, UTC) + timedelta(hours=14)
        )

    who = f"**{artist_name}**" if artist_name else (f"{genre} " if genre else "") + "shows"
    where = _where_phrase(city_name, country_name, region_name, venue_name)
    when = (
        f" between {start:%-d %b} and {end:%-d %b %Y}"
        if start and end
        else (f" from {start:%-d %b %Y}" if start else (f" until {end:%-d %b %Y}" if end else ""))
    )
    with ctx.services.db.session() as session:
        events = list(session.scalars(dated).unique())
        if not events and (start or end):
            nearby = list(session.scalars(query).unique())
            if nearby:
                notes.append(f"No {who}{where}{when}. The nearest dates are:")
                events = nearby
                when = ""
        prices = cheapest_tickets(session, [e.id for e in events[:SHOWN]])
        log_event(
            session,
            ctx,
            "search",
            "search_events",
            {
                "artist": artist_name,
                "city": city_name,
                "country": country_name,
                "region": region_name,
                "results": len(events),
            },
        )

    currency = ctx.caller.currency
    if not events:
        text = f"I couldn't find any upcoming {who}{where}{when}."
        hint = [Button("Show all upcoming shows", "what shows are coming up?")]
        if artist_name:
            hint = [Button(f"Full {artist_name} tour", f"show me the {artist_name} tour")]
        return ToolAnswer("\n".join([*notes, text]), buttons=hint, data={"events": []})

    header = (
        notes[-1]
        if notes and notes[-1].endswith("are:")
        else (
            f"{who}{where}{when}: {len(events)} upcoming show{'s' if len(events) != 1 else ''}"
            + (f", here are the first {SHOWN}" if len(events) > SHOWN else "")
            + ":"
        )
    )
    lines = [n for n in notes if n != header] + [header[0].upper() + header[1:]]
    lines += [event_line(e, prices.get(e.id), currency) for e in events[:SHOWN]]
    buttons: list[Button] = []
    artists = {e.artist.name for e in events}
    if len(artists) == 1:
        only = next(iter(artists))
        buttons.append(Button(f"Full {only} tour", f"show me the {only} tour"))
    if not city_name and not venue_name and len({e.venue.city for e in events}) > 1:
        first_city = events[0].venue.city
        buttons.append(Button(f"Only {first_city}", f"what about {first_city}?"))
    data = {
        "events": [
            {
                "id": e.id,
                "artist": e.artist.name,
                "city": e.venue.city,
                "venue": e.venue.name,
                "starts_at": e.starts_at.isoformat(),
            }
            for e in events[:SHOWN]
        ]
    }
    return ToolAnswer("\n".join(lines), buttons=buttons, data=data)


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


@roadie_tool(
    summary="show an artist's whole tour",
    examples=(
        "show me the Taylor Swift tour",
        "Coldplay tour dates",
        "when is Ed Sheeran touring",
        "full tour schedule for Metallica",
        "where is Beyoncé playing this year",
        "all Adele dates",
        "list every Harry Styles show",
        "Rammstein world tour",
        "what's the Bad Bunny tour like",
        "gira de Karol G",
        "Tourdaten von Rammstein",
        "dates de la tournée de Dua Lipa",
        "when is she playing near me",
        "upcoming dates for Arctic Monkeys",
    ),
)
def get_tour(runtime: ToolRuntime[Any, Any], artist: str) -> ToolAnswer:
    """Show every upcoming date of one artist's tour, nearest to the person's home city first when known.

    Args:
        artist: Artist name as the person wrote it, e.g. "Taylor Swift".
    """
    ctx = turn_context(runtime)
    name = resolve(ctx, "artist", artist)
    if name is None:
        raise UserFacingError("Which artist's tour would you like to see?")
    now = ctx.services.clock.now()
    with ctx.services.db.session() as session:
        events = list(session.scalars(_upcoming(now).where(Artist.name == name)).unique())
        prices = cheapest_tickets(session, [e.id for e in events])
        home = None
        if ctx.caller.home_city:
            home = session.scalars(select(Venue).where(Venue.city == ctx.caller.home_city)).first()
    if not events:
        return ToolAnswer(
            f"**{name}** has no upcoming dates in Roadie's catalogue right now.",
            buttons=[Button(f"Follow {name}", f"follow {name}")],
            data={"events": []},
        )
    tour = events[0].tour_name
    lines = [f"**{name}** — *{tour}*: {len(events)} upcoming date{'s' if len(events) != 1 else ''}."]
    if home is not None:
        nearest = sorted(
            events, key=lambda e: _distance_km(home.latitude, home.longitude, e.venue.latitude, e.venue.longitude)
        )[:3]
        lines.append(f"Nearest to {home.city}:")
        lines += [event_line(e, prices.get(e.id), ctx.caller.currency) for e in nearest]
        lines.append("All dates:")
    lines += [event_line(e, prices.get(e.id), ctx.caller.currency) for e in events]
    data = {
        "events": [
            {
                "id": e.id,
                "artist": name,
                "city": e.venue.city,
                "venue": e.venue.name,
                "starts_at": e.starts_at.isoformat(),
            }
            for e in events
        ]
    }
    regions = sorted({e.venue.region for e in events})
    buttons = [Button(f"Only {r}", f"{name} shows in {r}") for r in regions[:3]] if len(regions) > 1 else []
    return ToolAnswer("\n".join(lines), buttons=buttons, data=data)
