"""Trips through conversation: follow, near me, plan, book after a yes, list, cancel — with the database's numbers."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from assistant.clock import FixedClock
from assistant.models import Artist, Booking, Event, Follow, Offer, Person, Quote, Venue
from assistant.money import format_money
from channels.fake import FakeChannel
from main import Roadie
from tests.conftest import NOW


def count(roadie: Roadie, model: type) -> int:
    with roadie.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def available(roadie: Roadie, offer_ids: list[int]) -> dict[int, int]:
    with roadie.services.db.session() as session:
        return dict(session.execute(select(Offer.id, Offer.available).where(Offer.id.in_(offer_ids))).all())


def artist_not_playing(roadie: Roadie, city: str) -> str:
    with roadie.services.db.session() as session:
        playing = select(Event.artist_id).join(Venue).where(Venue.city == city, Event.starts_at >= NOW)
        return session.scalars(select(Artist.name).where(Artist.id.not_in(playing)).order_by(Artist.name)).first() or ""


async def say(chat: FakeChannel, text: str, user: str = "ana") -> str:
    reply = await chat.say(text, user=user)
    assert reply is not None
    assert "went wrong" not in reply.text
    return reply.text


async def test_follow_near_me_plan_book_list_cancel(chat: FakeChannel, roadie: Roadie) -> None:
    assert "now following **Taylor Swift**" in await say(chat, "follow Taylor Swift")
    near = await say(chat, "when is she near me?")
    assert "which city you live in" in near
    nearest = await say(chat, "London")
    assert "Saved: home city **London**" in nearest
    assert "Nearest to London" in nearest

    plan = await chat.say("plan a trip to the Lisbon show for 2 from London")
    assert plan is not None
    reference = re.search(r"Quote \*\*(Q-[A-Z0-9]{6})\*\*", plan.text)
    assert reference, plan.text
    with roadie.services.db.session() as session:
        quote = session.scalars(select(Quote).where(Quote.reference == reference.group(1))).one()
        items = list(quote.items)
        assert quote.travellers == 2
        assert (
            quote.total_minor
            == sum(i["unit_minor"] * i["quantity"] for i in items) - (quote.details or {})["discount_minor"]
        )
    assert {i["kind"] for i in items} == {"ticket", "flight", "hotel"}
    assert f"**Total {format_money(quote.total_minor, 'EUR')}**" in plan.text
    assert "Itinerary (local times)" in plan.text
    assert "doors open at Estádio da Luz" in plan.text
    before = available(roadie, [i["offer_id"] for i in items])

    ask = await chat.say("book it")
    assert ask is not None
    assert "Reply **yes** to book" in ask.text
    assert count(roadie, Booking) == 1600, "nothing is booked before the yes"
    booked = await say(chat, ask.buttons[0].value)
    booking_ref = re.search(r"Reference \*\*(RD-[A-Z0-9]{6})\*\*", booked)
    assert booking_ref, booked
    after = available(roadie, [i["offer_id"] for i in items])
    assert all(after[i["offer_id"]] == before[i["offer_id"]] - i["quantity"] for i in items)

    listed = await say(chat, "my bookings")
    assert booking_ref.group(1) in listed
    assert "paid" in listed
    cancel = await say(chat, "cancel it")
    assert "full refund" in cancel
    assert "Reply **yes** to cancel" in cancel
    done = await say(chat, "yes")
    assert f"Cancelled **{booking_ref.group(1)}**" in done
    assert available(roadie, [i["offer_id"] for i in items]) == before
    with roadie.services.db.session() as session:
        booking = session.scalars(select(Booking).where(Booking.reference == booking_ref.group(1))).one()
        assert booking.status == "cancelled"
        assert booking.refund_minor == booking.total_minor


async def test_a_show_called_off_is_refunded_in_full_whenever_the_trip_is_cancelled(
    chat: FakeChannel, roadie: Roadie
) -> None:
    plan = await say(chat, "plan a trip to the Taylor Swift show in Lisbon for 2 from London")
    assert "Quote **Q-" in plan
    await say(chat, "book it")
    booked = await say(chat, "yes")
    found = re.search(r"Reference \*\*(RD-[A-Z0-9]{6})\*\*", booked)
    assert found, booked
    with roadie.services.db.write_session() as session:
        booking = session.scalars(select(Booking).where(Booking.reference == found.group(1))).one()
        booking.event.status = "cancelled"  # the venue called it off
        show = booking.event.starts_at
    clock = roadie.services.clock
    assert isinstance(clock, FixedClock)
    try:
        clock.set(show - timedelta(hours=30))  # inside 48 hours: normally no refund at all
        asked = await say(chat, f"cancel {found.group(1)}")
        assert "a full refund, as the show was cancelled" in asked
        done = await say(chat, "yes")
        assert f"Cancelled **{found.group(1)}**" in done
    finally:
        clock.set(NOW)
    with roadie.services.db.session() as session:
        booking = session.scalars(select(Booking).where(Booking.reference == found.group(1))).one()
        assert (booking.status, booking.refund_minor) == ("cancelled", booking.total_minor)


async def test_prices_follow_the_travellers_currency(chat: FakeChannel) -> None:
    assert "prices in **GBP**" in await say(chat, "show prices in pounds")
    plan = await say(chat, "plan a trip to Taylor Swift in Lisbon for 2 from Paris")
    assert "£" in plan
    assert "€" not in plan


async def test_group_discount_applies_from_ten_tickets(chat: FakeChannel) -> None:
    plan = await say(chat, "plan a trip to Taylor Swift in Lisbon for 12 people from Madrid")
    assert "Group discount, 5% off 12 tickets" in plan


async def test_unfollow_and_list_following(chat: FakeChannel, roadie: Roadie) -> None:
    await say(chat, "follow Coldplay")
    await say(chat, "follow Metallica")
    listed = await say(chat, "who do I follow?")
    assert "**Coldplay**" in listed
    assert "**Metallica**" in listed
    assert "no longer follow **Metallica**" in await say(chat, "unfollow Metallica")
    with roadie.services.db.session() as session:
        ana = session.scalars(select(Person).where(Person.display_name == "ana")).one()
        assert session.scalar(select(func.count()).select_from(Follow).where(Follow.person_id == ana.id)) == 1


async def test_bad_trip_requests_get_clear_answers_and_change_nothing(chat: FakeChannel, roadie: Roadie) -> None:
    quotes, bookings = count(roadie, Quote), count(roadie, Booking)
    assert "at least one traveller" in await say(chat, "plan a trip to Taylor Swift in Lisbon for 0 people from London")
    assert "up to 100 travellers" in await say(chat, "plan a trip to Taylor Swift in Lisbon for 500 people from London")
    absent = artist_not_playing(roadie, "Lisbon")
    assert f"couldn't find an upcoming {absent} date in Lisbon" in await say(
        chat, f"plan a trip to {absent} in Lisbon from London"
    )
    assert "in the past" in await say(chat, "plan a trip to Taylor Swift in Lisbon on 3 March 2025 from London")
    assert "I don't know an artist called" in await say(chat, "plan a trip to see Zorblax Quartet in Paris")
    assert "can't find a trip quote" in await say(chat, "book it")
    assert "can't find a booking **RD00012** among yours" in await say(chat, "cancel booking RD00012")
    assert (count(roadie, Quote), count(roadie, Booking)) == (quotes, bookings)


async def test_an_expired_quote_is_not_booked(chat: FakeChannel, roadie: Roadie) -> None:
    await say(chat, "plan a trip to Taylor Swift in Lisbon for 2 from London")
    clock = roadie.services.clock
    assert isinstance(clock, FixedClock)
    clock.set(NOW + timedelta(minutes=31))
    try:
        expired = await chat.say("book it")
        assert expired is not None
        assert "expired" in expired.text
        assert expired.buttons
        assert expired.buttons[0].label == "Get a fresh quote"
    finally:
        clock.set(NOW)
    assert count(roadie, Booking) == 1600


async def test_someone_elses_quote_cannot_be_booked(chat: FakeChannel, roadie: Roadie) -> None:
    plan = await say(chat, "plan a trip to Taylor Swift in Lisbon for 2 from London", user="ana")
    reference = re.search(r"Q-[A-Z0-9]{6}", plan)
    assert reference
    other = await say(chat, f"book quote {reference.group(0)}", user="ben")
    assert "can't find a quote" in other
    assert count(roadie, Booking) == 1600


async def test_no_then_yes_books_nothing_and_a_redelivered_yes_books_once(chat: FakeChannel, roadie: Roadie) -> None:
    await say(chat, "plan a trip to Taylor Swift in Lisbon for 2 from London")
    await say(chat, "book it")
    assert "haven't changed anything" in await say(chat, "no")
    await say(chat, "yes")
    assert count(roadie, Booking) == 1600

    await say(chat, "book it")
    first = await chat.say("yes", message_id="tg-update-77")
    again = await chat.say("yes", message_id="tg-update-77")
    assert first is not None
    assert "Booked!" in first.text
    assert again is None, "the platform redelivered the same message"
    later = await say(chat, "yes")
    assert "Booked!" not in later
    assert count(roadie, Booking) == 1601
