"""Demand forecasts for staff: expected bookings and sell-through for upcoming shows or a route, with the drivers.

A Poisson regression learns every show's weekly bookings over the last half year from the show's state at
the start of the week: weeks to the show, followers of the artist, bookings and quotes in the previous four
weeks, tickets on sale and the cheapest face value. Forecasts run week by week (each week's expected bookings
feed the next weeks' pace); the 80% range is the Poisson spread of the total. A driver is a feature's factor on
the weekly rate against an average show-week. Trained in well under a second, once a day per database.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from langchain.tools import ToolRuntime
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from assistant.context import TurnContext
from assistant.models import Booking, Event, Follow, Offer, Person, Quote, Venue
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import describe_when, local_time, parse_day, resolve, upcoming
from tools.pricing import airports, event_phrase

DEMAND_FEATURES = (
    ("weeks_to_show", "weeks to the show"),
    ("followers", "followers of the artist"),
    ("recent", "bookings in the previous 4 weeks"),
    ("quotes", "quotes in the previous 4 weeks"),
    ("capacity", "tickets on sale at the venue"),
    ("price", "cheapest face value"),
)
DEMAND_HISTORY_WEEKS = 26


@dataclass
class DemandModel:
    """Weekly bookings of a show, learnt from every show's weekly history with a Poisson regression."""

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    tickets_per_booking: float
    weeks: int
    rows: int

    def rate(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.intercept + ((x - self.mean) / self.scale) @ self.coef)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each feature's factor on the rate against an average show-week (log scale)."""
        return ((x - self.mean) / self.scale) * self.coef


@dataclass
class ShowDemand:
    """What is known about one show's sales, for features and for the answer."""

    event: Event
    followers: int
    capacity: int
    available: int
    cheapest_face: float
    bookings: list[datetime] = field(default_factory=list)
    quotes: list[datetime] = field(default_factory=list)

    def features(self, at: datetime, recent_override: float | None = None) -> list[float]:
        weeks_to_show = max(0.0, (self.event.starts_at - at).total_seconds() / (7 * 86400))
        recent = recent_override if recent_override is not None else _count(self.bookings, at - timedelta(weeks=4), at)
        return [
            math.log1p(weeks_to_show),
            math.log1p(self.followers),
            math.log1p(recent),
            math.log1p(_count(self.quotes, at - timedelta(weeks=4), at)),
            math.log1p(self.capacity),
            math.log(max(1.0, self.cheapest_face)),
        ]


def _count(times: list[datetime], start: datetime, end: datetime) -> int:
    return bisect_left(times, end) - bisect_left(times, start)


def load_demand(session: Session) -> list[ShowDemand]:
    """Every show with its followers, ticket inventory, bookings and quotes over time."""
    events = list(session.scalars(select(Event).options(joinedload(Event.artist), joinedload(Event.venue))).unique())
    followers = dict(session.execute(select(Follow.artist_id, func.count()).group_by(Follow.artist_id)).all())
    stock: dict[int, tuple[int, int, float]] = {}
    for event_id, capacity, available, face in session.execute(
        select(Offer.event_id, func.sum(Offer.capacity), func.sum(Offer.available), func.min(Offer.price_minor))
        .where(Offer.kind == "ticket")
        .group_by(Offer.event_id)
    ):
        if event_id is not None:
            stock[event_id] = (int(capacity or 0), int(available or 0), float(face or 0) / 100)
    bookings: dict[int, list[datetime]] = defaultdict(list)
    for event_id, created in session.execute(
        select(Booking.event_id, Booking.created_at).where(Booking.event_id.is_not(None)).order_by(Booking.created_at)
    ):
        if event_id is not None:
            bookings[event_id].append(created)
    quotes: dict[int, list[datetime]] = defaultdict(list)
    for event_id, created in session.execute(
        select(Quote.event_id, Quote.created_at).where(Quote.event_id.is_not(None)).order_by(Quote.created_at)
    ):
        if event_id is not None:
            quotes[event_id].append(created)
    shows = []
    for event in events:
        capacity, available, cheapest_face = stock.get(event.id, (0, 0, 0.0))
        shows.append(
            ShowDemand(
                event,
                followers.get(event.artist_id, 0),
                capacity,
                available,
                cheapest_face,
                bookings[event.id],
                quotes[event.id],
            )
        )
    return shows


def train_demand(shows: Sequence[ShowDemand], now: datetime) -> DemandModel | None:
    """Weekly bookings per show over the last half year, regressed on the show's features at the week's start."""
    from sklearn.linear_model import PoissonRegressor

    rows: list[list[float]] = []
    counts: list[int] = []
    tickets: list[int] = []
    for show in shows:
        for week in range(DEMAND_HISTORY_WEEKS, 0, -1):
            start = now - timedelta(weeks=week)
            if start < show.event.announced_at or start + timedelta(weeks=1) > show.event.starts_at:
                continue
            rows.append(show.features(start))
            counts.append(_count(show.bookings, start, start + timedelta(weeks=1)))
        tickets.append(len(show.bookings))
    if len(rows) < 50 or sum(counts) < 20:
        return None
    x = np.array(rows)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = PoissonRegressor(alpha=1e-3, max_iter=300).fit((x - mean) / scale, counts)
    return DemandModel(
        coef=np.asarray(model.coef_),
        intercept=float(model.intercept_),
        mean=mean,
        scale=scale,
        tickets_per_booking=2.2,
        weeks=DEMAND_HISTORY_WEEKS,
        rows=len(rows),
    )


@dataclass(frozen=True)
class DemandForecast:
    """Expected bookings for a show over the coming weeks, with an 80% range and what drives it."""

    show: ShowDemand
    weeks: int
    expected: float
    low: int
    high: int
    drivers: list[tuple[str, float]]  # (what, factor on the weekly rate)

    @property
    def sold_share(self) -> float:
        return 1 - self.show.available / self.show.capacity if self.show.capacity else 0.0


def forecast_show(model: DemandModel, show: ShowDemand, now: datetime, weeks: int) -> DemandForecast:
    """Week by week until `weeks` or the show; each week's expected bookings feed the next weeks' pace."""
    from scipy.stats import poisson

    expected = 0.0
    predicted: list[tuple[datetime, float]] = []
    for week in range(weeks):
        start = now + timedelta(weeks=week)
        if start >= show.event.starts_at:
            break
        past = _count(show.bookings, start - timedelta(weeks=4), min(start, now))
        recent = past + sum(rate for at, rate in predicted if at >= start - timedelta(weeks=4))
        rate = float(model.rate(np.array(show.features(start, recent)))[()])
        share = min(1.0, (show.event.starts_at - start).total_seconds() / (7 * 86400))
        predicted.append((start, rate * share))
        expected += rate * share
    low, high = (int(poisson.ppf(q, expected)) if expected > 0 else 0 for q in (0.1, 0.9))
    contributions = model.contributions(np.array(show.features(now)))
    drivers = sorted(
        ((DEMAND_FEATURES[i][1], float(math.exp(c))) for i, c in enumerate(contributions)),
        key=lambda d: -abs(math.log(d[1])),
    )
    return DemandForecast(show, min(weeks, len(predicted)), expected, low, high, drivers[:3])


_demand_cache: dict[tuple[str, int, int, date], DemandModel | None] = {}


def demand_model(session: Session, db_url: str, shows: Sequence[ShowDemand], now: datetime) -> DemandModel | None:
    count, last = session.execute(select(func.count(), func.max(Booking.id)).select_from(Booking)).one()
    key = (db_url, int(count), int(last or 0), now.date())
    if key not in _demand_cache:
        _demand_cache.clear()
        _demand_cache[key] = train_demand(shows, now)
    return _demand_cache[key]


def _driver_text(drivers: Sequence[tuple[str, float]]) -> str:
    return "; ".join(f"{what} ×{factor:.2f}" for what, factor in drivers)


@roadie_tool(
    summary="staff: expected bookings and sell-through for a show or a route over the next weeks, with the drivers",
    staff_only=True,
    examples=(
        "forecast demand for Coldplay in Paris",
        "how many bookings do we expect for the Taylor Swift Lisbon show?",
        "expected sell-through for Metallica in Munich next month",
        "demand forecast for the next 4 weeks",
        "which shows will sell best in the coming weeks?",
        "predict bookings for Adele in Vienna",
        "will the Beyoncé London show sell out?",
        "demand on the London to Paris route",
        "forecast bookings from Madrid to Lisbon",
        "how will Dua Lipa in Berlin sell over the next 6 weeks?",
        "projected sales for Bad Bunny shows",
        "what's driving demand for Harry Styles in Rome?",
    ),
)
def forecast_demand(
    runtime: ToolRuntime[Any, Any],
    artist: str | None = None,
    city: str | None = None,
    venue: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    origin: str | None = None,
    cities: list[str] | None = None,
    weeks: int = 4,
) -> ToolAnswer:
    """Staff only: expected Roadie bookings for upcoming shows (or a route) over the next weeks, with drivers.

    Learns from every show's weekly bookings (Poisson regression on weeks to the show, followers,
    recent bookings and quotes, capacity and price). For one show it gives expected bookings with
    an 80% range, the sell-through now and at that pace, and the three strongest drivers; for
    several shows a table; for a route (origin and city, no artist) the bookings of people from
    the origin to shows in the city, and the seats sold on its flights.

    Args:
        artist: The artist, e.g. "Coldplay".
        city: The show's city (or the route's destination).
        venue: The venue.
        date_from: First show date to include, YYYY-MM-DD.
        date_to: Last show date to include, YYYY-MM-DD.
        origin: The route's origin city (with city and no artist: demand on that route).
        cities: Two cities named as a route ("London to Paris"): the origin, then the destination.
        weeks: How many weeks ahead, 1 to 12.
    """
    ctx = turn_context(runtime)
    if ctx.caller.role != "staff":
        raise UserFacingError("Demand forecasts are for Roadie staff.")
    if not origin and not artist and cities and len(cities) >= 2:
        origin, city = cities[0], cities[1]
    now = ctx.services.clock.now()
    horizon = max(1, min(12, int(weeks or 4)))
    artist_name, city_name = resolve(ctx, "artist", artist), resolve(ctx, "city", city)
    venue_name, origin_city = resolve(ctx, "venue", venue), resolve(ctx, "city", origin)
    start, end = parse_day(date_from, "the first show date"), parse_day(date_to, "the last show date")
    with ctx.services.db.session() as session:
        shows = load_demand(session)
        model = demand_model(session, ctx.services.db.url, shows, now)
        if model is None:
            raise UserFacingError(
                "There isn't enough booking history yet to forecast demand (I need a few weeks of bookings)."
            )
        upcoming_ids = {e.id for e in session.scalars(upcoming(now)).unique()}
        chosen = [
            s
            for s in shows
            if s.event.id in upcoming_ids
            and (artist_name is None or s.event.artist.name == artist_name)
            and (city_name is None or s.event.venue.city == city_name)
            and (venue_name is None or s.event.venue.name == venue_name)
            and (start is None or local_time(s.event.starts_at, s.event.venue.timezone).date() >= start)
            and (end is None or local_time(s.event.starts_at, s.event.venue.timezone).date() <= end)
        ]
        if not chosen:
            raise UserFacingError("No upcoming shows match that — try an artist, a city or a month.")
        forecasts = sorted((forecast_show(model, s, now, horizon) for s in chosen), key=lambda f: -f.expected)
        footnote = (
            f"_Poisson regression on {model.rows:,} show-weeks of bookings; 80% range from the Poisson spread. "
            "Sell-through counts every ticket sold at the venue, Roadie's bookings are a part of it._"
        )
        if origin_city and city_name and not artist_name:
            return _route_demand(session, ctx, origin_city, city_name, forecasts, horizon, footnote)
        if len(forecasts) == 1:
            f = forecasts[0]
            event = f.show.event
            pace = f.expected / max(1, f.weeks)
            lines = [
                f"**Demand for {event_phrase(event)}** — {describe_when(event)}:",
                f"- Expected Roadie bookings in the next {f.weeks} week{'s' if f.weeks != 1 else ''}: "
                f"**{f.expected:.1f}** (80% range {f.low}–{f.high}), about {f.expected * model.tickets_per_booking:.0f} tickets.",
                f"- Bookings so far: {len(f.show.bookings)}, {_count(f.show.bookings, now - timedelta(weeks=4), now)} in the last 4 weeks "
                f"(≈{pace:.1f} a week ahead).",
                f"- Sell-through now: **{f.sold_share:.0%}** of {f.show.capacity:,} tickets; "
                f"{f.show.available:,} left.",
                f"- Drivers against an average show-week: {_driver_text(f.drivers)}.",
                footnote,
            ]
            data = {
                "event_id": event.id,
                "expected_bookings": round(f.expected, 2),
                "low": f.low,
                "high": f.high,
                "sold_share": round(f.sold_share, 3),
                "drivers": [d for d, _ in f.drivers],
            }
            return ToolAnswer("\n".join(lines), data=data)
        lines = [
            f"**Expected Roadie bookings, next {horizon} weeks** ({len(forecasts)} shows, busiest first):",
            "",
            "| show | date | expected (80%) | sold now |",
            "|---|---|---:|---:|",
        ]
        for f in forecasts[:10]:
            event = f.show.event
            day = local_time(event.starts_at, event.venue.timezone)
            lines.append(
                f"| {event.artist.name}, {event.venue.city} | {day:%-d %b %Y} | {f.expected:.1f} ({f.low}–{f.high}) | {f.sold_share:.0%} |"
            )
        if len(forecasts) > 10:
            lines.append(f"…and {len(forecasts) - 10} more.")
        total = sum(f.expected for f in forecasts)
        lines += [
            "",
            f"Total: **{total:.1f}** bookings expected. Strongest drivers overall: "
            + _driver_text(_overall_drivers(model))
            + ".",
            footnote,
        ]
        data = {"events": [f.show.event.id for f in forecasts], "expected_bookings": round(total, 2)}
        return ToolAnswer("\n".join(lines), data=data)


def _overall_drivers(model: DemandModel) -> list[tuple[str, float]]:
    """Each feature's factor for one standard deviation above average."""
    pairs = [(DEMAND_FEATURES[i][1] + " (+1 sd)", float(math.exp(c))) for i, c in enumerate(model.coef)]
    return sorted(pairs, key=lambda d: -abs(math.log(d[1])))[:3]


def _route_demand(
    session: Session,
    ctx: TurnContext,
    origin: str,
    city: str,
    forecasts: Sequence[DemandForecast],
    horizon: int,
    footnote: str,
) -> ToolAnswer:
    """Bookings of people living in `origin` for shows in `city`, and seats sold on the flights between them."""
    now = ctx.services.clock.now()
    homes = dict(session.execute(select(Person.id, Person.home_city)).all())
    made = session.execute(select(Booking.person_id, Booking.event_id)).all()
    cities = dict(session.execute(select(Event.id, Venue.city).join(Venue, Venue.id == Event.venue_id)).all())
    to_city = [p for p, e in made if e is not None and cities.get(e) == city]
    from_origin = sum(1 for p in to_city if p is not None and homes.get(p) == origin)
    share = (from_origin + 1) / (len(to_city) + len(set(homes.values())))
    expected = sum(f.expected for f in forecasts) * share
    airports_from, airports_to = airports(session, origin), airports(session, city)
    seats, left = session.execute(
        select(func.coalesce(func.sum(Offer.capacity), 0), func.coalesce(func.sum(Offer.available), 0)).where(
            Offer.kind == "flight",
            Offer.origin.in_(airports_from),
            Offer.destination.in_(airports_to),
            Offer.departs_at >= now,
        )
    ).one()
    load = 1 - left / seats if seats else 0.0
    lines = [
        f"**Demand {origin} → {city}, next {horizon} weeks:**",
        f"- Expected Roadie bookings by people from {origin} for shows in {city}: **{expected:.1f}** "
        f"({len(forecasts)} upcoming show{'s' if len(forecasts) != 1 else ''} there × {share:.0%}, the share of "
        f"{city} bookings made by people from {origin}: {from_origin} of {len(to_city)}).",
        f"- Flights on the route: {int(seats) // 180 if seats else 0} upcoming, **{load:.0%}** of {int(seats):,} seats sold.",
        footnote,
    ]
    return ToolAnswer(
        "\n".join(lines),
        data={"route": f"{origin}-{city}", "expected_bookings": round(expected, 2), "load_factor": round(load, 3)},
    )
