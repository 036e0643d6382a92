"""Finding shows: search the catalogue of tour dates and show an artist's whole tour."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from langchain.tools import ToolRuntime
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assistant.context import TurnContext
from assistant.messages import Button
from assistant.models import Artist, Event, Follow, Offer, Person, TourChange, Venue
from assistant.planner.slots import NEAR_ME
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import cheapest_tickets, describe_when, event_line, log_event, money, parse_day, resolve, upcoming
from tools.event_index import artist_named, similar_events

SHOWN = 8


def _where_phrase(city: str | None, country: str | None, region: str | None, venue: str | None) -> str:
    place = venue or city or country or region
    return f" at {place}" if venue else (f" in {place}" if place else "")


def shows_like(
    ctx: TurnContext,
    like: str,
    city: str | None,
    country: str | None,
    region: str | None,
    start: date | None,
    end: date | None,
    notes: list[str],
) -> ToolAnswer:
    """Upcoming shows closest in style to `like`, in the place and dates asked, most similar first."""
    with ctx.services.db.session() as session:
        found = similar_events(session, ctx, like, city, country, region, start, end, k=SHOWN)
        where = _where_phrase(city, country, region, None)
        when = f" between {start:%-d %b} and {end:%-d %b %Y}" if start and end else ""
        if not found and (start or end):
            found = similar_events(session, ctx, like, city, country, region, None, None, k=SHOWN)
            if found:
                notes.append(f"Nothing like {like}{where}{when} — here is the closest in style at other times.")
                when = ""
        prices = cheapest_tickets(session, [e.id for e, _ in found])
        if not found:
            return ToolAnswer(
                "\n".join([*notes, f"I couldn't find upcoming shows like {like}{where}{when}."]),
                buttons=[Button("All upcoming shows" + where, f"shows{where}")],
                data={"events": []},
            )
        lines = [*notes, f"Shows like **{like}**{where}{when}, closest in style first:"]
        lines += [
            event_line(e, prices.get(e.id), ctx.caller.currency).replace(
                " · ", f" · {e.artist.name} ({e.artist.genre}) · ", 1
            )
            for e, _ in found
        ]
        named = artist_named(ctx, like)
        tours = list(dict.fromkeys([*(e.artist.name for e, _ in found[:2]), *([named] if named else [])]))
        return ToolAnswer(
            "\n".join(lines),
            buttons=[Button(f"{name} tour", f"show me the {name} tour") for name in tours],
            data={"events": [e.id for e, _ in found], "like": like},
        )


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
        "something like Arctic Monkeys in Berlin",
        "bands similar to Foo Fighters in June",
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
    like: str | None = None,
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
        like: Shows in the style of this artist or description, e.g. "Arctic Monkeys" or "heavy guitar music".
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

    if like and like.strip():
        return shows_like(ctx, like.strip(), city_name, country_name, region_name, start, end, notes)
    query = upcoming(now)
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
    with ctx.services.db.write_session() as session:
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
        "datas da turnê dos Coldplay",
        "where is Kendrick Lamar touring",
        "cuándo toca Shakira cerca de mí",
        "Tourdaten von Rammstein",
        "dates de la tournée de Dua Lipa",
        "when is she playing near me",
        "when is he near me",
        "when is she near me?",
        "is she coming anywhere near me",
        "any dates near me",
        "nearest show to me",
        "is Coldplay coming near me",
        "closest Taylor Swift show to me",
        "upcoming dates for Arctic Monkeys",
    ),
)
def get_tour(runtime: ToolRuntime[Any, Any], artist: str, near: str | None = None) -> ToolAnswer:
    """Show every upcoming date of one artist's tour, nearest to the person's home city first when known.

    With a home city (or `near`) it also suggests the three best dates by total trip cost and travel time.

    Args:
        artist: Artist name as the person wrote it, e.g. "Taylor Swift".
        near: A city to sort by instead of the person's home city.
    """
    ctx = turn_context(runtime)
    name = resolve(ctx, "artist", artist)
    if name is None:
        raise UserFacingError("Which artist's tour would you like to see?")
    near_city = resolve(ctx, "city", near) or ctx.caller.home_city
    now = ctx.services.clock.now()
    with ctx.services.db.write_session() as session:
        events = list(session.scalars(upcoming(now).where(Artist.name == name)).unique())
        prices = cheapest_tickets(session, [e.id for e in events])
        home = session.scalars(select(Venue).where(Venue.city == near_city)).first() if near_city else None
        suggestions = best_dates(session, events, home, prices) if home is not None else []
        fans = fan_count(session, name)
    if not events:
        return ToolAnswer(
            f"**{name}** has no upcoming dates in Roadie's catalogue right now.",
            buttons=[Button(f"Follow {name}", f"follow {name}")],
            data={"events": []},
        )
    tour = events[0].tour_name
    lines = [f"**{name}** — *{tour}*: {len(events)} upcoming date{'s' if len(events) != 1 else ''}."]
    if fans > 1:
        lines[0] += f" {fans:,} Roadie fans follow this tour."
    if home is not None:
        nearest = sorted(
            events, key=lambda e: _distance_km(home.latitude, home.longitude, e.venue.latitude, e.venue.longitude)
        )[:3]
        lines.append(f"Nearest to {home.city}:")
        lines += [event_line(e, prices.get(e.id), ctx.caller.currency) for e in nearest]
        if suggestions:
            lines.append(f"Best trips from {home.city} (tickets + return flight, per person):")
            lines += [
                f"- **{describe_when(e)}** · {e.venue.city} · about {money(ctx, cost)}"
                + (f", {hours:.1f} h flight" if hours else " · no flight needed")
                for e, cost, hours in suggestions
            ]
        lines.append("All dates:")
    elif ctx.message and NEAR_ME.search(ctx.message):
        lines.append('Tell me which city you live in ("I live in London") and I\'ll put the nearest dates first.')
    lines += [event_line(e, prices.get(e.id), ctx.caller.currency) for e in events]
    data: dict[str, Any] = {
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
    if suggestions and home is not None:
        best = suggestions[0][0]
        buttons.insert(
            0, Button(f"Plan {best.venue.city}", f"plan a trip to {name} in {best.venue.city} from {home.city}")
        )
    if home is None and ctx.message and NEAR_ME.search(ctx.message):
        data.update(needs="home_city", tool="get_tour", args={"artist": name})
    return ToolAnswer("\n".join(lines), buttons=buttons, data=data)


def best_dates(
    session: Session, events: list[Event], home: Venue, prices: dict[int, tuple[int, str]]
) -> list[tuple[Event, int, float]]:
    """The three dates with the lowest trip cost per person from `home` (ticket + return flight), with flight hours."""
    airports = set(session.scalars(select(Venue.airport).where(Venue.city == home.city)))
    scored: list[tuple[float, Event, int, float]] = []
    for event in events:
        ticket = prices.get(event.id)
        if ticket is None:
            continue
        if event.venue.city == home.city:
            scored.append((ticket[0], event, ticket[0], 0.0))
            continue
        flights = session.execute(
            select(Offer.price_minor, Offer.departs_at, Offer.arrives_at).where(
                Offer.kind == "flight",
                Offer.event_id == event.id,
                Offer.available > 0,
                Offer.origin.in_(airports) | Offer.destination.in_(airports),
            )
        ).all()
        out = [f for f in flights if f.arrives_at is not None]
        if len(out) < 2:
            continue
        fare = sum(sorted(f.price_minor for f in out)[:2])
        hours = min((f.arrives_at - f.departs_at).total_seconds() / 3600 for f in out if f.departs_at)
        cost = ticket[0] + fare
        scored.append((cost * (1 + hours / 24), event, cost, hours))
    scored.sort(key=lambda s: s[0])
    return [(event, cost, hours) for _, event, cost, hours in scored[:3]]


def fan_count(session: Session, artist: str) -> int:
    """How many Roadie users follow this artist."""
    return int(session.scalar(select(func.count()).select_from(Follow).join(Artist).where(Artist.name == artist)) or 0)


def record_tour_change(session: Session, event: Event, kind: str, detail: dict[str, Any], now: datetime) -> int:
    """Note a tour date announced, moved or cancelled, and queue the followers' alerts in the same transaction."""
    from tools.alerts import alert_followers

    change = TourChange(event_id=event.id, artist_id=event.artist_id, kind=kind, detail=detail, created_at=now)
    session.add(change)
    session.flush()
    return alert_followers(session, change, now).queued


def _fans_going_line(session: Session, ctx_person: int, artist_id: int) -> str:
    """Opted-in fans of the artist (first names only), shown only to someone who opted in too."""
    me = session.get(Person, ctx_person)
    if me is None or not me.community_opt_in:
        return ""
    names = session.scalars(
        select(Person.display_name)
        .join(Follow, Follow.person_id == Person.id)
        .where(Follow.artist_id == artist_id, Person.community_opt_in.is_(True), Person.id != ctx_person)
        .order_by(Person.id)
        .limit(5)
    ).all()
    return ("Fans who'd like to meet up: " + ", ".join(n.split()[0] for n in names if n) + ".") if names else ""


@roadie_tool(
    summary="follow artists to hear about new dates",
    write=True,
    examples=(
        "follow Taylor Swift",
        "follow Coldplay",
        "let me know when Coldplay announce new dates",
        "notify me about Metallica tour dates",
        "keep me posted on Billie Eilish",
        "track the Dua Lipa tour",
        "alert me when Adele adds shows",
        "subscribe to Bad Bunny",
        "I want updates on Rammstein",
        "tell me when Beyoncé tours Europe",
        "sigue a Shakira",
        "Rammstein folgen",
        "suivre Dua Lipa",
        "ping me if Metallica add more shows",
        "tell me when Coldplay announces more dates",
        "follow her",
        "follow them",
        "yes follow them so I get updates",
        "avísame cuando Shakira anuncie fechas",
        "sag Bescheid wenn Metallica neue Konzerte ankündigen",
        "préviens-moi des nouvelles dates de Coldplay",
        "me avise quando Coldplay anunciar shows",
        "quiero seguir a Karol G",
    ),
)
def follow_artist(runtime: ToolRuntime[Any, Any], artist: str) -> ToolAnswer:
    """Follow an artist: the person hears about new tour dates, changes and price drops.

    Args:
        artist: Artist name as the person wrote it, e.g. "Taylor Swift".
    """
    ctx = turn_context(runtime)
    name = resolve(ctx, "artist", artist)
    if name is None:
        raise UserFacingError("Which artist would you like to follow?")
    now = ctx.services.clock.now()
    with ctx.services.db.write_session() as session:
        row = session.scalars(select(Artist).where(Artist.name == name)).one()
        already = session.scalars(
            select(Follow).where(Follow.person_id == ctx.caller.person_id, Follow.artist_id == row.id)
        ).first()
        if already is None:
            session.add(Follow(person_id=ctx.caller.person_id, artist_id=row.id, created_at=now))
            session.flush()
        fans = fan_count(session, name)
        next_dates = list(session.scalars(upcoming(now).where(Artist.name == name).limit(1)).unique())
        meet = _fans_going_line(session, ctx.caller.person_id, row.id)
    first = (
        f"You're already following **{name}**."
        if already
        else f"You're now following **{name}** — I'll tell you about new dates, changes and price drops."
    )
    lines = [first]
    if fans > 1:
        lines.append(f"{fans:,} Roadie fans follow {name}.")
    if next_dates:
        e = next_dates[0]
        lines.append(f"Next date: {describe_when(e)} at {e.venue.name}, {e.venue.city}.")
    if meet:
        lines.append(meet)
    buttons = [Button("Dates near me", f"when is {name} near me?"), Button("My follows", "who do I follow?")]
    return ToolAnswer(" ".join(lines), buttons=buttons, data={"artist": name, "following": True})


@roadie_tool(
    summary="stop following an artist",
    write=True,
    examples=(
        "unfollow Coldplay",
        "stop following Taylor Swift",
        "no more alerts about Metallica",
        "I don't care about Ed Sheeran anymore",
        "remove Adele from my follows",
        "unsubscribe from Bad Bunny updates",
        "dejar de seguir a Shakira",
        "Rammstein nicht mehr folgen",
        "I'm over Coldplay, remove them",
        "take Metallica off my list",
        "no more notifications about Adele",
        "stop sending me Beyoncé updates",
        "ya no sigo a Bad Bunny",
        "Coldplay entfolgen",
        "ne plus suivre Metallica",
        "deixar de seguir o Ed Sheeran",
    ),
)
def unfollow_artist(runtime: ToolRuntime[Any, Any], artist: str) -> ToolAnswer:
    """Stop following an artist (no more alerts about them).

    Args:
        artist: Artist name as the person wrote it.
    """
    ctx = turn_context(runtime)
    name = resolve(ctx, "artist", artist)
    if name is None:
        raise UserFacingError("Which artist should I stop following?")
    with ctx.services.db.write_session() as session:
        row = session.scalars(select(Artist).where(Artist.name == name)).one()
        follow = session.scalars(
            select(Follow).where(Follow.person_id == ctx.caller.person_id, Follow.artist_id == row.id)
        ).first()
        if follow is None:
            return ToolAnswer(f"You weren't following **{name}**, so nothing changed.", data={"artist": name})
        session.delete(follow)
    return ToolAnswer(
        f"Done — you no longer follow **{name}** and won't get alerts about them.",
        buttons=[Button(f"Follow {name} again", f"follow {name}")],
        data={"artist": name, "following": False},
    )


@roadie_tool(
    summary="list the artists you follow",
    examples=(
        "who do I follow?",
        "my follows",
        "which artists am I following",
        "list my artists",
        "show my followed artists",
        "what am I subscribed to",
        "a quién sigo",
        "wem folge ich",
        "quels artistes je suis",
        "quem eu sigo",
        "which bands am I tracking",
    ),
)
def list_following(runtime: ToolRuntime[Any, Any]) -> ToolAnswer:
    """List the artists the person follows, with each one's next date."""
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    with ctx.services.db.write_session() as session:
        artists = list(
            session.scalars(
                select(Artist)
                .join(Follow, Follow.artist_id == Artist.id)
                .where(Follow.person_id == ctx.caller.person_id)
                .order_by(Artist.name)
            )
        )
        lines = []
        for artist in artists:
            nxt = session.scalars(upcoming(now).where(Artist.id == artist.id).limit(1)).first()
            when = f" · next: {describe_when(nxt)}, {nxt.venue.city}" if nxt else " · no upcoming dates"
            lines.append(f"- **{artist.name}**{when}")
    if not artists:
        return ToolAnswer(
            'You don\'t follow anyone yet. Say "follow" and an artist, e.g. "follow Coldplay".',
            buttons=[Button("Follow Coldplay", "follow Coldplay")],
            data={"artists": []},
        )
    return ToolAnswer(
        f"You follow {len(artists)} artist{'s' if len(artists) != 1 else ''}:\n" + "\n".join(lines),
        buttons=[Button(f"{a.name} tour", f"show me the {a.name} tour") for a in artists[:3]],
        data={"artists": [a.name for a in artists]},
    )
