"""Book now or wait, price watches and demand forecasts, through conversation — with the database's numbers."""

from __future__ import annotations

import pickle
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from assistant.messages import Reply
from assistant.models import Event, Offer, OutboxMessage, Person, PricePoint, PriceWatch, Venue
from assistant.money import format_money
from channels.fake import FakeChannel
from main import Roadie
from tests.conftest import NOW
from tools import pricing
from tools.dynamic_pricing import CAP_DOWN, CAP_UP, reprice_tickets
from tools.price_watches import check_price_watches
from tools.pricing import forecasters


@pytest.fixture(autouse=True)
def trained(roadie: Roadie) -> None:
    """The models for the demo history (trained once per run, in the background in real use)."""
    assert forecasters(roadie.services.db, roadie.services.settings.data_dir) is not None


async def say(chat: FakeChannel, text: str, user: str = "ana", role: str = "traveller") -> Reply:
    reply = await chat.say(text, user=user, role=role)  # type: ignore[arg-type]
    assert reply is not None
    assert "went wrong" not in reply.text, reply.text
    return reply


def outbound_flight(roadie: Roadie, artist: str, city: str, origin: str) -> Offer:
    """The cheapest bookable flight from `origin` to the show, as the tools pick it."""
    with roadie.services.db.session() as session:
        airports = set(session.scalars(select(Venue.airport).where(Venue.city == origin)))
        event_id = session.scalars(
            select(Event.id)
            .join(Event.artist)
            .join(Event.venue)
            .where(Venue.city == city, Event.starts_at > NOW)
            .where(Event.artist.has(name=artist))
            .order_by(Event.starts_at)
        ).first()
        return session.scalars(
            select(Offer)
            .where(Offer.kind == "flight", Offer.event_id == event_id, Offer.origin.in_(airports), Offer.available > 0)
            .order_by(Offer.price_minor, Offer.id)
        ).first()


async def test_should_i_book_the_flight_to_lisbon_gets_numbers_and_a_confidence(
    chat: FakeChannel, roadie: Roadie
) -> None:
    await say(chat, "I live in London")
    reply = await say(chat, "Should I book the flight to Lisbon for the Taylor Swift show now?")
    flight = outbound_flight(roadie, "Taylor Swift", "Lisbon", "London")
    assert f"flight {flight.name} LHR → LIS" in reply.text
    assert f"Now: **{format_money(flight.price_minor, 'EUR')}** per seat" in reply.text
    assert "Next 14 days (my forecast, 80% range)" in reply.text
    assert re.search(r"Confidence: \*\*(high|medium|low)\*\*", reply.text)
    assert re.search(r"\*\*(Book now|Wait|Keep an eye on it)\*\*", reply.text)
    assert "Based on 6 prices seen" in reply.text
    assert [c.name for c in reply.tool_calls] == ["forecast_price"]
    with roadie.services.db.session() as session:
        seen = session.scalar(select(func.count()).select_from(PricePoint).where(PricePoint.offer_id == flight.id))
    assert seen == 6, "five weeks of weekly fares and today's"


async def test_a_forecast_is_in_the_travellers_currency(chat: FakeChannel) -> None:
    await say(chat, "show prices in pounds")
    reply = await say(chat, "will Coldplay tickets in Brussels get cheaper?")
    assert "£" in reply.text
    assert "€" not in reply.text


async def test_no_history_no_made_up_number(chat: FakeChannel, roadie: Roadie) -> None:
    just_announced = await say(chat, "book now or wait for Taylor Swift tickets in Lisbon?")
    assert "Not enough price history to forecast this yet" in just_announced.text
    assert "only seen its price 1 time" in just_announced.text
    assert "Now: **€" in just_announced.text, "the current price instead"
    assert "Next 14 days" not in just_announced.text
    hotel = await say(chat, "will the hotel for Coldplay in Brussels get cheaper?")
    assert "hotel prices aren't tracked over time" in hotel.text
    assert "a night" in hotel.text
    await say(chat, "I live in London")
    nowhere = await say(chat, "should I book the flight from London to Paris on 12 March 2027 now?")
    assert "no flights from London to Paris on Fri 12 March" in nowhere.text
    assert nowhere.buttons, "the days that do have flights"
    past = await say(chat, "will the price of the flight from London to Paris on 3 March 2025 go down?")
    assert "in the past" in past.text


async def test_book_now_or_wait_after_planning_covers_the_whole_quote(chat: FakeChannel) -> None:
    await say(chat, "plan a trip to Coldplay in Munich for 2 from London")
    reply = await say(chat, "should I book now or wait?")
    assert re.search(r"your quote \*?\*?Q-[A-Z0-9]{6}", reply.text) or "your quote Q-" in reply.text
    assert "Munich City Inn ×2" in reply.text
    assert "no forecast: hotel prices" in reply.text
    assert "The quote holds today's prices" in reply.text
    assert reply.buttons[0].label == "Book it"


async def test_watch_a_price_then_hear_once_when_it_drops(chat: FakeChannel, roadie: Roadie) -> None:
    await say(chat, "I live in London")
    asked = await say(chat, "watch the price of the Coldplay tickets in Brussels")
    assert "Below what price should I tell you?" in asked.text
    watching = await say(chat, "under €150")
    assert "I'll tell you when it drops under **€150**" in watching.text
    again = await say(chat, "tell me if Coldplay tickets in Brussels drop under €140")
    assert "Updated" in again.text
    flight = await say(chat, "tell me if the flight to Lisbon for Taylor Swift drops under €100")
    assert "€100" in flight.text
    listed = await say(chat, "what prices am I watching?")
    assert "tickets for Coldplay in Brussels" in listed.text
    assert "under **€140**" in listed.text
    assert "flight LHR → LIS" in listed.text
    with roadie.services.db.session() as session:
        ana = session.scalars(select(Person).where(Person.display_name == "ana")).one()
        watches = list(session.scalars(select(PriceWatch).where(PriceWatch.person_id == ana.id)))
        assert len(watches) == 2, "a second target for the same tickets updates the watch"
        ticket_watch = next(w for w in watches if w.kind == "ticket")
        assert (ticket_watch.target_minor, ticket_watch.currency) == (14_000, "EUR")
        cheapest = session.scalars(
            select(Offer)
            .where(Offer.event_id == ticket_watch.event_id, Offer.kind == "ticket", Offer.available > 0)
            .order_by(Offer.price_minor)
        ).first()
        assert cheapest is not None
        offer_id = cheapest.id

    def drop_to(price: int) -> int:
        with roadie.services.db.write_session() as session:
            session.execute(update(Offer).where(Offer.id == offer_id).values(price_minor=price))
            check_price_watches(session, NOW)
            return int(
                session.scalar(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "price_drop")
                )
                or 0
            )

    assert drop_to(14_500) == 0, "still above the target"
    assert drop_to(13_500) == 1
    assert drop_to(13_500) == 1, "the same price is told once"
    assert drop_to(13_900) == 1, "a rise back (still under) is not news"
    assert drop_to(12_000) == 2, "a lower price is"
    with roadie.services.db.session() as session:
        alert = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "price_drop")).first()
        assert alert is not None
        assert "Price drop" in alert.payload["text"]
        assert "€135" in alert.payload["text"]

    stopped = await say(chat, "stop watching the Lisbon flight")
    assert "Stopped watching **flight LHR → LIS" in stopped.text
    assert "tickets for Coldplay" not in stopped.text
    left = await say(chat, "my price alerts")
    assert "flight LHR" not in left.text


async def test_a_price_already_under_the_target_is_not_watched(chat: FakeChannel, roadie: Roadie) -> None:
    reply = await say(chat, "tell me if Coldplay tickets in Brussels drop under €900")
    assert "already" in reply.text
    assert reply.buttons
    assert reply.buttons[0].label == "Plan the trip"
    with roadie.services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(PriceWatch)) == 0


async def test_watches_end_with_their_show_and_respect_alert_settings(chat: FakeChannel, roadie: Roadie) -> None:
    await say(chat, "tell me if Coldplay tickets in Brussels drop under €150")
    await say(chat, "turn off price alerts")
    with roadie.services.db.write_session() as session:
        watch = session.scalars(select(PriceWatch)).one()
        session.execute(update(Offer).where(Offer.event_id == watch.event_id).values(price_minor=5_000))
        report = check_price_watches(session, NOW)
        assert report.queued == 0
        assert report.skipped == {"turned off": 1}
        event = session.get_one(Event, watch.event_id)
        check_price_watches(session, event.starts_at + timedelta(hours=1))
        assert watch.active is False


async def test_demand_forecasts_are_for_staff(chat: FakeChannel) -> None:
    one = await say(chat, "forecast demand for Coldplay in Munich", user="sam", role="staff")
    assert "**Demand for Coldplay in Munich**" in one.text
    assert re.search(r"Expected Roadie bookings in the next 4 weeks: \*\*\d+\.\d\*\* \(80% range \d+–\d+\)", one.text)
    assert "Sell-through now" in one.text
    assert "Drivers" in one.text
    many = await say(chat, "which shows will sell best in the coming weeks?", user="sam", role="staff")
    assert "| show | date | expected (80%) | sold now |" in many.text
    route = await say(chat, "demand on the London to Paris route", user="sam", role="staff")
    assert "**Demand London → Paris" in route.text
    traveller = await say(chat, "forecast demand for Coldplay in Munich")
    assert "Expected Roadie bookings" not in traveller.text


async def test_ticket_prices_move_by_the_rules_once_a_day(roadie: Roadie) -> None:
    db = roadie.services.db
    with db.session() as session:
        before = dict(session.execute(select(Offer.id, Offer.price_minor).where(Offer.kind == "ticket")).all())
        points = session.scalar(select(func.count()).select_from(PricePoint))
    tomorrow = NOW + timedelta(days=1)
    with db.write_session() as session:
        first = reprice_tickets(session, tomorrow)
    with db.write_session() as session:
        second = reprice_tickets(session, tomorrow + timedelta(hours=2))
    assert first.sections > 100
    assert first.raised + first.lowered > 0
    assert second.sections == 0, "at most one move a day"
    with db.session() as session:
        after = session.execute(select(Offer.id, Offer.price_minor, Offer.details).where(Offer.kind == "ticket")).all()
        added = session.scalar(select(func.count()).select_from(PricePoint)) - points
    assert added == first.sections
    for offer_id, price, details in after:
        face = details["face_value_minor"]
        assert face * (1 - CAP_DOWN) - 100 <= price <= face * (1 + CAP_UP)
        if price != before[offer_id]:
            assert abs(price - before[offer_id]) >= 0.01 * before[offer_id]


async def test_models_are_trained_once_and_kept_on_disk(roadie: Roadie) -> None:
    db, data_dir = roadie.services.db, roadie.services.settings.data_dir
    first = forecasters(db, data_dir)
    assert forecasters(db, data_dir) is first, "kept in memory"
    assert set(first.models) == {"flight", "ticket"}
    saved = data_dir / "models" / f"price-forecast-{first.fingerprint}.pickle"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_bytes(pickle.dumps(first))  # as another process (seed) left it
    pricing._cache.pop(first.fingerprint)
    try:
        loaded = forecasters(db, data_dir)
        assert loaded is not first, "read from disk, not trained again"
        assert (loaded.fingerprint, set(loaded.models)) == (first.fingerprint, {"flight", "ticket"})
    finally:
        pricing._cache[first.fingerprint] = first


async def test_while_the_models_train_the_answer_is_the_current_price(
    chat: FakeChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pricing, "forecasters", lambda *args, **kwargs: None)
    reply = await say(chat, "will Coldplay tickets in Brussels get cheaper?")
    assert "still learning from the price history" in reply.text
    assert "Now: **€158** per ticket" in reply.text
