"""Helpers every toolset shares: resolving names people type, reading dates, describing events."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from assistant.context import TurnContext
from assistant.messages import Button
from assistant.models import ConversationEvent, Event, Offer, Person
from assistant.money import show
from assistant.toolkit import UserFacingError


def resolve(ctx: TurnContext, kind: str, name: str | None) -> str | None:
    """The canonical catalogue name for `name`; raises a "did you mean" answer when unknown."""
    if not name or not name.strip():
        return None
    index = ctx.services.entities.index()
    found = index.lookup(kind, name)
    if found:
        return found
    suggestions = index.suggest(kind, name)
    label = {"artist": "an artist", "city": "a city", "country": "a country", "region": "a region", "venue": "a venue"}[
        kind
    ]
    text = f"I don't know {label} called **{name.strip()}**"
    if suggestions:
        text += " — did you mean " + " or ".join(f"**{s}**" for s in suggestions[:2]) + "?"
    else:
        text += "."
    if kind == "artist":
        text += " I can only find shows for artists in Roadie's catalogue."
    buttons = [Button(s, f"show me {s} concerts" if kind == "artist" else f"shows in {s}") for s in suggestions[:3]]
    raise UserFacingError(text, buttons=buttons, data={"unknown": {kind: name}})


def upcoming(now: datetime) -> Select[Event]:
    """Scheduled shows from `now` on, soonest first, with artist and venue loaded."""
    return (
        select(Event)
        .join(Event.artist)
        .join(Event.venue)
        .options(joinedload(Event.artist), joinedload(Event.venue))
        .where(Event.starts_at >= now, Event.status == "scheduled")
        .order_by(Event.starts_at)
    )


def parse_day(value: str | None, field: str) -> date | None:
    """An ISO date argument; raises an answer saying which format is expected."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise UserFacingError(
            f'I couldn\'t read the date **{value}** for {field}. Try something like 2027-05-14 or "in May".'
        ) from None


def local_time(moment: datetime, timezone: str) -> datetime:
    """A UTC moment in a venue's local time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(timezone))


def describe_when(event: Event) -> str:
    """ "Sat 6 Jun 2027, 20:00" in the venue's local time."""
    local = local_time(event.starts_at, event.venue.timezone)
    return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"


def cheapest_tickets(session: Session, event_ids: list[int]) -> dict[int, tuple[int, str]]:
    """The lowest available ticket price per event, in minor units with its currency."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(Offer.event_id, func.min(Offer.price_minor), func.min(Offer.currency))
        .where(Offer.kind == "ticket", Offer.event_id.in_(event_ids), Offer.available > 0)
        .group_by(Offer.event_id)
    )
    return {event_id: (price, currency) for event_id, price, currency in rows if event_id is not None}


def event_line(event: Event, price: tuple[int, str] | None, currency: str) -> str:
    """One Markdown list line for an event: when, where, and the cheapest ticket."""
    where = f"{event.venue.name}, {event.venue.city}"
    cost = f" · tickets from {show(price[0], price[1], currency)}" if price else " · sold out"
    return f"- **{describe_when(event)}** · {where}{cost}"


def log_event(
    session: Session, ctx: TurnContext, kind: str, tool: str, detail: dict[str, object], ok: bool = True
) -> None:
    """Record a funnel event (search, quote, booking, refusal) in the assistant's own log."""
    caller = ctx.caller
    session.add(
        ConversationEvent(
            person_id=caller.person_id,
            channel=caller.channel,
            conversation=caller.conversation,
            kind=kind,
            tools=[tool],
            ok=ok,
            detail=detail,
            created_at=ctx.services.clock.now(),
        )
    )


REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread over the phone


def new_reference(prefix: str) -> str:
    """A short human reference such as RD-7KQ2MX (bookings) or Q-4HT9PZ (quotes).

    Never all digits: `normal_reference` reads "Q-395984" as a number, so such a quote could not be found.
    """
    while True:
        suffix = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
        if not suffix.isdigit():
            return f"{prefix}-{suffix}"


def normal_reference(text: str) -> str:
    """A reference as typed ("rd 7kq2mx", "RD7KQ2MX") in its stored form ("RD-7KQ2MX")."""
    compact = "".join(ch for ch in text.upper() if ch.isalnum())
    for prefix in ("RD", "Q", "P", "G", "E"):  # bookings, quotes, polls, groups, expenses
        if compact.startswith(prefix) and len(compact) == len(prefix) + 6 and not compact[len(prefix) :].isdigit():
            return f"{prefix}-{compact[len(prefix) :]}"
    return compact


def person(session: Session, ctx: TurnContext) -> Person:
    """The caller's own row."""
    return session.get_one(Person, ctx.caller.person_id)


def money(ctx: TurnContext, minor: int, currency: str = "EUR") -> str:
    """An amount shown in the caller's currency."""
    return show(minor, currency, ctx.caller.currency)
