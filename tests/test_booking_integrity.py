"""Booking never oversells: 200 people say yes at once for 10 seats, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select, update

from assistant.clock import FixedClock
from assistant.models import Booking, Event, Offer, Venue
from assistant.settings import Settings
from channels.fake import FakeChannel
from knowledge.embeddings import Embedder
from main import start_roadie
from tests.conftest import NOW

PEOPLE = 200
SEATS = 10


async def two_hundred_yeses_for_ten_seats(settings: Settings, embedder: Embedder) -> None:
    async with start_roadie(settings, FixedClock(NOW), embedder) as roadie:
        db = roadie.services.db
        with db.session() as session:
            event = session.scalars(
                select(Event).join(Venue).where(Venue.city == "Lisbon", Event.starts_at > NOW).order_by(Event.starts_at)
            ).first()
            assert event is not None
            city, artist = event.venue.city, event.artist.name
            tickets = list(session.scalars(select(Offer).where(Offer.event_id == event.id, Offer.kind == "ticket")))
            session.execute(update(Offer).where(Offer.event_id == event.id).values(available=0))
            last = min(tickets, key=lambda o: o.price_minor)
            session.execute(update(Offer).where(Offer.id == last.id).values(available=SEATS))
            bookings_before = session.scalar(select(func.count()).select_from(Booking))
        chat = FakeChannel(roadie.service.handle)
        people = [f"fan{i}" for i in range(PEOPLE)]
        for person in people:  # each fan gets a quote and is asked to confirm
            quote = await chat.say(f"plan a trip to {artist} in {city} for 1 from {city}", user=person)
            assert quote is not None
            assert "Quote **Q-" in quote.text, quote.text
            ask = await chat.say("book it", user=person)
            assert ask is not None
            assert "Reply **yes**" in ask.text

        answers = await asyncio.gather(*(chat.say("yes", user=person) for person in people))

        texts = [a.text for a in answers if a is not None]
        assert len(texts) == PEOPLE
        assert sum("Booked!" in t for t in texts) == SEATS
        others = [t for t in texts if "Booked!" not in t and "sold out before I could book it" not in t]
        assert not others, others[:3]
        assert not [t for t in texts if "went wrong" in t]
        with db.session() as session:
            assert session.scalar(select(Offer.available).where(Offer.id == last.id)) == 0
            made = session.scalar(select(func.count()).select_from(Booking)) - (bookings_before or 0)
            assert made == SEATS


async def test_no_oversell_on_sqlite(settings: Settings, embedder: Embedder) -> None:
    await two_hundred_yeses_for_ten_seats(settings, embedder)


async def test_no_oversell_on_postgresql(
    postgres_database: str, tmp_path: Path, seeded_template: Path, embedder: Embedder
) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=postgres_database, memory_url="", llm_base_url="", openai_api_key=""
    )  # type: ignore[arg-type]
    await two_hundred_yeses_for_ten_seats(settings, embedder)
