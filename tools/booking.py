"""Booking a quoted trip, listing and cancelling bookings: inventory taken atomically, every write confirmed and run once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from langchain.tools import ToolRuntime
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from assistant.context import TurnContext
from assistant.messages import Button, Reply
from assistant.models import Booking, Event, Offer, Quote, TripGroup
from assistant.money import format_money
from assistant.seed import COMMISSION_RATE
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools import confirmation
from tools.common import describe_when, log_event, money, new_reference, normal_reference
from tools.expenses import record_booking
from tools.group_members import chat_group, tell_group

log = logging.getLogger(__name__)
FULL_REFUND_BEFORE = timedelta(days=14)
HALF_REFUND_BEFORE = timedelta(hours=48)
REFUND_POLICY = "full refund up to 14 days before the show, 50% up to 48 hours before, none after that"


@dataclass(frozen=True)
class PaymentResult:
    """What the payment step did: paid now, or waiting for the person at a payment link."""

    status: Literal["paid", "pending"]
    note: str
    url: str | None = None


class PaymentProvider(Protocol):
    """Takes payment for a booking; a payment-link provider returns "pending" with the link to send."""

    name: str

    def charge(self, reference: str, amount_minor: int, currency: str, description: str) -> PaymentResult: ...


class DemoPayments:
    """Roadie's default payment step: marks the booking paid at once and says plainly that no card was charged."""

    name = "demo"

    def charge(self, reference: str, amount_minor: int, currency: str, description: str) -> PaymentResult:
        return PaymentResult("paid", "Payment: marked as paid by Roadie's demo payment step — no card was charged.")


PAYMENTS: PaymentProvider = DemoPayments()


def refund_for(booking: Booking, event: Event, now: datetime) -> tuple[int, str]:
    """The refund the policy gives for cancelling now, and the rule that applied."""
    if event.status == "cancelled":
        return booking.total_minor, "a full refund, as the show was cancelled"
    left = event.starts_at - now
    if left >= FULL_REFUND_BEFORE:
        return booking.total_minor, "a full refund, as the show is more than 14 days away"
    if left >= HALF_REFUND_BEFORE:
        return booking.total_minor // 2, "a 50% refund, as the show is between 14 days and 48 hours away"
    return 0, "no refund, as the show is less than 48 hours away"


def _own_quote(session: Session, ctx: TurnContext, reference: str | None) -> Quote | None:
    """The caller's quote by reference, else the one awaiting confirmation, else their latest in this conversation."""
    mine = select(Quote).where(Quote.person_id == ctx.caller.person_id)
    if reference:
        return session.scalars(mine.where(Quote.reference == normal_reference(reference))).first()
    pending = confirmation.pending_target(session, ctx, "book_trip")
    if pending:
        return session.scalars(mine.where(Quote.reference == pending)).first()
    recent = session.scalars(mine.where(Quote.reference.is_not(None)).order_by(Quote.id.desc()).limit(20))
    found = next((q for q in recent if (q.details or {}).get("conversation") == ctx.caller.conversation), None)
    party = chat_group(session, ctx) if found is None else None
    if party is not None:  # in a group's chat, the group's latest quote (only its organiser may book it)
        latest = session.scalars(select(Quote).where(Quote.reference.is_not(None)).order_by(Quote.id.desc()).limit(200))
        found = next((q for q in latest if (q.details or {}).get("group_id") == party.id), None)
    return found


def _take_inventory(session: Session, items: list[dict[str, Any]]) -> str | None:
    """Decrement every item's availability atomically; the name of the first item that ran out, if any."""
    for item in items:
        taken = session.execute(
            update(Offer)
            .where(Offer.id == item["offer_id"], Offer.available >= item["quantity"])
            .values(available=Offer.available - item["quantity"])
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return str(item.get("name", "part of the trip"))
    return None


def _return_inventory(session: Session, items: list[dict[str, Any]]) -> None:
    for item in items:
        session.execute(
            update(Offer).where(Offer.id == item["offer_id"]).values(available=Offer.available + item["quantity"])
        )


def _requote_button(quote: Quote) -> list[Button]:
    details = quote.details or {}
    if details.get("requote"):
        return [Button("Get a fresh quote", str(details["requote"]))]
    if not details.get("artist"):
        return []
    text = f"plan a trip to {details['artist']} in {details.get('city', '')} for {quote.travellers}"
    if details.get("origin"):
        text += f" from {details['origin']}"
    return [Button("Get a fresh quote", text)]


def share_itinerary(ctx: TurnContext, party: TripGroup, trip: str, quote: Quote) -> None:
    """The group's itinerary as a private document: members can ask about it, nobody else finds it."""
    library = ctx.services.library
    days = (quote.details or {}).get("itinerary") or []
    if library is None or not days:
        return
    text = (
        f"# Itinerary: {party.name}\n\n## The trip\n{trip.replace('**', '')}\n\n## Day by day (local times)\n"
        + "\n".join(line.replace("**", "") for line in days)
    )
    library.put(f"group/{party.id}/itinerary", text, group=party.id)


def flight_route(session: Session, items: list[dict[str, Any]]) -> str | None:
    """The first flight's airports ("LHR-LIS"): the route staff analytics groups bookings by; None without flights."""
    flight = next((i for i in items if i.get("kind") == "flight"), None)
    offer = session.get(Offer, flight["offer_id"]) if flight else None
    return f"{offer.origin}-{offer.destination}" if offer and offer.origin and offer.destination else None


def _trip_title(quote: Quote, event: Event) -> str:
    """What a quote covers in a few words: one show, or every show of a multi-show trip."""
    title = (quote.details or {}).get("title")
    if title:
        return f"the trip to **{title}** (first show {describe_when(event)})"
    return f"**{event.artist.name}** in {event.venue.city} ({describe_when(event)})"


@roadie_tool(
    summary="book a quoted trip (after you confirm)",
    write=True,
    examples=(
        "book it",
        "book this trip",
        "let's book that",
        "I'll take it",
        "go ahead and book the quote",
        "book quote Q-7KQ2MX",
        "reserve it for us",
        "buy the tickets",
        "confirm the booking",
        "book the trip please",
        "reservar",
        "buchen",
        "réserver ce voyage",
        "looks good, lock it in",
        "great, we'll take it",
        "perfect, book that for us",
        "resérvalo",
        "reserva eso por favor",
        "bitte buchen",
        "réserve-le",
        "pode reservar",
    ),
)
def book_trip(runtime: ToolRuntime[Any, Any], quote: str | None = None, confirm: bool = False) -> ToolAnswer:
    """Book a trip quote for the person. Two steps: call without confirm to ask the person; after they answer yes, call again with confirm=true.

    Never pass confirm=true unless the person's latest message said yes to this booking.

    Args:
        quote: The quote reference, e.g. "Q-7KQ2MX"; defaults to the quote being discussed.
        confirm: True only when the person has just said yes to the booking.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    with ctx.services.db.write_session() as session:
        found = _own_quote(session, ctx, quote)
        if found is None:
            what = f"a quote **{quote}** among yours" if quote else "a trip quote to book in this conversation"
            raise UserFacingError(
                f'I can\'t find {what}. Ask me to plan a trip first, e.g. "plan a trip to the Lisbon show for 2".'
            )
        found = session.scalars(select(Quote).where(Quote.id == found.id).with_for_update()).one()
        existing = session.scalars(select(Booking).where(Booking.quote_id == found.id)).first()
        if existing is not None:
            return ToolAnswer(
                f"That trip is already booked: reference **{existing.reference}** ({existing.status}).",
                data={"booking": existing.reference},
            )
        if found.expires_at <= now:
            raise UserFacingError(
                f"Quote **{found.reference}** expired — prices are only held for 30 minutes and may have changed. "
                "Shall I price it again?",
                buttons=_requote_button(found),
            )
        reference = found.reference or ""
        party = session.get(TripGroup, (found.details or {}).get("group_id") or 0)
        if party is not None and party.organiser_id != ctx.caller.person_id:
            raise UserFacingError(f"Only the organiser of **{party.name}** can book the group's trip.")
        if not (confirm and confirmation.claim(session, ctx, "book_trip", reference)):
            confirmation.ask(session, ctx, "book_trip", reference)
            event = session.get_one(Event, found.event_id, options=[joinedload(Event.artist), joinedload(Event.venue)])
            what = _trip_title(found, event)
            return ToolAnswer(
                f"Shall I book {what} for "
                f"{found.travellers} — **{money(ctx, found.total_minor, found.currency)}** in total, quote {reference}? "
                f"Cancellation policy: {REFUND_POLICY}. Reply **yes** to book or **no** to stop.",
                buttons=[Button("Yes, book it", "yes"), Button("No", "no")],
                data={"awaiting_confirmation": {"tool": "book_trip", "args": {"quote": reference}}},
            )
        sold_out = _take_inventory(session, found.items)
        if sold_out is not None:
            raise UserFacingError(
                f"Sorry — **{sold_out}** sold out before I could book it, so nothing was booked or charged. "
                "Want me to look for other options?",
                buttons=_requote_button(found),
                data={"sold_out": True},
            )
        event = session.get_one(Event, found.event_id, options=[joinedload(Event.artist), joinedload(Event.venue)])
        booking = Booking(
            reference=new_reference("RD"),
            idempotency_key=f"quote:{found.id}",
            person_id=ctx.caller.person_id,
            event_id=found.event_id,
            quote_id=found.id,
            travellers=found.travellers,
            tickets=sum(i["quantity"] for i in found.items if i["kind"] == "ticket"),
            total_minor=found.total_minor,
            commission_minor=round(found.total_minor * COMMISSION_RATE),
            currency=found.currency,
            status="confirmed",
            channel=ctx.caller.channel,
            route=flight_route(session, found.items),
            items=found.items,
            created_at=now,
            group_id=party.id if party is not None else None,
        )
        session.add(booking)
        try:
            session.flush()
        except IntegrityError:
            raise UserFacingError(
                'That trip was just booked from another message — say "my bookings" to see it.'
            ) from None
        payment = PAYMENTS.charge(booking.reference, booking.total_minor, booking.currency, f"{event.artist.name} trip")
        if payment.status == "paid":
            booking.status, booking.paid_at = "paid", now
        log_event(session, ctx, "booking", "book_trip", {"event_id": event.id, "booking": booking.reference})
        lines = [
            f"Booked! Reference **{booking.reference}** — {_trip_title(found, event)}, "
            f"{booking.travellers} traveller{'s' if booking.travellers > 1 else ''}.",
            f"Total {money(ctx, booking.total_minor, booking.currency)}. {payment.note}",
        ]
        if payment.url:
            lines.append(f"Pay here: {payment.url}")
        if party is not None:
            shares = record_booking(session, ctx, party, booking)
            share_itinerary(ctx, party, f"{_trip_title(found, event)}, reference {booking.reference}", found)
            each = sorted(set(shares.values()))
            lines.append(
                f"Shared in **{party.name}** between {len(shares)} going: "
                + " or ".join(format_money(a, party.currency) for a in each)
                + ' each, owed to you — see "group status".'
            )
            tell_group(
                session,
                ctx,
                party,
                "group_booked",
                Reply(
                    f"**{party.name}** is booked: {_trip_title(found, event)}, reference {booking.reference}. "
                    'Your share is in the group\'s balances ("group status").'
                ),
                f"booking:{booking.id}",
            )
        itinerary = (found.details or {}).get("itinerary") or []
        if itinerary:
            lines += ["Your itinerary (local times):", *itinerary]
        return ToolAnswer(
            "\n".join(lines),
            buttons=[Button("My bookings", "my bookings")],
            data={"booking": booking.reference, "status": booking.status},
        )


@roadie_tool(
    summary="list your bookings",
    examples=(
        "my bookings",
        "show my bookings",
        "what have I booked",
        "list my trips",
        "do I have any tickets booked",
        "my reservations",
        "upcoming trips",
        "what did I buy",
        "booking status",
        "mis reservas",
        "meine Buchungen",
        "mes réservations",
        "minhas reservas",
        "quais são as minhas viagens",
    ),
)
def list_bookings(runtime: ToolRuntime[Any, Any]) -> ToolAnswer:
    """List the person's own bookings: upcoming first, with reference, show, travellers, total and status."""
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    with ctx.services.db.session() as session:
        rows = list(
            session.scalars(
                select(Booking)
                .where(Booking.person_id == ctx.caller.person_id)
                .options(
                    joinedload(Booking.event).joinedload(Event.artist),
                    joinedload(Booking.event).joinedload(Event.venue),
                    joinedload(Booking.quote),
                )
                .order_by(Booking.created_at.desc())
                .limit(50)
            )
        )
    if not rows:
        return ToolAnswer(
            "You have no bookings yet. Find a show and I'll plan the trip.",
            buttons=[Button("Coldplay in Europe", "any Coldplay shows in Europe?")],
            data={"bookings": []},
        )
    upcoming = [b for b in rows if b.event is not None and b.event.starts_at >= now and b.status != "cancelled"]
    other = [b for b in rows if b not in upcoming]
    lines = [f"Your bookings ({len(rows)}):"]
    for b in [*sorted(upcoming, key=lambda b: b.event.starts_at), *other][:10]:
        event = b.event
        status = {"paid": "paid", "confirmed": "awaiting payment", "cancelled": "cancelled"}.get(b.status, b.status)
        refund = (
            f", refunded {money(ctx, b.refund_minor, b.currency)}" if b.status == "cancelled" and b.refund_minor else ""
        )
        title = (
            (b.quote.details or {}).get("title") if b.quote else None
        ) or f"{event.artist.name}, {event.venue.city}"
        lines.append(
            f"- **{b.reference}** · {title}, {describe_when(event)} · "
            f"{b.travellers} traveller{'s' if b.travellers > 1 else ''} · {money(ctx, b.total_minor, b.currency)} · {status}{refund}"
        )
    buttons = [Button(f"Cancel {b.reference}", f"cancel booking {b.reference}") for b in upcoming[:2]]
    return ToolAnswer("\n".join(lines), buttons=buttons, data={"bookings": [b.reference for b in rows[:10]]})


@roadie_tool(
    summary="cancel a booking (refund policy applies, after you confirm)",
    write=True,
    examples=(
        "cancel it",
        "cancel my booking",
        "cancel booking RD-7KQ2MX",
        "I can't go anymore, cancel the trip",
        "refund my tickets",
        "I want my money back",
        "cancel the Lisbon trip",
        "please cancel reservation RD00012",
        "cancelar mi reserva",
        "Buchung stornieren",
        "annuler ma réservation",
        "annule le voyage",
        "cancela a minha reserva",
    ),
)
def cancel_booking(runtime: ToolRuntime[Any, Any], reference: str | None = None, confirm: bool = False) -> ToolAnswer:
    """Cancel one of the person's bookings with the refund policy applied. Two steps like book_trip: ask, then confirm=true after yes.

    Args:
        reference: The booking reference, e.g. "RD-7KQ2MX"; defaults to the booking being discussed.
        confirm: True only when the person has just said yes to cancelling.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    with ctx.services.db.write_session() as session:
        mine = (
            select(Booking)
            .where(Booking.person_id == ctx.caller.person_id)
            .options(
                joinedload(Booking.event).joinedload(Event.artist), joinedload(Booking.event).joinedload(Event.venue)
            )
        )
        if reference:
            booking = session.scalars(mine.where(Booking.reference == normal_reference(reference))).first()
            if booking is None:
                raise UserFacingError(
                    f'I can\'t find a booking **{reference}** among yours — say "my bookings" to see them.'
                )
        else:
            pending = confirmation.pending_target(session, ctx, "cancel_booking")
            active = [
                b
                for b in session.scalars(mine.where(Booking.status != "cancelled").order_by(Booking.created_at.desc()))
                if b.event is not None and (b.event.starts_at > now or b.event.status == "cancelled")
            ]
            chosen = [b for b in active if b.reference == pending] or active
            if not chosen:
                raise UserFacingError("You have no upcoming bookings to cancel.")
            if len(chosen) > 1:
                raise UserFacingError(
                    "Which booking should I cancel?",
                    buttons=[
                        Button(f"{b.reference} · {b.event.artist.name}", f"cancel booking {b.reference}")
                        for b in chosen[:4]
                    ],
                )
            booking = chosen[0]
        event = booking.event
        if booking.status == "cancelled":
            return ToolAnswer(
                f"Booking **{booking.reference}** is already cancelled.", data={"booking": booking.reference}
            )
        if event.starts_at <= now and event.status != "cancelled":
            raise UserFacingError(
                f"The show for **{booking.reference}** has already happened, so it can't be cancelled."
            )
        refund, rule = refund_for(booking, event, now)
        if not (confirm and confirmation.claim(session, ctx, "cancel_booking", booking.reference)):
            confirmation.ask(session, ctx, "cancel_booking", booking.reference)
            return ToolAnswer(
                f"Cancel **{booking.reference}** — {event.artist.name}, {event.venue.city}, {describe_when(event)}? "
                f"You'd get **{money(ctx, refund, booking.currency)}** back — {rule}. Reply **yes** to cancel or **no** to keep it.",
                buttons=[Button("Yes, cancel it", "yes"), Button("Keep it", "no")],
                data={"awaiting_confirmation": {"tool": "cancel_booking", "args": {"reference": booking.reference}}},
            )
        cancelled = session.execute(
            update(Booking)
            .where(Booking.id == booking.id, Booking.status != "cancelled")
            .values(status="cancelled", cancelled_at=now, refund_minor=refund)
        )
        if cancelled.rowcount != 1:  # type: ignore[attr-defined]
            return ToolAnswer(
                f"Booking **{booking.reference}** is already cancelled.", data={"booking": booking.reference}
            )
        _return_inventory(session, booking.items)
        log_event(
            session, ctx, "cancellation", "cancel_booking", {"booking": booking.reference, "refund_minor": refund}
        )
        return ToolAnswer(
            f"Cancelled **{booking.reference}**. Refund: **{money(ctx, refund, booking.currency)}** — {rule}; "
            "it goes back the way you paid. The tickets, seats and rooms are released.",
            data={"booking": booking.reference, "refund_minor": refund},
        )
