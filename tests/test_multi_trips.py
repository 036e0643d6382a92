"""Several shows in one trip, through conversation: date order, flights between cities, conflicts, the saving, booking."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select, update

from assistant.models import Artist, Booking, Event, Offer, Quote, Venue
from assistant.money import format_money
from channels.fake import FakeChannel
from main import Roadie
from tests.conftest import NOW
from tests.test_trips import available, count, say

TOTAL = re.compile(r"\*\*Total (€[\d,]+)\*\*")
QUOTE = re.compile(r"Quote \*\*(Q-[A-Z0-9]{6})\*\*")


def show(roadie: Roadie, artist: str, city: str) -> Event:
    with roadie.services.db.session() as session:
        return session.scalars(
            select(Event)
            .join(Artist)
            .join(Venue)
            .where(Artist.name == artist, Venue.city == city, Event.starts_at >= NOW)
        ).one()


def quotes(roadie: Roadie) -> int:
    return count(roadie, Quote)


async def test_two_shows_become_one_trip_in_date_order_and_book_once(chat: FakeChannel, roadie: Roadie) -> None:
    munich, brussels = show(roadie, "Metallica", "Munich"), show(roadie, "Coldplay", "Brussels")
    assert munich.starts_at < brussels.starts_at

    plan = await say(chat, "Coldplay in Brussels and Metallica in Munich — one trip for 2 from London")
    assert plan.startswith(
        "A 2-show trip for 2 travellers from London: Metallica in Munich (26 May) → Coldplay in Brussels (28 May)"
    )
    reference = QUOTE.search(plan)
    assert reference, plan
    with roadie.services.db.session() as session:
        quote = session.scalars(select(Quote).where(Quote.reference == reference.group(1))).one()
        items = list(quote.items)
        offers = {o.id: o for o in session.scalars(select(Offer).where(Offer.id.in_([i["offer_id"] for i in items])))}
    assert (
        quote.total_minor
        == sum(i["unit_minor"] * i["quantity"] for i in items) - (quote.details or {})["discount_minor"]
    )
    assert f"**Total {format_money(quote.total_minor, 'EUR')}**" in plan
    tickets = [offers[i["offer_id"]] for i in items if i["kind"] == "ticket"]
    assert [t.event_id for t in tickets] == [munich.id, brussels.id]
    flights = [offers[i["offer_id"]] for i in items if i["kind"] == "flight"]
    assert [(f.origin, f.destination) for f in flights] == [("LHR", "MUC"), ("MUC", "BRU"), ("BRU", "LHR")]
    on = flights[1]
    assert on.departs_at is not None
    assert on.arrives_at is not None
    assert on.departs_at > munich.starts_at, "the hop leaves after the first show"
    assert on.arrives_at < brussels.doors_at, "and lands before the second"
    assert len([i for i in items if i["kind"] == "hotel"]) == 2
    itinerary = plan[plan.index("Itinerary") :]
    assert (
        itinerary.index("Metallica on stage") < itinerary.index("fly MUC → BRU") < itinerary.index("Coldplay on stage")
    )

    # The saving is measured against the same two shows booked as separate trips.
    separate = re.search(
        r"Booked as 2 separate trips from London it would be (€[\d,]+) — this plan saves \*\*(€[\d,]+)\*\*", plan
    )
    assert separate, plan
    alone = [
        TOTAL.search(await say(chat, f"plan a trip to {a} in {c} for 2 from London"))
        for a, c in (("Metallica", "Munich"), ("Coldplay", "Brussels"))
    ]
    euros = [int(m.group(1).strip("€").replace(",", "")) for m in alone if m]
    assert format_money(sum(euros) * 100, "EUR") == separate.group(1)
    assert format_money((sum(euros) * 100) - quote.total_minor, "EUR") == separate.group(2)

    before = available(roadie, [i["offer_id"] for i in items])
    ask = await say(chat, f"book quote {reference.group(1)}")
    assert "Metallica in Munich + Coldplay in Brussels" in ask
    assert "Reply **yes**" in ask
    booked = await say(chat, "yes")
    assert booked.startswith("Booked! Reference **RD-")
    assert await say(chat, "yes") != booked, "a second yes books nothing more"
    after = available(roadie, [i["offer_id"] for i in items])
    assert all(after[i["offer_id"]] == before[i["offer_id"]] - i["quantity"] for i in items)
    with roadie.services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Booking).where(Booking.quote_id == quote.id)) == 1
    assert "Metallica in Munich + Coldplay in Brussels" in await say(chat, "my bookings")


async def test_a_follow_up_changes_the_party_and_keeps_the_shows(chat: FakeChannel) -> None:
    await say(chat, "I live in Paris")
    first = await say(chat, "see Metallica in Munich then Coldplay in Brussels")
    assert "for 1 traveller from Paris" in first
    bigger = await say(chat, "what about for 10 of us")
    assert "A 2-show trip for 10 travellers from Paris: Metallica in Munich" in bigger
    assert "Group discount, 5% off 20 tickets" in bigger


async def test_two_shows_on_the_same_night_are_a_conflict(chat: FakeChannel, roadie: Roadie) -> None:
    before = quotes(roadie)
    answer = await chat.say("Coldplay and Taylor Swift in Stockholm in one trip")
    assert answer is not None
    assert "are both on Sun 17 Oct 2027 — nobody can be at both" in answer.text
    assert [b.label for b in answer.buttons] == ["Only Stockholm, 17 Oct", "Only Stockholm, 17 Oct"]
    assert "Coldplay" in answer.buttons[0].value
    assert "Taylor Swift" in answer.buttons[1].value
    assert quotes(roadie) == before


async def test_no_flight_in_time_between_shows_is_a_conflict(chat: FakeChannel, roadie: Roadie) -> None:
    munich, brussels = show(roadie, "Metallica", "Munich"), show(roadie, "Coldplay", "Brussels")
    with roadie.services.db.session() as session:
        morning = munich.starts_at + timedelta(hours=13)  # 09:00 in Brussels, the morning after Munich
        session.execute(
            update(Event)
            .where(Event.id == brussels.id)
            .values(starts_at=morning, doors_at=morning - timedelta(hours=1))
        )
    before = quotes(roadie)
    answer = await say(chat, "Metallica in Munich then Coldplay in Brussels, one trip for 2 from London")
    assert "I can't get you from Munich" in answer
    assert "to Brussels" in answer
    assert "in time" in answer
    assert quotes(roadie) == before


async def test_bad_multi_show_requests_get_clear_answers_and_change_nothing(chat: FakeChannel, roadie: Roadie) -> None:
    before = quotes(roadie)
    assert "Which shows should the trip cover?" in await say(chat, "plan a multi-city concert trip")
    assert "I don't know a city called **Atlantis**" in await say(
        chat, "Coldplay in Brussels then Metallica in Atlantis, one trip"
    )
    assert "at least one traveller" in await say(
        chat, "Metallica in Munich then Coldplay in Brussels, one trip for 0 people from London"
    )
    none = await say(chat, "Coldplay in Brussels and Metallica in Munich in one trip in March 2027 from London")
    assert "I couldn't find an upcoming show for" in none
    assert quotes(roadie) == before
