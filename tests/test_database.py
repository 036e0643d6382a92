"""The schema: the same Alembic migrations on SQLite and PostgreSQL, and a deterministic demo catalogue."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, inspect, select, text

from assistant.catalogue import ARTISTS, VENUES
from assistant.db import Database
from assistant.models import Artist, Base, Event, Offer, PricePoint, Venue
from assistant.seed import seed
from tests.conftest import NOW

REQUIRED_CITIES = {
    "London",
    "Manchester",
    "Dublin",
    "Paris",
    "Brussels",
    "Amsterdam",
    "Berlin",
    "Munich",
    "Vienna",
    "Prague",
    "Warsaw",
    "Copenhagen",
    "Stockholm",
    "Zurich",
    "Milan",
    "Rome",
    "Madrid",
    "Barcelona",
    "Lisbon",
    "New York",
    "Chicago",
    "Los Angeles",
    "Toronto",
    "Mexico City",
    "São Paulo",
    "Tokyo",
    "Seoul",
    "Sydney",
    "Singapore",
    "Dubai",
}


def tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_migrations_create_every_model_table_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.sqlite'}")
    db.migrate()
    db.migrate()  # idempotent
    assert {t.name for t in Base.metadata.sorted_tables} <= tables(db)
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_same_migrations_and_seed_run_on_postgresql(postgres_database: str) -> None:
    db = Database(postgres_database)
    db.migrate()
    assert {t.name for t in Base.metadata.sorted_tables} <= tables(db)
    counts = seed(db, NOW)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == counts["events"]
    db.dispose()


def test_demo_catalogue_is_deterministic_and_complete(tmp_path: Path) -> None:
    first, second = (Database(f"sqlite:///{tmp_path / name}") for name in ("a.sqlite", "b.sqlite"))
    for db in (first, second):
        db.migrate()
        seed(db, NOW)

    def snapshot(db: Database) -> list[tuple[str, str, str]]:
        with db.session() as session:
            rows = session.execute(
                select(Artist.name, Venue.name, Event.starts_at).join(Event.artist).join(Event.venue).order_by(Event.id)
            )
            return [(a, v, str(s)) for a, v, s in rows]

    assert snapshot(first) == snapshot(second)
    with first.session() as session:
        assert set(session.scalars(select(Artist.name))) == {a.name for a in ARTISTS}
        assert set(session.scalars(select(Venue.city))) == REQUIRED_CITIES
        starts = list(session.scalars(select(Event.starts_at).where(Event.starts_at > NOW)))
        assert min(starts) - NOW < timedelta(days=45)
        assert max(starts) - NOW > timedelta(days=300)
        assert max(starts) - NOW < timedelta(days=366)
        for kind in ("ticket", "flight", "hotel"):
            assert session.scalar(select(func.count()).select_from(Offer).where(Offer.kind == kind))
        assert session.scalar(select(func.count()).select_from(PricePoint)) > 10_000
    assert len(VENUES) >= 30


def test_flight_prices_rise_as_departure_nears_like_real_fares(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.sqlite'}")
    db.migrate()
    seed(db, NOW)
    with db.session() as session:
        soon = session.scalars(select(Offer).where(Offer.kind == "flight").order_by(Offer.departs_at)).first()
        assert soon is not None
        history = list(
            session.scalars(
                select(PricePoint.price_minor).where(PricePoint.offer_id == soon.id).order_by(PricePoint.observed_at)
            )
        )
    assert history[-1] > history[0], "a flight days away costs more than it did weeks ago"
