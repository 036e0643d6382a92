"""Several shows in one trip: shows in date order, flights between the cities, hotel nights, conflicts and savings."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from langchain.tools import ToolRuntime
from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.context import TurnContext
from assistant.messages import Button
from assistant.models import Artist, Event, Offer, Venue
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import describe_when, local_time, money, parse_day, person, resolve, upcoming
from tools.trips import (
    CHECK_IN,
    CHECK_OUT,
    HOLD,
    Line,
    TripPlan,
    build_plan,
    check_travellers,
    city_venue,
    group_discount,
    needs_home,
    save_quote,
)

MAX_SHOWS = 5
CANDIDATES_PER_SHOW = 8
SHOW_LENGTH = timedelta(hours=3)  # a show is over this long after it starts
BEFORE_DOORS = timedelta(hours=2)  # land at least this long before doors open
TO_AIRPORT = timedelta(hours=2)  # leave the hotel this long before a flight
CLOCK = re.compile(r"\b\d\d:\d\d\b")


@dataclass(frozen=True)
class Wanted:
    """One show the person asked for: an artist, a city, or both."""

    artist: str | None
    cities: tuple[str, ...]

    def describe(self) -> str:
        where = " or ".join(self.cities)
        return " in ".join(p for p in (self.artist or "a show", where) if p)


@dataclass(frozen=True)
class Flight:
    """A flight offer with its times in the local time of each end."""

    offer: Offer
    departs: datetime
    arrives: datetime

    @classmethod
    def of(cls, offer: Offer | None, from_tz: str, to_tz: str) -> Flight | None:
        if offer is None or offer.departs_at is None or offer.arrives_at is None:
            return None
        return cls(offer, local_time(offer.departs_at, from_tz), local_time(offer.arrives_at, to_tz))


class Days:
    """A day-by-day itinerary being written: entries per local day, put in time order."""

    def __init__(self) -> None:
        self._days: dict[date, list[str]] = {}

    def add(self, day: date, text: str) -> None:
        self._days.setdefault(day, []).append(text)

    def lines(self) -> list[str]:
        return [
            f"- **{day:%a} {day.day} {day:%b}**: " + "; ".join(sorted(entries, key=_clock_time))
            for day, entries in sorted(self._days.items())
        ]


@dataclass
class MultiPlan(TripPlan):
    """A priced trip through several shows, before it is saved as a quote."""

    shows: list[Event] = field(default_factory=list)
    separate_minor: int | None = None  # what booking each show as its own trip would cost


def wanted_shows(ctx: TurnContext, artists: list[str], cities: list[str]) -> list[Wanted]:
    """The shows asked for: artists paired with cities in the order they were named, else one per artist or city."""
    names = list(dict.fromkeys(a for a in (resolve(ctx, "artist", a) for a in artists) if a))
    places = list(dict.fromkeys(c for c in (resolve(ctx, "city", c) for c in cities) if c))
    if len(names) >= 2 and len(places) == len(names):
        return [Wanted(a, (c,)) for a, c in zip(names, places, strict=True)]
    if len(names) >= 2:
        return [Wanted(a, tuple(places)) for a in names]
    if len(places) >= 2:
        return [Wanted(names[0] if names else None, (c,)) for c in places]
    return []


def candidates(session: Session, now: datetime, want: Wanted, start: date | None, end: date | None) -> list[Event]:
    """Upcoming shows matching `want` inside the dates, soonest first."""
    query = upcoming(now)
    if want.artist:
        query = query.where(Artist.name == want.artist)
    if want.cities:
        query = query.where(Venue.city.in_(want.cities))
    events = list(session.scalars(query).unique())
    if start or end:
        low = datetime.combine(start or now.date(), time.min, UTC) - timedelta(hours=14)
        high = datetime.combine((end or start or now.date()) + timedelta(days=1), time.min, UTC) + timedelta(hours=14)
        events = [e for e in events if low <= e.starts_at < high]
    return events[:CANDIDATES_PER_SHOW]


def show_day(event: Event) -> date:
    return local_time(event.starts_at, event.venue.timezone).date()


def choose(options: list[list[Event]]) -> tuple[list[Event], list[tuple[Event, Event]]]:
    """The shows to go to — one per wish, no two on the same night, the shortest trip — and any clashes left."""
    best: tuple[tuple[int, int, datetime], list[Event], list[tuple[Event, Event]]] | None = None
    for combo in itertools.islice(itertools.product(*options), 20_000):
        if len({e.id for e in combo}) < len(combo):
            continue
        ordered = sorted(combo, key=lambda e: e.starts_at)
        clashes = [(a, b) for a, b in itertools.pairwise(ordered) if show_day(a) == show_day(b)]
        span = (show_day(ordered[-1]) - show_day(ordered[0])).days
        score = (len(clashes), span, ordered[0].starts_at)
        if best is None or score < best[0]:
            best = (score, ordered, clashes)
    if best is None:
        raise UserFacingError("Those are all the same show — name two or more different shows to combine.")
    return best[1], best[2]


def _available(session: Session, query: Any, need: int) -> list[Offer]:
    return [o for o in session.scalars(query.order_by(Offer.price_minor)) if o.available >= need]


def airports(session: Session, city: str) -> set[str]:
    return set(session.scalars(select(Venue.airport).where(Venue.city == city)))


def hop_between(session: Session, before: Event, after: Event, travellers: int) -> Offer | None:
    """The cheapest flight leaving after one show ends that lands in good time for the next."""
    a, b = before.venue, after.venue
    leaves_after = before.starts_at + SHOW_LENGTH
    lands_before = after.doors_at - BEFORE_DOORS
    from_a = airports(session, a.city)
    flights = select(Offer).where(
        Offer.kind == "flight",
        Offer.event_id.in_((before.id, after.id)),
        Offer.origin.in_(from_a),
        Offer.city == b.city,
    )
    usable = [
        o
        for o in _available(session, flights, travellers)
        if o.departs_at and o.arrives_at and o.departs_at >= leaves_after and o.arrives_at <= lands_before
    ]
    return usable[0] if usable else None


def _hotel(session: Session, event: Event, rooms: int) -> Offer | None:
    hotels = _available(session, select(Offer).where(Offer.kind == "hotel", Offer.event_id == event.id), rooms)
    return hotels[0] if hotels else None


def _ticket(session: Session, event: Event, travellers: int) -> Offer:
    tickets = _available(session, select(Offer).where(Offer.kind == "ticket", Offer.event_id == event.id), travellers)
    if not tickets:
        raise UserFacingError(
            f"Sorry — {event.artist.name} in {event.venue.city} ({describe_when(event)}) is sold out for "
            f"{travellers}, so I can't build this trip. Want to try it without that show?"
        )
    return tickets[0]


def _journey(
    session: Session, shows: list[Event], origin: str, travellers: int, notes: list[str]
) -> list[Flight | None]:
    """The flights home → first show, between each pair of shows in different cities, and last show → home."""
    home = city_venue(session, origin)
    home_tz = home.timezone if home else shows[0].venue.timezone
    first, last = shows[0], shows[-1]
    hops: list[Flight | None] = []
    out = None
    if origin != first.venue.city:
        flights = select(Offer).where(
            Offer.kind == "flight",
            Offer.event_id == first.id,
            Offer.origin.in_(airports(session, origin)),
            Offer.city == first.venue.city,
        )
        out = next(iter(_available(session, flights, travellers)), None)
        if out is None:
            notes.append(f"I have no bookable flight from {origin} to {first.venue.city}, so it is not included.")
    hops.append(Flight.of(out, home_tz, first.venue.timezone))
    for before, after in itertools.pairwise(shows):
        if before.venue.city == after.venue.city:
            hops.append(None)
            continue
        flight = hop_between(session, before, after, travellers)
        if flight is None:
            raise UserFacingError(
                f"I can't get you from {before.venue.city} ({describe_when(before)}) to {after.venue.city} "
                f"({describe_when(after)}) in time: no flight leaves after the first show and lands before the "
                "second. Pick one of them, or other dates.",
                buttons=[_single_button(e, travellers, origin) for e in (before, after)],
                data={"conflict": "travel", "events": [before.id, after.id]},
            )
        hops.append(Flight.of(flight, before.venue.timezone, after.venue.timezone))
    back = None
    if origin != last.venue.city:
        flights = select(Offer).where(
            Offer.kind == "flight",
            Offer.event_id == last.id,
            Offer.destination.in_(airports(session, origin)),
            Offer.city == origin,
        )
        back = next(iter(_available(session, flights, travellers)), None)
        if back is None:
            notes.append(f"I have no bookable flight from {last.venue.city} home to {origin}, so it is not included.")
    hops.append(Flight.of(back, last.venue.timezone, home_tz))
    return hops


def _fly(plan: MultiPlan, days: Days, leg: str, flight: Flight) -> None:
    """Add a flight to the quote and the itinerary."""
    offer, dep, arr, n = flight.offer, flight.departs, flight.arrives, plan.travellers
    route = f"{offer.origin} → {offer.destination}"
    plan.lines.append(
        Line(
            "flight",
            offer.id,
            offer.name,
            n,
            offer.price_minor,
            f"{leg}: flight {offer.name} {route}, {dep:%a} {dep.day} {dep:%b} {dep:%H:%M} → {arr:%H:%M}, "
            f"{n} seat{'s' if n > 1 else ''}",
        )
    )
    landing = f"home at {arr:%H:%M}" if leg == "Home" else f"landing {arr:%H:%M} local time"
    days.add(dep.date(), f"{dep:%H:%M} fly {route} ({offer.name}), {landing}")


def _stay(
    session: Session,
    plan: MultiPlan,
    days: Days,
    event: Event,
    arrival_day: date,
    leave: Flight | None,
    leave_day: date,
) -> Offer | None:
    """Add hotel nights in the show's city from arrival until leaving, and check-in and check-out to the itinerary."""
    venue, rooms = event.venue, math.ceil(plan.travellers / 2)
    hotel = _hotel(session, event, rooms)
    if hotel is None:
        plan.notes.append(f"Hotels in {venue.city} are full for those nights, so no hotel is included there.")
        return None
    nights = max(1, (leave_day - arrival_day).days)
    plan.lines.append(
        Line(
            "hotel",
            hotel.id,
            hotel.name,
            rooms * nights,
            hotel.price_minor,
            f"{hotel.name} ({hotel.stars}★) in {venue.city}, {nights} night{'s' if nights > 1 else ''}, "
            f"{rooms} room{'s' if rooms > 1 else ''}",
        )
    )
    plan.nights += nights
    days.add(arrival_day, f"from {CHECK_IN:%H:%M} check in at {hotel.name}, {hotel.details.get('area', venue.city)}")
    checkout = datetime.combine(arrival_day + timedelta(days=nights), CHECK_OUT)
    if leave is not None and leave.departs.replace(tzinfo=None) - TO_AIRPORT < checkout:
        days.add(
            checkout.date(), f"{leave.departs - TO_AIRPORT:%H:%M} check out of {hotel.name} and head to the airport"
        )
    else:
        days.add(checkout.date(), f"by {CHECK_OUT:%H:%M} check out of {hotel.name}")
    return hotel


def build_multi(session: Session, shows: list[Event], origin: str, travellers: int) -> MultiPlan:
    """Price the whole journey: home → each show in date order → home, with hotel nights wherever the night is spent."""
    plan = MultiPlan(event=shows[0], origin=origin, travellers=travellers, shows=shows)
    hops = _journey(session, shows, origin, travellers, plan.notes)
    days = Days()
    for index, event in enumerate(shows):
        venue = event.venue
        ticket = _ticket(session, event, travellers)
        plan.lines.append(
            Line(
                "ticket",
                ticket.id,
                ticket.name,
                travellers,
                ticket.price_minor,
                f"{travellers} × {ticket.name} ticket, {event.artist.name} in {venue.city} ({show_day(event):%-d %b})",
            )
        )
        arrive = hops[index]
        if arrive is not None:
            _fly(plan, days, "Out" if index == 0 else "On", arrive)
        hotel = None
        if venue.city != origin and not (index > 0 and shows[index - 1].venue.city == venue.city):
            last_here = index  # shows in one city on following nights share one hotel stay
            while last_here + 1 < len(shows) and shows[last_here + 1].venue.city == venue.city:
                last_here += 1
            leave = hops[last_here + 1]
            arrival_day = arrive.arrives.date() if arrive is not None else show_day(event)
            leave_day = leave.departs.date() if leave is not None else show_day(shows[last_here]) + timedelta(days=1)
            hotel = _stay(session, plan, days, event, arrival_day, leave, leave_day)
        doors, start = local_time(event.doors_at, venue.timezone), local_time(event.starts_at, venue.timezone)
        walk = hotel.details.get("walk_minutes") if hotel is not None else None
        getting_there = f"{walk} min walk from the hotel" if walk else "by public transport"
        days.add(start.date(), f"{doors:%H:%M} doors open at {venue.name} ({getting_there})")
        days.add(start.date(), f"{start:%H:%M} {event.artist.name} on stage")
    if hops[-1] is not None:
        _fly(plan, days, "Home", hops[-1])
    plan.discount_pct = group_discount(travellers)
    plan.itinerary = days.lines()
    return plan


def _clock_time(entry: str) -> str:
    """The HH:MM an itinerary entry happens at, for putting a day in order."""
    found = CLOCK.search(entry)
    return found.group(0) if found else "99:99"


def separate_cost(session: Session, ctx: TurnContext, shows: list[Event], origin: str, travellers: int) -> int | None:
    """What the same shows cost as separate return trips from home, or None when one of them cannot be priced."""
    try:
        return sum(build_plan(session, ctx, e, origin, travellers, None).total_minor for e in shows)
    except UserFacingError:
        return None


def _single_button(event: Event, travellers: int, origin: str | None) -> Button:
    day = local_time(event.starts_at, event.venue.timezone)
    text = f"plan a trip to {event.artist.name} in {event.venue.city} on {day:%-d %B %Y} for {travellers}"
    return Button(f"Only {event.venue.city}, {day:%-d %b}", text + (f" from {origin}" if origin else ""))


def clash_answer(clashes: list[tuple[Event, Event]], travellers: int, origin: str | None) -> UserFacingError:
    """Two wished-for shows on the same night, whichever dates are picked."""
    a, b = clashes[0]
    return UserFacingError(
        f"**{a.artist.name}** in {a.venue.city} and **{b.artist.name}** in {b.venue.city} are both on "
        f"{show_day(a):%a %-d %b %Y} — nobody can be at both. Which one would you like?",
        buttons=[_single_button(a, travellers, origin), _single_button(b, travellers, origin)],
        data={"conflict": "same night", "events": [a.id, b.id]},
    )


def multi_answer(ctx: TurnContext, plan: MultiPlan, reference: str) -> ToolAnswer:
    """The combined quote as the person reads it, with the saving against separate trips."""
    who = f"{plan.travellers} traveller{'s' if plan.travellers > 1 else ''} from {plan.origin}"
    stops = " → ".join(f"{e.artist.name} in {e.venue.city} ({show_day(e):%-d %b})" for e in plan.shows)
    lines = [f"A {len(plan.shows)}-show trip for {who}: {stops}."]
    lines += [f"- {line.label}: {money(ctx, line.total_minor)}" for line in plan.lines]
    if plan.discount_pct:
        lines.append(
            f"- Group discount, {plan.discount_pct}% off {plan.tickets} tickets: −{money(ctx, plan.discount_minor)}"
        )
    lines.append(
        f"**Total {money(ctx, plan.total_minor)}** · {money(ctx, plan.total_minor // plan.travellers)} per person. "
        f"Quote **{reference}**, prices held for {int(HOLD.total_seconds() // 60)} minutes."
    )
    if plan.separate_minor is not None:
        saving = plan.separate_minor - plan.total_minor
        separately = f"Booked as {len(plan.shows)} separate trips from {plan.origin} it would be {money(ctx, plan.separate_minor)}"
        if saving > 0:
            lines.append(f"{separately} — this plan saves **{money(ctx, saving)}**.")
        elif saving < 0:
            lines.append(
                f"{separately} — {money(ctx, -saving)} less than this plan, because of the nights between shows. "
                "Going home in between is cheaper."
            )
        else:
            lines.append(f"{separately} — the same as this plan.")
    lines += plan.notes
    lines.append("Itinerary (local times):")
    lines += plan.itinerary
    return ToolAnswer(
        "\n".join(lines),
        buttons=[Button("Book it", "book it")],
        data={
            "quote": reference,
            "event_ids": [e.id for e in plan.shows],
            "total_minor": plan.total_minor,
            "separate_minor": plan.separate_minor,
            "currency": "EUR",
            "travellers": plan.travellers,
        },
    )


@roadie_tool(
    summary="plan one trip through several shows — flights between the cities, hotels, and the saving",
    examples=(
        "plan a trip to see Coldplay in Paris and Brussels",
        "Coldplay in Paris then Metallica in Berlin, one trip",
        "I want to see both Adele and Beyoncé in June",
        "combine the Lisbon and Madrid shows into one trip",
        "a trip covering two concerts",
        "can I do Amsterdam and London on the same trip",
        "multi-city concert trip",
        "see Taylor Swift in Lisbon and Madrid back to back",
        "plan a tour trip: Berlin, Munich and Vienna",
        "catch two shows in one trip",
        "several concerts in one trip for 3 of us",
        "un solo viaje: Madrid y luego Barcelona",
        "eine Reise, erst Berlin, dann Hamburg",
        "un seul voyage : Paris puis Lyon",
    ),
)
def plan_multi_event_trip(
    runtime: ToolRuntime[Any, Any],
    artists: list[str] | None = None,
    cities: list[str] | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    travellers: int | None = None,
    origin: str | None = None,
) -> ToolAnswer:
    """Plan one trip through several shows (one artist's tour or different artists) as a bookable quote.

    Shows are put in date order with flights between the cities and hotel nights in between; two
    shows on the same night, or no flight that gets there in time, is answered as a conflict. The
    answer compares the price with booking each show as its own trip. Book it with book_trip.

    Args:
        artists: The artists, in the order named, e.g. ["Coldplay", "Metallica"]; one artist for a tour.
        cities: The cities of the shows, in the order named, e.g. ["Paris", "Berlin"].
        date_from: First day the trip may start, YYYY-MM-DD.
        date_to: Last day the trip may end, YYYY-MM-DD.
        travellers: How many people travel, counting the person.
        origin: The city they travel from; defaults to their home city.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    origin_city = resolve(ctx, "city", origin) or ctx.caller.home_city
    wishes = wanted_shows(ctx, list(artists or []), list(cities or []))
    if len(wishes) > MAX_SHOWS:
        raise UserFacingError(f"I can combine up to {MAX_SHOWS} shows in one trip — which ones matter most?")
    start, end = parse_day(date_from, "the trip"), parse_day(date_to, "the trip")
    if end and end < now.date():
        raise UserFacingError(f"{end:%-d %B %Y} is in the past — when would you like to travel?")
    with ctx.services.db.write_session() as session:
        count = check_travellers(travellers, person(session, ctx).usual_travellers or 1)
        if not wishes:
            raise UserFacingError(
                "Which shows should the trip cover? Name two or more cities or artists, "
                'e.g. "Coldplay in Paris and Brussels" or "Coldplay in Paris then Metallica in Berlin".',
                buttons=[Button("Coldplay, two cities", "plan a trip to see Coldplay in Paris and Brussels")],
            )
        options = []
        for wish in wishes:
            found = candidates(session, now, wish, start, end)
            if not found:
                when = " on those dates" if (start or end) else ""
                raise UserFacingError(
                    f"I couldn't find an upcoming show for {wish.describe()}{when}, so I can't build the trip around it.",
                    buttons=[Button(f"{wish.artist} tour", f"show me the {wish.artist} tour")] if wish.artist else [],
                )
            options.append(found)
        shows, clashes = choose(options)
        if clashes:
            raise clash_answer(clashes, count, origin_city)
        if origin_city is None:
            args = {
                "artists": list(dict.fromkeys(e.artist.name for e in shows)) if all(w.artist for w in wishes) else [],
                "cities": [e.venue.city for e in shows],
                "date_from": show_day(shows[0]).isoformat(),
                "date_to": show_day(shows[-1]).isoformat(),
                "travellers": count,
            }
            return needs_home({k: v for k, v in args.items() if v}, tool="plan_multi_event_trip")
        plan = build_multi(session, shows, origin_city, count)
        plan.separate_minor = separate_cost(session, ctx, shows, origin_city, count)
        title = " + ".join(f"{e.artist.name} in {e.venue.city}" for e in shows)
        requote = (
            f"plan one trip to {' and '.join(f'{e.artist.name} in {e.venue.city}' for e in shows)} "
            f"for {count} from {origin_city}"
        )
        quote = save_quote(
            session,
            ctx,
            plan,
            kind="multi",
            extra={
                "title": title,
                "event_ids": [e.id for e in shows],
                "requote": requote,
                "separate_minor": plan.separate_minor,
            },
        )
        return multi_answer(ctx, plan, quote.reference or "")
