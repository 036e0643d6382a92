"""Price watches: "tell me if the flight to Berlin drops under €120", kept per person and checked every hour.

A watch follows the cheapest tickets of a show, or the cheapest flight on a route and day (the flight
to a show from the person's city, or one they named). The hourly job tells the person when the price
is at or under their target — once per lower price (the outbox's dedupe key holds the price told),
in their quiet hours' and daily cap's terms (`tools/alerts.notify`), and only if they want price alerts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from langchain.tools import ToolRuntime
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from assistant.context import TurnContext
from assistant.db import Database
from assistant.messages import Button, Reply
from assistant.models import Event, Offer, OutboxMessage, Person, PriceWatch, Venue
from assistant.money import RATES_PER_EUR, convert, format_money
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import describe_when, local_time, parse_day, resolve
from tools.forecasting import HORIZON, chance_below
from tools.pricing import (
    chance_text,
    cheapest,
    city_zones,
    event_flights,
    event_phrase,
    event_tickets,
    forecasters,
    item_kind,
    offer_label,
    outlooks,
    route_flight,
)
from tools.trips import find_event, needs_home

log = logging.getLogger(__name__)
WATCH_KINDS = ("flight", "ticket")


@dataclass
class Watched:
    """What a watch follows, resolved from what the person said."""

    kind: str
    offer: Offer
    label: str
    event: Event | None = None
    origin: str | None = None  # the city, for flights
    destination: str | None = None
    travel_date: date | None = None


def _watch_target(
    session: Session,
    ctx: TurnContext,
    artist: str | None,
    city: str | None,
    venue: str | None,
    date_from: str | None,
    date_to: str | None,
    origin_city: str | None,
    kind: str | None,
) -> Watched | ToolAnswer:
    """The flight or tickets a watch is about, or the question to ask first."""
    zones = city_zones(session)
    if kind == "hotel":
        raise UserFacingError(
            "I can't watch hotel prices yet — they aren't tracked over time. I can watch flights and tickets."
        )
    if kind == "flight" and not artist and not venue and city and date_from:
        if origin_city is None:
            return needs_home({"city": city, "date_from": date_from, "item": "flight"}, tool="watch_price")
        day = parse_day(date_from, "the flight date")
        destination = resolve(ctx, "city", city)
        assert day is not None
        assert destination is not None
        flight = route_flight(session, ctx, origin_city, destination, day)
        return Watched("flight", flight, offer_label(flight, zones), None, origin_city, destination, day)
    if not any((artist, city, venue)):
        raise UserFacingError(
            'Which price should I watch? For example: "tell me if the flight to Berlin for Coldplay drops under '
            '€120" or "watch Adele tickets in Vienna, under €90".'
        )
    event = find_event(session, ctx, artist, city, venue, date_from, date_to)
    show = event_phrase(event)
    if kind == "flight":
        if origin_city is None:
            day = local_time(event.starts_at, event.venue.timezone).date()
            return needs_home(
                {"artist": event.artist.name, "city": event.venue.city, "date_from": day.isoformat(), "item": "flight"},
                tool="watch_price",
            )
        out, _ = event_flights(session, event, origin_city)
        if out is None:
            raise UserFacingError(
                f"I have no bookable flights from {origin_city} for {show}, so there's nothing to watch."
            )
        departs = local_time(out.departs_at or event.starts_at, zones.get(origin_city, "UTC")).date()
        return Watched(
            "flight", out, f"{offer_label(out, zones)} for {show}", event, origin_city, event.venue.city, departs
        )
    tickets = event_tickets(session, event, None)
    if tickets is None:
        raise UserFacingError(f"Sorry — {show} is sold out, so there's no ticket price to watch.")
    return Watched("ticket", tickets, f"tickets for {show}, {describe_when(event)}", event)


def _watch_label(session: Session, watch: PriceWatch, zones: dict[str, str]) -> str:
    if watch.kind == "ticket" and watch.event_id is not None:
        event = session.get(Event, watch.event_id, options=[joinedload(Event.artist), joinedload(Event.venue)])
        if event is not None:
            return f"tickets for {event_phrase(event)}, {describe_when(event)}"
    when = f", {watch.travel_date:%a} {watch.travel_date.day} {watch.travel_date:%b}" if watch.travel_date else ""
    return f"flight {watch.origin} → {watch.destination}{when}"


def watched_price(session: Session, watch: PriceWatch, zones: dict[str, str]) -> Offer | None:
    """The offer a watch follows today: the cheapest tickets of its show, or the cheapest flight on its route and day."""
    if watch.kind == "ticket" and watch.event_id is not None:
        return cheapest(session, select(Offer).where(Offer.kind == "ticket", Offer.event_id == watch.event_id))
    if watch.kind != "flight" or watch.travel_date is None:
        return None
    start = datetime.combine(watch.travel_date, datetime.min.time(), UTC) - timedelta(hours=14)
    flights = session.scalars(
        select(Offer)
        .where(
            Offer.kind == "flight",
            Offer.origin == watch.origin,
            Offer.destination == watch.destination,
            Offer.departs_at >= start,
            Offer.departs_at < start + timedelta(hours=52),
            Offer.available > 0,
        )
        .order_by(Offer.price_minor, Offer.id)
    )
    zone = zones.get(next(iter(session.scalars(select(Venue.city).where(Venue.airport == watch.origin))), ""), "UTC")
    return next(
        (f for f in flights if f.departs_at is not None and local_time(f.departs_at, zone).date() == watch.travel_date),
        None,
    )


def _amount_minor(amount: float, currency: str) -> int:
    return round(amount * (1 if currency in ("JPY", "KRW") else 100))


def _currency(value: str | None, default: str) -> str:
    if not value:
        return default
    from tools.preferences import currency_code

    return currency_code(value)


@roadie_tool(
    summary="watch a flight or ticket price and tell you when it drops under your target",
    write=True,
    examples=(  # few and plainly about prices: the cues in assistant/planner/price_slots.py route the rest
        "tell me if the flight price drops under €120",
        "let me know when the ticket price goes below 90 euros",
        "alert me if the fare gets cheaper than £150",
        "set a price alert for the tickets at €110",
        "watch the ticket price and tell me under €100",
        "stop watching that price",
        "remove my price alert",
        "what prices am I watching?",
        "my price alerts",
    ),
)
def watch_price(
    runtime: ToolRuntime[Any, Any],
    artist: str | None = None,
    city: str | None = None,
    venue: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    origin: str | None = None,
    item: str | None = None,
    target_price: float | None = None,
    target_currency: str | None = None,
    stop: bool = False,
) -> ToolAnswer:
    """Watch a price for the person and tell them (a proactive message) when it drops under their target.

    A flight to a show (from the person's city), a flight route on a date (origin, city and date_from
    without an artist), or a show's tickets (the cheapest section). Prices are checked every hour;
    each lower price under the target is announced once. With stop=true it removes the person's
    watches (those matching what is named, else all); with nothing named it lists them.

    Args:
        artist: The artist of the show, e.g. "Coldplay".
        city: The show's city, or where the flight goes.
        venue: The venue, if named.
        date_from: The show or flight date, YYYY-MM-DD.
        date_to: Last day of a date range, YYYY-MM-DD.
        origin: The city the person flies from; defaults to their home city.
        item: "flight" or "ticket" (tickets unless a flight is meant).
        target_price: Tell the person when the price is at or under this amount.
        target_currency: The target's currency (ISO code or name); defaults to the person's currency.
        stop: True to stop watching instead.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    kind = item_kind(item)
    origin_city = resolve(ctx, "city", origin) or ctx.caller.home_city
    with ctx.services.db.session() as session:
        zones = city_zones(session)
        mine = list(
            session.scalars(
                select(PriceWatch)
                .where(PriceWatch.person_id == ctx.caller.person_id, PriceWatch.active.is_(True))
                .order_by(PriceWatch.id)
            )
        )
        named = any((artist, city, venue))
        if not stop and not named and target_price is None:
            if not mine:
                return ToolAnswer(
                    'You\'re not watching any prices. Try "tell me if the flight to Berlin drops under €120".',
                    data={"watches": []},
                )
            lines = ["Prices you're watching:"] + [
                f"- {_watch_label(session, w, zones)}: under **{format_money(w.target_minor, w.currency)}**"
                for w in mine
            ]
            return ToolAnswer(
                "\n".join(lines),
                buttons=[Button("Stop watching all", "stop watching all my prices")],
                data={"watches": [w.id for w in mine]},
            )
        if stop:
            chosen = [w for w in mine if _matches(session, w, ctx, artist, city, venue, kind)]
            if not chosen:
                listed = "; ".join(_watch_label(session, w, zones) for w in mine)
                return ToolAnswer(
                    f"You're not watching that price. You watch: {listed}."
                    if mine
                    else "You're not watching any prices.",
                    data={"watches": [w.id for w in mine]},
                )
            for w in chosen:
                w.active = False
            return ToolAnswer(
                "Stopped watching " + "; ".join(f"**{_watch_label(session, w, zones)}**" for w in chosen) + ".",
                data={"stopped": [w.id for w in chosen]},
            )
        found = _watch_target(session, ctx, artist, city, venue, date_from, date_to, origin_city, kind)
        if isinstance(found, ToolAnswer):
            return found
        currency = _currency(target_currency, ctx.caller.currency)
        now_price = convert(found.offer.price_minor, found.offer.currency, currency)
        args = {
            k: v
            for k, v in {
                "artist": artist,
                "city": city,
                "venue": venue,
                "date_from": date_from,
                "date_to": date_to,
                "origin": origin,
                "item": found.kind,
            }.items()
            if v
        }
        if target_price is None:
            return ToolAnswer(
                f"**{found.label}** costs {format_money(now_price, currency)} now. Below what price should I tell you? "
                'For example "under €120".',
                data={"needs": "target_price", "tool": "watch_price", "args": args},
                ok=False,
            )
        if target_price <= 0 or currency not in RATES_PER_EUR:
            raise UserFacingError("The target needs to be a price above zero, such as €120.")
        target = _amount_minor(target_price, currency)
        if now_price <= target:
            return ToolAnswer(
                f"**{found.label}** is already {format_money(now_price, currency)} — at or under your "
                f"{format_money(target, currency)}. Book it before it goes back up?",
                buttons=_book_buttons(found, origin_city),
                data={"already_under": True, "current_minor": now_price, "currency": currency},
            )
        watch = next((w for w in mine if _same_watch(w, found)), None)
        updated = watch is not None
        if watch is None:
            watch = PriceWatch(
                person_id=ctx.caller.person_id,
                kind=found.kind,
                event_id=found.event.id if found.event is not None else found.offer.event_id,
                origin=found.offer.origin if found.kind == "flight" else None,
                destination=found.offer.destination if found.kind == "flight" else None,
                travel_date=found.travel_date,
                target_minor=target,
                currency=currency,
                active=True,
                created_at=now,
            )
            session.add(watch)
        else:
            watch.target_minor, watch.currency = target, currency
        session.flush()
        lines = [
            f"{'Updated: w' if updated else 'W'}atching **{found.label}** — I'll tell you when it drops under "
            f"**{format_money(target, currency)}** (it's {format_money(now_price, currency)} now). I check every hour."
        ]
        chance = _chance_to_reach(session, ctx, found.offer, convert(target, currency, found.offer.currency), now)
        if chance is not None:
            lines.append(
                f"My forecast puts the chance it gets there in the next {HORIZON} days at about {chance_text(chance)}."
            )
        lines.append('Say "stop watching" to remove it.')
        return ToolAnswer(
            "\n".join(lines),
            buttons=[Button("My price watches", "what prices am I watching?")],
            data={"watch": watch.id, "target_minor": target, "currency": currency, "current_minor": now_price},
        )


def _matches(
    session: Session,
    watch: PriceWatch,
    ctx: TurnContext,
    artist: str | None,
    city: str | None,
    venue: str | None,
    kind: str | None,
) -> bool:
    """Whether a watch is about what the person named (an artist, a city it goes to, a venue, flights or tickets)."""
    if kind in WATCH_KINDS and watch.kind != kind:
        return False
    event = session.get(Event, watch.event_id) if watch.event_id is not None else None
    if artist and (event is None or event.artist.name != resolve(ctx, "artist", artist)):
        return False
    if venue and (event is None or event.venue.name != resolve(ctx, "venue", venue)):
        return False
    if city:
        wanted = resolve(ctx, "city", city)
        places = {event.venue.city} if event is not None else set()
        places |= set(session.scalars(select(Venue.city).where(Venue.airport == watch.destination)))
        if wanted not in places:
            return False
    return True


def _same_watch(watch: PriceWatch, found: Watched) -> bool:
    if watch.kind != found.kind:
        return False
    if found.kind == "ticket":
        return found.event is not None and watch.event_id == found.event.id
    return (watch.origin, watch.destination, watch.travel_date) == (
        found.offer.origin,
        found.offer.destination,
        found.travel_date,
    )


def _book_buttons(found: Watched, origin_city: str | None) -> list[Button]:
    if found.event is None:
        return []
    text = f"plan a trip to {found.event.artist.name} in {found.event.venue.city}"
    return [Button("Plan the trip", text + (f" from {origin_city}" if origin_city else ""))]


def _chance_to_reach(
    session: Session, ctx: TurnContext, offer: Offer, target_minor: int, now: datetime
) -> float | None:
    """The forecast's chance that the price is at or under `target_minor` on some day in the next two weeks."""
    models = forecasters(ctx.services.db, ctx.services.settings.data_dir, wait=0)  # the watch is saved at once
    found = outlooks(session, models, [(offer, 1)], now)[0]
    if found.path is None:
        return None
    return max(chance_below(step, target_minor) for step in found.path.steps)


def check_price_watches(session: Session, now: datetime) -> Any:
    """Tell each person whose watched price is under their target — once per lower price; end watches whose date passed."""
    from tools.alerts import Audience, JobReport, notify

    report = JobReport()
    zones = city_zones(session)
    watches = list(session.scalars(select(PriceWatch).where(PriceWatch.active.is_(True)).order_by(PriceWatch.id)))
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_({w.person_id for w in watches})))}
    audience = Audience(session, list(people.values()), now)
    for watch in watches:
        person = people.get(watch.person_id)
        event = session.get(Event, watch.event_id) if watch.event_id is not None else None
        over = (event is not None and event.starts_at <= now) or (
            watch.travel_date is not None and watch.travel_date < now.date()
        )
        if person is None or over:
            watch.active = False
            report.skip("date passed")
            continue
        if not (person.notify or {}).get("price_drops", True):
            report.skip("turned off")
            continue
        offer = watched_price(session, watch, zones)
        if offer is None:
            report.skip("nothing on sale")
            continue
        price = convert(offer.price_minor, offer.currency, watch.currency)
        if price > watch.target_minor:
            continue
        told = [
            int(key.rsplit(":", 1)[1])
            for key in session.scalars(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like(f"price-watch:{watch.id}:%"))
            )
        ]
        if told and price >= min(told):
            continue  # they were already told about this price or a lower one
        label = _watch_label(session, watch, zones)
        reply = Reply(
            f"Price drop: **{label}** is now **{format_money(price, watch.currency)}** — under your "
            f"{format_money(watch.target_minor, watch.currency)} target. Prices move, so book soon if it suits you.",
            buttons=_alert_buttons(session, watch, event, person),
        )
        notify(audience, person, "price_drop", reply, f"price-watch:{watch.id}:{price}", now, report)
    return report


def _alert_buttons(session: Session, watch: PriceWatch, event: Event | None, person: Person) -> list[Button]:
    buttons = []
    if event is not None:
        home = f" from {person.home_city}" if person.home_city else ""
        buttons.append(Button("Plan the trip", f"plan a trip to {event_phrase(event)}{home}"))
        if watch.kind == "ticket":
            stop = f"stop watching {event.artist.name} tickets in {event.venue.city}"
        else:
            stop = f"stop watching the flight to {event.venue.city} for {event.artist.name}"
    else:
        cities = dict(session.execute(select(Venue.airport, Venue.city)).all())
        when = f" on {watch.travel_date:%-d %B %Y}" if watch.travel_date else ""
        stop = f"stop watching the flight from {cities.get(watch.origin or '', watch.origin)} to {cities.get(watch.destination or '', watch.destination)}{when}"
    buttons.append(Button("Stop watching", stop))
    return buttons


def price_watch_job(db: Database, now: datetime) -> Any:
    """Hourly: tell people whose watched prices dropped under their targets."""
    with db.write_session() as session:
        return check_price_watches(session, now)
