"""Seeds the deterministic demo catalogue: tours, offers with price history, users and their history."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select

from assistant.catalogue import (
    ARTISTS,
    FARE_FLOOR_EUR,
    FARE_PER_KM_LONG,
    FARE_PER_KM_SHORT,
    VENUES,
    VenueSpec,
    fare_multiplier,
)
from assistant.db import Database
from assistant.models import (
    Artist,
    Base,
    Booking,
    CatalogueMeta,
    ChannelIdentity,
    ConversationEvent,
    Event,
    Follow,
    Offer,
    OutboxMessage,
    Person,
    PricePoint,
    Quote,
    TourChange,
    Venue,
)

SECTIONS: tuple[tuple[str, float, float], ...] = (
    # name, share of capacity, price factor against the artist's base price
    ("General admission standing", 0.35, 1.0),
    ("Lower tier seated", 0.30, 1.35),
    ("Upper tier seated", 0.30, 0.75),
    ("VIP package", 0.05, 3.2),
)
HOTEL_TIERS: tuple[tuple[str, int, float], ...] = (
    ("City Inn", 3, 0.75),
    ("Grand Hotel", 4, 1.0),
    ("Palace Suites", 5, 1.9),
)
CITY_HOTEL_RATE_EUR: dict[str, int] = {
    "London": 190,
    "Paris": 180,
    "Zurich": 210,
    "New York": 260,
    "Tokyo": 170,
    "Dubai": 160,
    "Copenhagen": 170,
    "Stockholm": 150,
    "Amsterdam": 180,
    "Los Angeles": 220,
    "Sydney": 170,
    "Singapore": 200,
    "Toronto": 170,
    "Chicago": 180,
    "Seoul": 130,
    "Munich": 150,
}
FIRST_NAMES = (
    "Ana",
    "Ben",
    "Chloé",
    "Dan",
    "Elif",
    "Farah",
    "Gus",
    "Hana",
    "Ines",
    "Jonas",
    "Kai",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sami",
    "Tariq",
    "Uma",
    "Vera",
    "Will",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aoife",
    "Bruno",
    "Carla",
    "Diego",
    "Emma",
    "Felix",
    "Greta",
)
CHANNELS = ("web", "telegram", "whatsapp")
COMMISSION_RATE = 0.08
DEMO_SEED = 2026


def haversine_km(a: VenueSpec, b: VenueSpec) -> float:
    """Great-circle distance between two venues' cities, in km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def base_fare_eur(km: float) -> float:
    """The early-booking economy fare for a flight of `km` kilometres."""
    per_km = FARE_PER_KM_SHORT if km < 1500 else FARE_PER_KM_LONG
    return FARE_FLOOR_EUR + km * per_km


def flight_price_eur(km: float, departs: datetime, observed: datetime, jitter: float) -> int:
    """A demo fare seen at `observed` for a flight departing `departs`, following real fare curves."""
    days_left = max(1, (departs.date() - observed.date()).days)
    weekday = 1.12 if departs.weekday() in (4, 6) else 1.0
    return round(base_fare_eur(km) * fare_multiplier(days_left) * weekday * jitter)


FARE_NOISE_SD = 0.08  # day-to-day wobble of a demo fare around its curve (log scale)
FARE_NOISE_KEEP = 0.5  # how much of it is still there three days later


def with_fare_noise(history: list[tuple[datetime, int]], rng: random.Random) -> list[tuple[datetime, int]]:
    """Past fares wobble around the curve as real ones do (mean-reverting); the latest, today's price, is kept.

    Real fares sit about 19% (log sd) from their route's curve with a 3-day autocorrelation of about 0.3
    (../shared/data/airfares); the demo uses a calmer 8% and 0.5, so the curve stays the main story.
    """
    noisy = list(history)
    wobble = 0.0
    spread = FARE_NOISE_SD * math.sqrt(1 - FARE_NOISE_KEEP**2)
    for i in range(len(noisy) - 2, -1, -1):  # backwards from today, which has no wobble
        wobble = FARE_NOISE_KEEP * wobble + rng.gauss(0, spread)
        at, price = noisy[i]
        noisy[i] = (at, max(100, round(price * math.exp(wobble) / 100) * 100))
    return noisy


def _city_venues() -> dict[str, VenueSpec]:
    first: dict[str, VenueSpec] = {}
    for venue in VENUES:
        first.setdefault(venue.city, venue)
    return first


def _local_show_time(venue: VenueSpec, day: datetime, hour: int) -> datetime:
    local = datetime(day.year, day.month, day.day, hour, 0, tzinfo=ZoneInfo(venue.timezone))
    return local.astimezone(UTC)


def is_seeded(db: Database) -> bool:
    """True when the catalogue already has artists."""
    with db.session() as session:
        return bool(session.scalar(select(func.count()).select_from(Artist)))


def reset(db: Database) -> None:
    """Delete every row (children first), keeping the schema."""
    with db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "alembic_version":
                session.execute(delete(table))


def seed(db: Database, now: datetime, rng_seed: int = DEMO_SEED) -> dict[str, int]:
    """Fill an empty database with the demo catalogue relative to `now`; returns row counts."""
    rng = random.Random(rng_seed)
    flight_rng = random.Random(rng_seed + 1)  # its own stream, so adding routes never shifts the rest
    fare_rng = random.Random(rng_seed + 2)  # the wobble of past fares, on its own stream too
    now = now.astimezone(UTC).replace(microsecond=0)
    today = now.replace(hour=0, minute=0, second=0)
    city_venue = _city_venues()
    counts: dict[str, int] = {}
    with db.session() as session:
        artist_ids: dict[str, int] = {}
        for spec in ARTISTS:
            artist = Artist(name=spec.name, aliases=list(spec.aliases), genre=spec.genre, description=spec.description)
            session.add(artist)
            session.flush()
            artist_ids[spec.name] = artist.id
        venue_ids: dict[str, int] = {}
        for v in VENUES:
            venue_row = Venue(
                name=v.name,
                city=v.city,
                country=v.country,
                region=v.region,
                airport=v.airport,
                latitude=v.latitude,
                longitude=v.longitude,
                timezone=v.timezone,
                capacity=v.capacity,
            )
            session.add(venue_row)
            session.flush()
            venue_ids[v.name] = venue_row.id

        events: list[dict[str, Any]] = []
        for index, spec in enumerate(ARTISTS):
            popularity = 1.0 + (len(ARTISTS) - index) / len(ARTISTS)
            stadium = index < 14 or spec.genre in {"metal", "industrial metal"}
            candidates = [v for v in VENUES if (v.capacity >= 40000) == stadium] or list(VENUES)
            # Past shows for history, then a tour across the next twelve months.
            n_upcoming = rng.randint(9, 15)
            n_past = rng.randint(2, 4)
            tour_start = today + timedelta(days=rng.randint(5, 40))
            step = max(12, 330 // n_upcoming)
            dates = [today - timedelta(days=rng.randint(10, 85)) for _ in range(n_past)]
            dates += [tour_start + timedelta(days=i * step + rng.randint(0, 6)) for i in range(n_upcoming)]
            venues = rng.sample(candidates, k=min(len(dates), len(candidates)))
            while len(venues) < len(dates):
                venues.append(rng.choice(candidates))
            if spec.headline and all(v.name != spec.headline for v in venues[n_past:]):
                venues[n_past + n_upcoming // 2] = next(v for v in VENUES if v.name == spec.headline)
            for day, venue in zip(sorted(dates), venues, strict=True):
                starts = _local_show_time(venue, day, rng.choice((19, 20, 20, 21)))
                events.append(
                    {
                        "artist": spec.name,
                        "venue": venue,
                        "starts_at": starts,
                        "popularity": popularity,
                        "announced_at": min(now, starts - timedelta(days=rng.randint(120, 300))),
                    }
                )
        event_rows: list[Event] = []
        for e in events:
            event_row = Event(
                artist_id=artist_ids[e["artist"]],
                venue_id=venue_ids[e["venue"].name],
                tour_name=next(a.tour for a in ARTISTS if a.name == e["artist"]),
                starts_at=e["starts_at"],
                doors_at=e["starts_at"] - timedelta(hours=2),
                status="scheduled" if e["starts_at"] > now else "completed",
                announced_at=e["announced_at"],
            )
            session.add(event_row)
            event_rows.append(event_row)
        session.flush()
        counts["events"] = len(event_rows)
        session.add_all(
            [
                TourChange(
                    event_id=row.id,
                    artist_id=row.artist_id,
                    kind="announced",
                    detail={"venue": e["venue"].name, "city": e["venue"].city},
                    created_at=e["announced_at"],
                )
                for e, row in zip(events, event_rows, strict=True)
            ]
        )

        # Offers: ticket sections, hotels near the venue, flights from three origins.
        offers: list[dict[str, Any]] = []
        histories: list[tuple[int, list[tuple[datetime, int]]]] = []
        cities = sorted(city_venue)
        for e, event_row in zip(events, event_rows, strict=True):
            venue = e["venue"]
            upcoming = e["starts_at"] > now
            base = rng.randint(70, 110) * e["popularity"]
            sold_share = rng.uniform(0.35, 0.97)
            for section, share, factor in SECTIONS:
                capacity = max(20, int(venue.capacity * share))
                face = round(base * factor)
                offers.append(
                    {
                        "kind": "ticket",
                        "event_id": event_row.id,
                        "name": section,
                        "city": venue.city,
                        "price_minor": face * 100,
                        "capacity": capacity,
                        "available": int(capacity * (1 - sold_share)) if upcoming else 0,
                        "details": {"face_value_minor": face * 100},
                    }
                )
                history = []
                observed = e["announced_at"]
                while observed <= min(now, e["starts_at"]):
                    days_out = (e["starts_at"] - observed).days
                    demand = 1 + 0.25 * sold_share * max(0.0, 1 - days_out / 200)
                    history.append((observed, round(face * demand * rng.uniform(0.97, 1.03)) * 100))
                    observed += timedelta(days=7)
                histories.append((len(offers) - 1, history))
                offers[-1]["price_minor"] = history[-1][1] if history else face * 100
            rate = CITY_HOTEL_RATE_EUR.get(venue.city, 120)
            for tier, stars, factor in HOTEL_TIERS:
                nightly = round(rate * factor * rng.uniform(1.05, 1.35))
                offers.append(
                    {
                        "kind": "hotel",
                        "event_id": event_row.id,
                        "name": f"{venue.city} {tier}",
                        "city": venue.city,
                        "stars": stars,
                        "price_minor": nightly * 100,
                        "capacity": 60,
                        "available": rng.randint(8, 60),
                        "details": {"area": f"near {venue.name}", "walk_minutes": rng.randint(5, 25)},
                    }
                )
            if not upcoming:
                continue
            origins = rng.sample([c for c in cities if c != venue.city], k=3)
            destination = city_venue[venue.city]
            for origin_city in origins:
                origin = city_venue[origin_city]
                km = haversine_km(origin, destination)
                hours = 0.75 + km / 800
                jitter = rng.uniform(0.9, 1.15)
                for leg, (src, dst, day_offset) in enumerate(((origin, destination, -1), (destination, origin, 1))):
                    day = e["starts_at"] + timedelta(days=day_offset)
                    departs = _local_show_time(src, day, rng.choice((7, 10, 13, 16)))
                    history = []
                    observed = now - timedelta(days=42)  # fares are seen before a show is announced too
                    while observed <= now:
                        history.append((observed, flight_price_eur(km, departs, observed, jitter) * 100))
                        observed += timedelta(days=3)
                    history = with_fare_noise(history, fare_rng)
                    offers.append(
                        {
                            "kind": "flight",
                            "event_id": event_row.id,
                            "name": f"RD{rng.randint(100, 9999)}",
                            "origin": src.airport,
                            "destination": dst.airport,
                            "departs_at": departs,
                            "arrives_at": departs + timedelta(hours=hours),
                            "city": dst.city,
                            "price_minor": history[-1][1],
                            "capacity": 180,
                            "available": rng.randint(4, 120),
                            "details": {
                                "leg": "outbound" if leg == 0 else "return",
                                "km": round(km),
                                "from_city": src.city,
                                "to_city": dst.city,
                            },
                        }
                    )
                    histories.append((len(offers) - 1, history))
            # Every other city gets flights too, so a trip can start anywhere (their fares seen weekly for five weeks).
            for origin_city in cities:
                if origin_city == venue.city or origin_city in origins:
                    continue
                origin = city_venue[origin_city]
                km = haversine_km(origin, destination)
                hours = 0.75 + km / 800
                jitter = flight_rng.uniform(0.9, 1.15)
                for leg, (src, dst, day_offset) in enumerate(((origin, destination, -1), (destination, origin, 1))):
                    departs = _local_show_time(
                        src, e["starts_at"] + timedelta(days=day_offset), flight_rng.choice((7, 10, 13, 16))
                    )
                    offers.append(
                        {
                            "kind": "flight",
                            "event_id": event_row.id,
                            "name": f"RD{flight_rng.randint(100, 9999)}",
                            "origin": src.airport,
                            "destination": dst.airport,
                            "departs_at": departs,
                            "arrives_at": departs + timedelta(hours=hours),
                            "city": dst.city,
                            "price_minor": flight_price_eur(km, departs, now, jitter) * 100,
                            "capacity": 180,
                            "available": flight_rng.randint(4, 120),
                            "details": {
                                "leg": "outbound" if leg == 0 else "return",
                                "km": round(km),
                                "from_city": src.city,
                                "to_city": dst.city,
                            },
                        }
                    )
                    weekly = [
                        (at, flight_price_eur(km, departs, at, jitter) * 100)
                        for at in (now - timedelta(days=7 * k) for k in range(5, -1, -1))
                    ]
                    histories.append((len(offers) - 1, with_fare_noise(weekly, fare_rng)))
        offer_ids = list(session.scalars(insert(Offer).returning(Offer.id, sort_by_parameter_order=True), offers))
        points = [
            {"offer_id": offer_ids[i], "observed_at": at, "price_minor": price}
            for i, history in histories
            for at, price in history
        ]
        session.execute(insert(PricePoint), points)
        counts["offers"] = len(offers)
        counts["price_points"] = len(points)

        # People, their follows, quotes, bookings and the assistant's own log.
        people: list[Person] = []
        for i in range(400):
            joined = now - timedelta(days=rng.randint(0, 240), hours=rng.randint(0, 23))
            people.append(
                Person(
                    display_name=f"{rng.choice(FIRST_NAMES)} {chr(65 + i % 26)}.",
                    role="traveller",
                    home_city=rng.choice(cities),
                    currency=rng.choice(("EUR", "EUR", "GBP", "USD")),
                    usual_travellers=rng.choice((1, 2, 2, 3, 4)),
                    created_at=joined,
                    community_opt_in=rng.random() < 0.3,
                    notify={"tour_alerts": True, "price_drops": True},
                )
            )
        staff = Person(display_name="Roadie staff", role="staff", created_at=now - timedelta(days=300))
        session.add_all([*people, staff])
        session.flush()
        session.add_all(
            [
                ChannelIdentity(person_id=p.id, channel=CHANNELS[i % 3], external_id=f"demo-{i}", last_seen_at=now)
                for i, p in enumerate(people)
            ]
        )
        follows = {
            (p.id, artist_ids[name]) for p in people for name in rng.sample(list(artist_ids), k=rng.randint(1, 4))
        }
        session.execute(
            insert(Follow),
            [
                {"person_id": p, "artist_id": a, "created_at": now - timedelta(days=rng.randint(1, 200))}
                for p, a in sorted(follows)
            ],
        )
        counts["people"] = len(people) + 1
        counts["follows"] = len(follows)

        ticket_offers = [(i, o) for i, o in enumerate(offers) if o["kind"] == "ticket"]
        starts_by_event = {r.id: r.starts_at for r in event_rows}
        bookings: list[dict[str, Any]] = []
        quotes: list[dict[str, Any]] = []
        log: list[dict[str, Any]] = []
        for n in range(1600):
            person = rng.choice(people)
            index, offer = rng.choice(ticket_offers)
            starts = starts_by_event[offer["event_id"]]
            created = now - timedelta(days=rng.randint(0, 150), minutes=rng.randint(0, 1439))
            if created >= starts:
                created = starts - timedelta(days=rng.randint(1, 30))
            travellers = rng.choice((1, 2, 2, 2, 3, 4))
            total = offer["price_minor"] * travellers
            channel = rng.choice(CHANNELS)
            cancelled = rng.random() < 0.06
            quotes.append(
                {
                    "person_id": person.id,
                    "event_id": offer["event_id"],
                    "travellers": travellers,
                    "total_minor": total,
                    "currency": "EUR",
                    "channel": channel,
                    "created_at": created,
                    "expires_at": created + timedelta(minutes=30),
                    "items": [{"offer_id": offer_ids[index], "kind": "ticket", "quantity": travellers}],
                }
            )
            bookings.append(
                {
                    "reference": f"RD{n:05d}",
                    "idempotency_key": f"demo-{n}",
                    "person_id": person.id,
                    "event_id": offer["event_id"],
                    "travellers": travellers,
                    "tickets": travellers,
                    "total_minor": total,
                    "commission_minor": round(total * COMMISSION_RATE),
                    "currency": "EUR",
                    "status": "cancelled" if cancelled else "paid",
                    "channel": channel,
                    "route": _route(city_venue, person.home_city, offer["city"]),
                    "refund_minor": total if cancelled else 0,
                    "created_at": created,
                    "paid_at": created,
                    "cancelled_at": created + timedelta(days=2) if cancelled else None,
                    "items": [
                        {
                            "offer_id": offer_ids[index],
                            "kind": "ticket",
                            "name": offer["name"],
                            "quantity": travellers,
                            "unit_minor": offer["price_minor"],
                        }
                    ],
                }
            )
            log.append(
                {
                    "person_id": person.id,
                    "channel": channel,
                    "kind": "booking",
                    "tools": ["book_trip"],
                    "ok": True,
                    "created_at": created,
                    "detail": {"event_id": offer["event_id"]},
                }
            )
        for _ in range(len(quotes) * 2):
            person = rng.choice(people)
            _, offer = rng.choice(ticket_offers)
            created = now - timedelta(days=rng.randint(0, 150), minutes=rng.randint(0, 1439))
            travellers = rng.choice((1, 2, 3, 4))
            quotes.append(
                {
                    "person_id": person.id,
                    "event_id": offer["event_id"],
                    "travellers": travellers,
                    "total_minor": offer["price_minor"] * travellers,
                    "currency": "EUR",
                    "channel": rng.choice(CHANNELS),
                    "created_at": created,
                    "expires_at": created + timedelta(minutes=30),
                    "items": [],
                }
            )
        for q in quotes:
            log.append(
                {
                    "person_id": q["person_id"],
                    "channel": q["channel"],
                    "kind": "quote",
                    "tools": ["plan_trip"],
                    "ok": True,
                    "created_at": q["created_at"],
                    "detail": {"event_id": q["event_id"]},
                }
            )
        for _ in range(len(quotes) * 3):
            person = rng.choice(people)
            created = now - timedelta(days=rng.randint(0, 150), minutes=rng.randint(0, 1439))
            channel = rng.choice(CHANNELS)
            log.append(
                {
                    "person_id": person.id,
                    "channel": channel,
                    "kind": "search",
                    "tools": ["search_events"],
                    "ok": True,
                    "created_at": created,
                    "detail": {},
                }
            )
            log.append(
                {
                    "person_id": person.id,
                    "channel": channel,
                    "kind": "turn",
                    "tools": ["search_events"],
                    "ok": True,
                    "latency_ms": rng.randint(25, 140),
                    "created_at": created,
                    "detail": {},
                }
            )
        alerts = _assistant_history(log, people, now, random.Random(rng_seed + 3))
        session.execute(insert(Quote), quotes)
        session.execute(insert(Booking), bookings)
        session.execute(insert(OutboxMessage), alerts)
        session.execute(
            insert(ConversationEvent),
            [{"conversation": "", "latency_ms": None, **row} for row in log],
        )
        session.add(CatalogueMeta(key="seeded_at", value=now.isoformat()))
        counts["bookings"] = len(bookings)
        counts["quotes"] = len(quotes)
        counts["log_events"] = len(log)
        counts["alerts_sent"] = len(alerts)
    return counts


def _route(city_venue: dict[str, VenueSpec], home: str | None, city: str) -> str | None:
    """A booking's flight route as airport codes ("LHR-LIS"), from the traveller's home city to the show's."""
    if not home or home == city or home not in city_venue:
        return None
    return f"{city_venue[home].airport}-{city_venue[city].airport}"


def _assistant_history(
    log: list[dict[str, Any]], people: list[Person], now: datetime, rng: random.Random
) -> list[dict[str, Any]]:
    """Some turns that failed, and the alerts Roadie sent over the last months (its own random stream).

    Sent alerts end two days before `now`, so they never count against today's cap on proactive messages.
    """
    for row in log:
        if row["kind"] == "turn" and rng.random() < 0.03:
            row["ok"] = False
    alerts = []
    for n in range(600):
        index = rng.randrange(len(people))
        sent = now - timedelta(days=rng.randint(2, 120), minutes=rng.randint(0, 1439))
        alerts.append(
            {
                "dedupe_key": f"history:{n}",
                "person_id": people[index].id,
                "channel": CHANNELS[index % 3],
                "address": f"demo-{index}",
                "kind": rng.choice(("tour_alert", "tour_alert", "trip_reminder", "shows_near_you")),
                "payload": {},
                "status": "sent",
                "attempts": 1,
                "due_at": sent,
                "sent_at": sent,
                "created_at": sent - timedelta(minutes=rng.randint(1, 30)),
            }
        )
    return alerts
