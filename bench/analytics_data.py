"""Benchmark data for staff analytics: a million bookings and five million log events, generated in bulk.

The demo catalogue is seeded first (artists, venues, 310 shows, the demo history), then more shows,
people, bookings, the assistant's log and sent alerts are drawn with numpy from a fixed seed and loaded
in time order (as a live database fills up), in chunks: executemany on SQLite, COPY on PostgreSQL.
Memory stays bounded by the chunk size plus a few numpy columns per table (about 1 GB at 5M events).

Used by bench/analytics_metrics.py; `python bench/analytics_data.py --sqlite FILE` only generates.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.catalogue import VENUES
from assistant.db import Database
from assistant.models import Artist, Event, Offer, Person, Venue
from assistant.seed import SECTIONS, seed

CHANNELS = np.array(["web", "telegram", "whatsapp", "slack"])
CHANNEL_SHARE = [0.34, 0.3, 0.3, 0.06]
CHUNK = 100_000
US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class Sizes:
    """How much to generate; the defaults are the issue's: 1,000,000 bookings and 5,000,000 log events."""

    bookings: int = 1_000_000
    events: int = 5_000_000
    people: int = 200_000
    shows: int = 3_000
    alerts: int = 200_000
    days: int = 730  # of history before "now"


def _moments(rng: np.random.Generator, n: int, now: datetime, days: int) -> np.ndarray[Any, Any]:
    """`n` sorted moments over the last `days` days, busier lately (a business that grows)."""
    start = np.datetime64(now.replace(tzinfo=None), "us") - np.timedelta64(days * US_PER_DAY, "us")
    offsets = (np.sqrt(rng.random(n)) * days * US_PER_DAY).astype("int64")
    offsets.sort()
    return start + offsets.astype("timedelta64[us]")


def _text(moments: np.ndarray[Any, Any], postgres: bool) -> np.ndarray[Any, Any]:
    """Timestamps as each engine stores them (SQLite: naive UTC text; PostgreSQL: with the zone)."""
    out = np.char.replace(np.datetime_as_string(moments, unit="us"), "T", " ")
    return np.char.add(out, "+00") if postgres else out


def _load(db: Database, table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> int:
    """Bulk-insert `rows` (already in time order) in chunks; returns how many."""
    count = 0
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if db.is_sqlite:
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(row)
                if len(batch) == CHUNK:
                    cursor.execute("BEGIN")
                    cursor.executemany(sql, batch)
                    cursor.execute("COMMIT")
                    count += len(batch)
                    batch = []
            if batch:
                cursor.execute("BEGIN")
                cursor.executemany(sql, batch)
                cursor.execute("COMMIT")
                count += len(batch)
        else:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
                    count += 1
            raw.commit()
    finally:
        raw.close()
    return count


def generate(db: Database, now: datetime, sizes: Sizes = Sizes(), seed_value: int = 7) -> dict[str, float]:
    """Fill a migrated, empty database; returns row counts and seconds per step."""
    rng = np.random.default_rng(seed_value)
    postgres = not db.is_sqlite
    report: dict[str, float] = {}
    started = time.perf_counter()
    seed(db, now)
    report["seed_s"] = time.perf_counter() - started

    # More shows (with ticket sections), over the history and the year ahead.
    step = time.perf_counter()
    with db.session() as session:
        artists = list(session.scalars(select(Artist.id)))
        venues = list(session.execute(select(Venue.id, Venue.capacity)))
        base = datetime(now.year, now.month, now.day, 20, tzinfo=UTC)
        shows = []
        for _ in range(sizes.shows):
            starts = base + timedelta(days=int(rng.integers(-sizes.days, 365)))
            venue_id, _ = venues[int(rng.integers(len(venues)))]
            shows.append(
                {
                    "artist_id": artists[int(rng.integers(len(artists)))],
                    "venue_id": venue_id,
                    "tour_name": "Benchmark tour",
                    "starts_at": starts,
                    "doors_at": starts - timedelta(hours=2),
                    "status": "scheduled" if starts > now else "completed",
                    "announced_at": starts - timedelta(days=300),
                }
            )
        ids = list(session.scalars(insert(Event).returning(Event.id, sort_by_parameter_order=True), shows))
        capacity = dict(venues)
        offers = []
        for event_id, show in zip(ids, shows, strict=True):
            sold = float(rng.uniform(0.3, 0.99)) if show["starts_at"] > now else 1.0
            for section, share, factor in SECTIONS:
                seats = max(20, int(capacity[show["venue_id"]] * share))
                offers.append(
                    {
                        "kind": "ticket",
                        "event_id": event_id,
                        "name": section,
                        "price_minor": int(9000 * factor),
                        "capacity": seats,
                        "available": int(seats * (1 - sold)),
                        "details": {},
                    }
                )
        session.execute(insert(Offer), offers)
        events = session.execute(select(Event.id, Event.starts_at).order_by(Event.starts_at)).all()
        first_person = int(session.scalar(select(func.max(Person.id))) or 0) + 1
    event_ids = np.array([e for e, _ in events])
    event_starts = np.array([s.replace(tzinfo=None) for _, s in events], dtype="datetime64[us]")
    report["shows"] = len(shows)
    report["shows_s"] = time.perf_counter() - step

    # People, who first wrote over the history.
    step = time.perf_counter()
    joined = _text(_moments(rng, sizes.people, now, sizes.days + 30), postgres)
    report["people"] = _load(
        db,
        "person",
        ("display_name", "role", "currency", "usual_travellers", "notify", "community_opt_in", "created_at"),
        ((f"Bench {i}", "traveller", "EUR", 1, "{}", False, joined[i]) for i in range(sizes.people)),
    )
    people = np.arange(first_person, first_person + sizes.people)
    report["people_s"] = time.perf_counter() - step

    # Bookings for shows on sale at the time (up to 300 days ahead), 6% cancelled within 30 days of booking — those
    # whose cancellation would come after "now" are not cancelled yet.
    step = time.perf_counter()
    n = sizes.bookings
    made = _moments(rng, n, now, sizes.days)
    low = np.searchsorted(event_starts, made)
    high = np.searchsorted(event_starts, made + np.timedelta64(300 * US_PER_DAY, "us"))
    pick = np.minimum(low + (rng.random(n) * np.maximum(high - low, 1)).astype(int), len(event_ids) - 1)
    tickets = rng.integers(1, 5, n)
    flights = rng.random(n) < 0.7
    total = tickets * rng.integers(50, 300, n) * 100 + flights * rng.integers(100, 600, n) * 100
    now_us = np.datetime64(now.replace(tzinfo=None), "us")
    cancelled_at = made + (rng.random(n) * 30 * US_PER_DAY).astype("timedelta64[us]")
    cancelled = (rng.random(n) < 0.06) & (cancelled_at < now_us)
    refund = np.where(cancelled, np.where(rng.random(n) < 0.7, total, total // 2), 0)
    airports = np.array(sorted({v.airport for v in VENUES}))
    origin, destination = rng.integers(0, len(airports), n), rng.integers(0, len(airports), n)
    routes = np.char.add(np.char.add(airports[origin], "-"), airports[destination])
    channel = rng.choice(CHANNELS, n, p=CHANNEL_SHARE)
    who = rng.choice(people, n)
    made_text, cancelled_text = _text(made, postgres), _text(cancelled_at, postgres)

    def bookings() -> Iterator[tuple[Any, ...]]:
        for i in range(n):
            gone = bool(cancelled[i])
            yield (
                f"B{i:07d}",
                f"bench-{i}",
                int(who[i]),
                int(event_ids[pick[i]]),
                int(tickets[i]),
                int(tickets[i]),
                int(total[i]),
                round(int(total[i]) * 0.08),
                int(refund[i]),
                "EUR",
                "cancelled" if gone else "paid",
                str(channel[i]),
                str(routes[i]) if flights[i] and origin[i] != destination[i] else None,
                "[]",
                made_text[i],
                made_text[i],
                cancelled_text[i] if gone else None,
            )

    report["bookings"] = _load(
        db,
        "booking",
        (
            "reference",
            "idempotency_key",
            "person_id",
            "event_id",
            "travellers",
            "tickets",
            "total_minor",
            "commission_minor",
            "refund_minor",
            "currency",
            "status",
            "channel",
            "route",
            "items",
            "created_at",
            "paid_at",
            "cancelled_at",
        ),
        bookings(),
    )
    report["bookings_s"] = time.perf_counter() - step

    # The assistant's log: a booking row per booking, then quotes, searches and turns (with latency).
    step = time.perf_counter()
    others = max(0, sizes.events - n)
    kinds = np.concatenate(
        [np.full(n, 0), rng.choice([1, 2, 3], others, p=[0.32, 0.34, 0.34])]
    )  # booking, quote, search, turn
    moments = np.concatenate([made, _moments(rng, others, now, sizes.days)])
    order = np.argsort(moments, kind="stable")
    kinds, moments = kinds[order], moments[order]
    total_events = len(kinds)
    persons = np.concatenate([who, rng.choice(people, others)])[order]
    channels = np.concatenate([channel, rng.choice(CHANNELS, others, p=CHANNEL_SHARE)])[order]
    latency = np.clip(rng.lognormal(np.log(45), 0.6, total_events), 5, 20_000).astype(int)
    ok = rng.random(total_events) >= 0.03
    tooled = rng.random(total_events) < 0.8
    when = _text(moments, postgres)
    names = ("booking", "quote", "search", "turn")
    tools = ('["book_trip"]', '["plan_trip"]', '["search_events"]')

    def log() -> Iterator[tuple[Any, ...]]:
        for i in range(total_events):
            kind = int(kinds[i])
            turn = kind == 3
            yield (
                int(persons[i]),
                str(channels[i]),
                "",
                names[kind],
                (tools[2] if tooled[i] else "[]") if turn else tools[kind],
                bool(ok[i]) if turn else True,
                int(latency[i]) if turn else None,
                "{}",
                when[i],
            )

    report["log_events"] = _load(
        db,
        "conversation_event",
        ("person_id", "channel", "conversation", "kind", "tools", "ok", "latency_ms", "detail", "created_at"),
        log(),
    )
    report["log_s"] = time.perf_counter() - step

    # Alerts Roadie sent.
    step = time.perf_counter()
    sent = _text(_moments(rng, sizes.alerts, now, sizes.days), postgres)
    alert_people = rng.choice(people, sizes.alerts)
    alert_channels = rng.choice(CHANNELS[:3], sizes.alerts)
    alert_kinds = rng.choice(np.array(["tour_alert", "trip_reminder", "shows_near_you"]), sizes.alerts)
    report["alerts"] = _load(
        db,
        "outbox",
        ("dedupe_key", "person_id", "channel", "address", "kind", "payload", "status", "attempts", "due_at", "sent_at", "created_at"),
        (
            (f"bench-alert-{i}", int(alert_people[i]), str(alert_channels[i]), f"bench-{alert_people[i]}",
             str(alert_kinds[i]), "{}", "sent", 1, sent[i], sent[i], sent[i])
            for i in range(sizes.alerts)
        ),
    )  # fmt: skip
    report["alerts_s"] = time.perf_counter() - step

    step = time.perf_counter()
    analyse(db)
    report["analyse_s"] = time.perf_counter() - step
    report["total_s"] = time.perf_counter() - started
    return report


def analyse(db: Database) -> None:
    """Planner statistics (and PostgreSQL's visibility map, for index-only scans) after the bulk load."""
    raw = db.engine.raw_connection()
    try:
        if db.is_sqlite:
            raw.cursor().execute("ANALYZE")
            raw.commit()
        else:
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]  # VACUUM runs outside a transaction
            raw.cursor().execute("VACUUM ANALYZE")
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", type=Path, required=True, help="the SQLite file to create")
    parser.add_argument("--bookings", type=int, default=Sizes.bookings)
    parser.add_argument("--events", type=int, default=Sizes.events)
    args = parser.parse_args()
    db = Database(f"sqlite:///{args.sqlite.resolve()}")
    db.migrate()
    now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    report = generate(db, now, Sizes(bookings=args.bookings, events=args.events))
    print(json.dumps({k: round(v, 1) for k, v in report.items()}, indent=2))


if __name__ == "__main__":
    main()
