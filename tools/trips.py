"""Trip packages: tickets, flights there and back and hotel nights around a show, priced as a quote with an itinerary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from langchain.tools import ToolRuntime
from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.context import TurnContext
from assistant.messages import Button
from assistant.models import Artist, Event, Offer, Quote, Venue
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import (
    describe_when,
    local_time,
    log_event,
    money,
    new_reference,
    parse_day,
    person,
    resolve,
    upcoming,
)
from tools.group_members import chat_group, members, my_group

HOLD = timedelta(minutes=30)
MAX_TRAVELLERS = 100
CHECK_IN, CHECK_OUT = time(15), time(11)
GROUP_DISCOUNTS = ((50, 15), (20, 10), (10, 5))  # tickets → percent off the tickets
SECTION_WORDS = {
    "standing": "General admission standing",
    "general admission": "General admission standing",
    "ga": "General admission standing",
    "floor": "General admission standing",
    "pit": "General admission standing",
    "lower": "Lower tier seated",
    "lower tier": "Lower tier seated",
    "seated": "Lower tier seated",
    "seats": "Lower tier seated",
    "upper": "Upper tier seated",
    "upper tier": "Upper tier seated",
    "cheap seats": "Upper tier seated",
    "vip": "VIP package",
}


@dataclass
class Line:
    """One priced part of a trip."""

    kind: str
    offer_id: int
    name: str
    quantity: int
    unit_minor: int
    label: str

    @property
    def total_minor(self) -> int:
        return self.unit_minor * self.quantity

    def item(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "kind": self.kind,
            "name": self.name,
            "quantity": self.quantity,
            "unit_minor": self.unit_minor,
            "label": self.label,
        }


@dataclass
class TripPlan:
    """A priced trip to one show, before it is saved as a quote."""

    event: Event
    origin: str | None
    travellers: int
    lines: list[Line] = field(default_factory=list)
    discount_pct: int = 0
    nights: int = 0
    itinerary: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alternatives: list[tuple[str, int]] = field(default_factory=list)  # (what changes, price change in minor)

    @property
    def tickets(self) -> int:
        return sum(line.quantity for line in self.lines if line.kind == "ticket")

    @property
    def discount_minor(self) -> int:
        ticket_total = sum(line.total_minor for line in self.lines if line.kind == "ticket")
        return ticket_total * self.discount_pct // 100

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines) - self.discount_minor


def group_discount(tickets: int) -> int:
    """Percent off the tickets for a group of this size."""
    return next((pct for size, pct in GROUP_DISCOUNTS if tickets >= size), 0)


def section_name(text: str | None) -> str | None:
    """The ticket section a person means by "standing", "VIP", "upper tier"…"""
    if not text:
        return None
    low = text.strip().lower()
    return SECTION_WORDS.get(low) or next((v for k, v in SECTION_WORDS.items() if k in low), None)


def check_travellers(travellers: int | None, default: int) -> int:
    """The party size, or a clear answer when it cannot be right."""
    count = default if travellers is None else travellers
    if count < 1:
        raise UserFacingError("A trip needs at least one traveller — how many of you are going?")
    if count > MAX_TRAVELLERS:
        raise UserFacingError(
            f"I can plan for up to {MAX_TRAVELLERS} travellers at once. For {count}, "
            "please split the group into smaller bookings or ask us about a private event."
        )
    return count


def find_event(
    session: Session,
    ctx: TurnContext,
    artist: str | None,
    city: str | None,
    venue: str | None,
    date_from: str | None,
    date_to: str | None,
) -> Event:
    """The one upcoming show meant; otherwise an answer listing the candidates as buttons."""
    now = ctx.services.clock.now()
    artist_name = resolve(ctx, "artist", artist)
    city_name = resolve(ctx, "city", city)
    venue_name = resolve(ctx, "venue", venue)
    start, end = parse_day(date_from, "the show date"), parse_day(date_to, "the show date")
    if end and end < now.date():
        raise UserFacingError(f"{end:%-d %B %Y} is in the past — which upcoming show would you like to go to?")
    query = upcoming(now)
    if artist_name:
        query = query.where(Artist.name == artist_name)
    if city_name:
        query = query.where(Venue.city == city_name)
    if venue_name:
        query = query.where(Venue.name == venue_name)
    candidates = list(session.scalars(query).unique())
    dates_missed = False
    if start or end:
        low = datetime.combine(start or now.date(), time.min, UTC) - timedelta(hours=14)
        high = datetime.combine((end or start or now.date()) + timedelta(days=1), time.min, UTC) + timedelta(hours=14)
        dated = [e for e in candidates if low <= e.starts_at < high]
        dates_missed = not dated and bool(candidates)
        candidates = dated or candidates
    if len(candidates) == 1 and not dates_missed:
        return candidates[0]
    if not artist_name and not city_name and not venue_name:
        raise UserFacingError("Which show would you like to go to? Tell me the artist and the city.")
    who = artist_name or "shows"
    where = f" in {venue_name or city_name}" if (venue_name or city_name) else ""
    if not candidates:
        buttons = [Button(f"{artist_name} tour", f"show me the {artist_name} tour")] if artist_name else []
        raise UserFacingError(f"I couldn't find an upcoming {who} date{where} to plan a trip around.", buttons)
    shown = candidates[:5]
    lines = [
        f"No {who}{where} on those dates. The upcoming ones are:"
        if dates_missed
        else (
            f"{who}{where} has {len(candidates)} upcoming dates — which one?"
            if artist_name
            else f"There are {len(candidates)} upcoming shows{where} — which one?"
        )
    ]
    lines += [f"- {describe_when(e)} · {e.artist.name} at {e.venue.name}, {e.venue.city}" for e in shown]
    buttons = [
        Button(
            f"{e.venue.city}, {local_time(e.starts_at, e.venue.timezone):%-d %b}",
            f"plan a trip to {e.artist.name} in {e.venue.city} on {local_time(e.starts_at, e.venue.timezone):%-d %B %Y}",
        )
        for e in shown
    ]
    raise UserFacingError("\n".join(lines), buttons, data={"choices": [e.id for e in shown]})


def city_venue(session: Session, city: str) -> Venue | None:
    """A venue in `city`, for its airport and timezone."""
    return session.scalars(select(Venue).where(Venue.city == city).order_by(Venue.id)).first()


def _cheapest(session: Session, query: Any, need: int) -> list[Offer]:
    return [o for o in session.scalars(query.order_by(Offer.price_minor)) if o.available >= need]


def build_plan(
    session: Session, ctx: TurnContext, event: Event, origin: str | None, travellers: int, section: str | None
) -> TripPlan:
    """Price a trip to `event` from `origin` for `travellers` from what is available right now."""
    plan = TripPlan(event=event, origin=origin, travellers=travellers)
    venue = event.venue
    tickets = _cheapest(session, select(Offer).where(Offer.kind == "ticket", Offer.event_id == event.id), travellers)
    if not tickets:
        left = max(
            (
                o.available
                for o in session.scalars(select(Offer).where(Offer.event_id == event.id, Offer.kind == "ticket"))
            ),
            default=0,
        )
        raise UserFacingError(
            f"Sorry — {event.artist.name} in {venue.city} is sold out for {travellers}"
            + (f" (at most {left} tickets left together in one section)." if left else ".")
        )
    wanted = section_name(section)
    chosen = next((o for o in tickets if o.name == wanted), None) if wanted else None
    if wanted and chosen is None:
        plan.notes.append(f"{wanted} has no {travellers} tickets left together, so I picked the cheapest section.")
    chosen = chosen or tickets[0]
    plan.lines.append(
        Line("ticket", chosen.id, chosen.name, travellers, chosen.price_minor, f"{travellers} × {chosen.name} ticket")
    )
    plan.discount_pct = group_discount(travellers)
    cheaper = [o for o in tickets if o.price_minor < chosen.price_minor]
    better = [o for o in tickets if o.price_minor > chosen.price_minor]
    if cheaper:
        plan.alternatives.append(
            (f"{cheaper[0].name} tickets", (cheaper[0].price_minor - chosen.price_minor) * travellers)
        )
    if better:
        plan.alternatives.append(
            (f"{better[0].name} tickets", (better[0].price_minor - chosen.price_minor) * travellers)
        )

    show_local = local_time(event.starts_at, venue.timezone)
    arrival_day = show_local.date()
    leave_day = show_local.date() + timedelta(days=1)
    home = city_venue(session, origin) if origin else None
    travelling = home is not None and origin != venue.city
    out = back = None
    if travelling and home is not None:
        airports = set(session.scalars(select(Venue.airport).where(Venue.city == origin)))
        flights = select(Offer).where(Offer.kind == "flight", Offer.event_id == event.id)
        outs = _cheapest(session, flights.where(Offer.origin.in_(airports), Offer.city == venue.city), travellers)
        backs = _cheapest(session, flights.where(Offer.destination.in_(airports), Offer.city == origin), travellers)
        out, back = (outs[0] if outs else None), (backs[0] if backs else None)
        if out is None or back is None:
            plan.notes.append(f"I have no bookable flights from {origin} for this show, so flights are not included.")
        for leg, offer, tz_from, tz_to in (
            ("Out", out, home.timezone, venue.timezone),
            ("Back", back, venue.timezone, home.timezone),
        ):
            if offer is None or offer.departs_at is None or offer.arrives_at is None:
                continue
            dep, arr = local_time(offer.departs_at, tz_from), local_time(offer.arrives_at, tz_to)
            plan.lines.append(
                Line(
                    "flight",
                    offer.id,
                    offer.name,
                    travellers,
                    offer.price_minor,
                    f"{leg}: flight {offer.name} {offer.origin} → {offer.destination}, "
                    f"{dep:%a} {dep.day} {dep:%b} {dep:%H:%M} → {arr:%H:%M}, {travellers} seat{'s' if travellers > 1 else ''}",
                )
            )
        if out is not None and out.arrives_at is not None:
            arrival_day = local_time(out.arrives_at, venue.timezone).date()
        if back is not None and back.departs_at is not None:
            leave_day = local_time(back.departs_at, venue.timezone).date()
    hotel = None
    if travelling:
        plan.nights = max(1, (leave_day - arrival_day).days)
        rooms = math.ceil(travellers / 2)
        hotels = _cheapest(session, select(Offer).where(Offer.kind == "hotel", Offer.event_id == event.id), rooms)
        if hotels:
            hotel = hotels[0]
            walk = hotel.details.get("walk_minutes")
            plan.lines.append(
                Line(
                    "hotel",
                    hotel.id,
                    hotel.name,
                    rooms * plan.nights,
                    hotel.price_minor,
                    f"{hotel.name} ({hotel.stars}★, {walk} min walk to the venue), "
                    f"{plan.nights} night{'s' if plan.nights > 1 else ''}, {rooms} room{'s' if rooms > 1 else ''}",
                )
            )
            upgrade = next((h for h in hotels if (h.stars or 0) > (hotel.stars or 0)), None)
            if upgrade:
                plan.alternatives.append(
                    (
                        f"{upgrade.name} ({upgrade.stars}★)",
                        (upgrade.price_minor - hotel.price_minor) * rooms * plan.nights,
                    )
                )
        else:
            plan.notes.append(f"Hotels near {venue.name} are full, so no hotel is included.")
    elif origin == venue.city:
        plan.notes.append(f"You're in {venue.city} already, so no flight or hotel is included.")
    plan.itinerary = itinerary(event, home, out, back, hotel, plan.nights, arrival_day)
    return plan


def itinerary(
    event: Event,
    home: Venue | None,
    out: Offer | None,
    back: Offer | None,
    hotel: Offer | None,
    nights: int,
    arrival_day: Any,
) -> list[str]:
    """Day by day in local times: arrival, check-in, doors and show, getting there and back, departure."""
    venue = event.venue
    doors, show = local_time(event.doors_at, venue.timezone), local_time(event.starts_at, venue.timezone)
    days: dict[Any, list[str]] = {}

    def add(day: Any, text: str) -> None:
        days.setdefault(day, []).append(text)

    if out is not None and out.departs_at and out.arrives_at and home is not None:
        dep, arr = local_time(out.departs_at, home.timezone), local_time(out.arrives_at, venue.timezone)
        add(
            dep.date(), f"{dep:%H:%M} fly {out.origin} → {out.destination} ({out.name}), landing {arr:%H:%M} local time"
        )
    walk = hotel.details.get("walk_minutes") if hotel is not None else None
    if hotel is not None:
        add(arrival_day, f"from {CHECK_IN:%H:%M} check in at {hotel.name}, {hotel.details.get('area', venue.city)}")
    getting_there = f"{walk} min walk from the hotel" if walk else "by public transport"
    add(show.date(), f"{doors:%H:%M} doors open at {venue.name} ({getting_there})")
    add(
        show.date(), f"{show:%H:%M} {event.artist.name} on stage; afterwards back {'to the hotel' if hotel else 'home'}"
    )
    if hotel is not None:
        checkout_day = arrival_day + timedelta(days=nights)
        add(checkout_day, f"by {CHECK_OUT:%H:%M} check out of {hotel.name}")
    if back is not None and back.departs_at and back.arrives_at and home is not None:
        dep, arr = local_time(back.departs_at, venue.timezone), local_time(back.arrives_at, home.timezone)
        add(dep.date(), f"{dep:%H:%M} fly {back.origin} → {back.destination} ({back.name}), home at {arr:%H:%M}")
    lines = []
    for day in sorted(days):
        lines.append(f"- **{day:%a} {day.day} {day:%b}**: " + "; ".join(days[day]))
    return lines


def save_quote(
    session: Session, ctx: TurnContext, plan: TripPlan, kind: str = "single", extra: dict[str, Any] | None = None
) -> Quote:
    """Store the plan as a quote the person can book until it expires."""
    now = ctx.services.clock.now()
    quote = Quote(
        reference=new_reference("Q"),
        person_id=ctx.caller.person_id,
        event_id=plan.event.id,
        travellers=plan.travellers,
        total_minor=plan.total_minor,
        currency="EUR",
        items=[line.item() for line in plan.lines],
        channel=ctx.caller.channel,
        created_at=now,
        expires_at=now + HOLD,
        details={
            "kind": kind,
            "conversation": ctx.caller.conversation,
            "origin": plan.origin,
            "discount_pct": plan.discount_pct,
            "discount_minor": plan.discount_minor,
            "nights": plan.nights,
            "itinerary": plan.itinerary,
            "city": plan.event.venue.city,
            "artist": plan.event.artist.name,
            **(extra or {}),
        },
    )
    session.add(quote)
    session.flush()
    log_event(
        session,
        ctx,
        "quote",
        "plan_multi_event_trip" if kind == "multi" else "plan_trip",
        {"event_id": plan.event.id, "quote": quote.reference, "total_minor": plan.total_minor},
    )
    return quote


def quote_answer(ctx: TurnContext, plan: TripPlan, quote: Quote) -> ToolAnswer:
    """The quote as the person reads it: what is included, the total, per person, itinerary and alternatives."""
    event = plan.event
    who = f"{plan.travellers} traveller{'s' if plan.travellers > 1 else ''}" + (
        f" from {plan.origin}" if plan.origin else ""
    )
    lines = [
        f"Trip to **{event.artist.name}** at {event.venue.name}, {event.venue.city} — {describe_when(event)} · {who}:"
    ]
    lines += [f"- {line.label}: {money(ctx, line.total_minor)}" for line in plan.lines]
    if plan.discount_pct:
        lines.append(
            f"- Group discount, {plan.discount_pct}% off {plan.tickets} tickets: −{money(ctx, plan.discount_minor)}"
        )
    per_person = plan.total_minor // plan.travellers
    lines.append(
        f"**Total {money(ctx, plan.total_minor)}** · {money(ctx, per_person)} per person. "
        f"Quote **{quote.reference}**, prices held for {int(HOLD.total_seconds() // 60)} minutes."
    )
    lines += plan.notes
    if plan.itinerary:
        lines.append("Itinerary (local times):")
        lines += plan.itinerary
    if plan.alternatives:
        lines.append("Alternatives:")
        lines += [
            f"- {what}: {'+' if delta > 0 else '−'}{money(ctx, abs(delta))} in total"
            for what, delta in plan.alternatives
        ]
    buttons = [Button("Book it", "book it")]
    base = f"plan a trip to {event.artist.name} in {event.venue.city} on {local_time(event.starts_at, event.venue.timezone):%-d %B %Y} for {plan.travellers}"
    if plan.origin:
        base += f" from {plan.origin}"
    for what, _ in plan.alternatives[:2]:
        if what.endswith(" tickets"):
            buttons.append(Button(what.replace(" tickets", ""), f"{base} in {what.replace(' tickets', '')}"))
    data = {
        "quote": quote.reference,
        "event_id": event.id,
        "total_minor": plan.total_minor,
        "currency": "EUR",
        "travellers": plan.travellers,
        "expires_at": quote.expires_at.isoformat(),
    }
    return ToolAnswer("\n".join(lines), buttons=buttons, data=data)


def needs_home(tool_args: dict[str, Any], tool: str = "plan_trip") -> ToolAnswer:
    """Ask once where the person lives; the answer is remembered as their home city."""
    return ToolAnswer(
        "Which city will you travel from? Tell me where you live and I'll remember it for next time.",
        buttons=[Button("London", "London"), Button("Paris", "Paris"), Button("New York", "New York")],
        data={"needs": "home_city", "tool": tool, "args": tool_args},
        ok=False,
    )


@roadie_tool(
    summary="plan a whole trip to a show — tickets, flights and hotel — as a quote",
    examples=(
        "plan a trip to the Lisbon show for 2 from London",
        "plan a trip to see Coldplay in Paris",
        "how much would it cost to go to Taylor Swift in Madrid",
        "I want to go to the Berlin show with my girlfriend",
        "price a trip for 4 people to Metallica in Munich",
        "trip package for Beyoncé in London from Dublin",
        "get me tickets, flight and hotel for the Amsterdam date",
        "what would a weekend for Adele in Vienna cost",
        "quote me the Barcelona concert for two",
        "plan it for 3 of us flying from Berlin",
        "organise travel to the Tokyo show",
        "how much for the whole trip",
        "can you put together a trip to see Rammstein",
        "cheaper seats please",
        "VIP tickets instead",
        "planea un viaje al concierto de Madrid",
        "Reise zum Konzert in Berlin planen",
        "organiser un voyage pour le concert à Paris",
    ),
)
def plan_trip(
    runtime: ToolRuntime[Any, Any],
    artist: str | None = None,
    city: str | None = None,
    venue: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    travellers: int | None = None,
    origin: str | None = None,
    section: str | None = None,
    group: str | None = None,
) -> ToolAnswer:
    """Plan a trip to one show: tickets, a flight there and back, hotel nights near the venue, as a bookable quote.

    Prices come from live inventory; the quote holds them for 30 minutes. Group discounts apply
    from 10 tickets. Book it with book_trip once the person says so. In a trip group's chat (or
    with the group's code) the quote is for the group: its show and everyone who is going.

    Args:
        artist: The artist, e.g. "Taylor Swift".
        city: The city of the show, e.g. "Lisbon".
        venue: The venue, if the person named one.
        date_from: The show date (or first day of a range), YYYY-MM-DD.
        date_to: Last day of the range, YYYY-MM-DD.
        travellers: How many people travel, counting the person.
        origin: The city they travel from; defaults to their home city.
        section: Ticket section wanted: standing, lower tier, upper tier or VIP.
        group: A trip group's join code, to plan for that group.
    """
    ctx = turn_context(runtime)
    origin_city = resolve(ctx, "city", origin) or ctx.caller.home_city
    with ctx.services.db.write_session() as session:
        party = my_group(session, ctx, group) if group else chat_group(session, ctx)
        going = sum(m.confirmed for m in members(session, party)) if party else 0
        count = check_travellers(travellers, going or person(session, ctx).usual_travellers or 1)
        if party is not None and party.event_id and not (artist or city or venue):
            event = session.get_one(Event, party.event_id)
        else:
            event = find_event(session, ctx, artist, city, venue, date_from, date_to)
        if origin_city is None:
            return needs_home(
                {
                    "artist": event.artist.name,
                    "city": event.venue.city,
                    "date_from": local_time(event.starts_at, event.venue.timezone).date().isoformat(),
                    "date_to": local_time(event.starts_at, event.venue.timezone).date().isoformat(),
                    "travellers": count,
                    **({"section": section} if section else {}),
                }
            )
        plan = build_plan(session, ctx, event, origin_city, count, section)
        extra = {"group_id": party.id, "group": party.name} if party is not None else None
        quote = save_quote(session, ctx, plan, extra=extra)
        answer = quote_answer(ctx, plan, quote)
        if party is not None:
            answer.text = f"For the group **{party.name}** ({going} going):\n" + answer.text
        return answer
