"""Book now or wait: price forecasts for tickets, flights and whole trips, price watches, and demand forecasts for staff.

The forecasts come from `tools/forecasting.py`, trained on Roadie's own price history (one model for
flights, one for tickets). Training takes seconds, so it happens when `seed` runs and otherwise on the
first forecast; the models are kept in memory and on disk under the data dir, keyed by a fingerprint
of the price history, and trained again when the history grows (the daily pricing job does that).

Roadie forecasts an offer only when it has seen its price at least `MIN_HISTORY` times; otherwise, and
for hotels (whose prices are not tracked over time), it says so and gives the current price.
"""

from __future__ import annotations

import hashlib
import logging
import math
import pickle
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from langchain.tools import ToolRuntime
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from assistant.context import TurnContext
from assistant.db import Database
from assistant.messages import Button
from assistant.models import (
    Booking,
    Event,
    Follow,
    Offer,
    PricePoint,
    Quote,
    Venue,
)
from assistant.money import convert, format_money
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import describe_when, local_time, money, normal_reference, parse_day, resolve
from tools.dynamic_pricing import reprice_tickets, sales_pace
from tools.forecasting import (
    MIN_HISTORY,
    Advice,
    FeatureSpec,
    ForecastStep,
    PriceForecaster,
    PricePath,
    PriceSeries,
    advise,
    stable_share,
)
from tools.trips import find_event, needs_home, section_name

log = logging.getLogger(__name__)

MODEL_VERSION = 1  # bump when the features change: models on disk from another version are not loaded
FLIGHT_SPEC = FeatureSpec(
    categories=("haul", "leg", "weekday"),
    numbers=("km", "month", "hour", "seats_left"),
    typical_by=("haul",),  # by route, each day of the curve mixed a few flights' levels: a noisy curve
)
HAULS = ((800, "short"), (1500, "medium"), (4000, "long"), (math.inf, "very long"))
TICKET_SPEC = FeatureSpec(
    categories=("section", "artist", "city"),
    numbers=("log_followers", "log_capacity", "log_face", "sold_share", "month"),
    signals=("pace",),
    typical_by=("artist", "section"),
)
SPECS = {"flight": FLIGHT_SPEC, "ticket": TICKET_SPEC}
# Per kind, a fixed sample keeps training inside its minute as the history grows; the demo's 14,000 flights
# fit (all of them captured 55% of the backtest's perfect-foresight saving, a 4,000 sample 51%).
MAX_TRAINING_SERIES = 20_000
PAIRS_PER_SERIES = {"flight": 60, "ticket": 120}  # tickets have long weekly histories: 120 captured 63% against 57%
ITEM_WORDS = {
    "flight": "flight",
    "flights": "flight",
    "fare": "flight",
    "fares": "flight",
    "plane": "flight",
    "ticket": "ticket",
    "tickets": "ticket",
    "seats": "ticket",
    "hotel": "hotel",
    "hotels": "hotel",
    "room": "hotel",
    "trip": "trip",
    "package": "trip",
}
CONFIDENCE_WORDS = {"high": "high", "medium": "medium", "low": "low"}
WATCH_KINDS = ("flight", "ticket")


# --- series from Roadie's price history ---------------------------------------------------------------------


@dataclass
class OfferContext:
    """What the series of an offer needs besides its prices: its show, artist's followers and sales."""

    events: dict[int, Event]
    followers: dict[int, int]
    sales: dict[int, list[tuple[datetime, int]]]


def load_context(session: Session, offers: Sequence[Offer]) -> OfferContext:
    event_ids = {o.event_id for o in offers if o.event_id is not None}
    events = {
        e.id: e
        for e in session.scalars(
            select(Event).where(Event.id.in_(event_ids)).options(joinedload(Event.artist), joinedload(Event.venue))
        ).unique()
    }
    artist_ids = {e.artist_id for e in events.values()}
    followers = dict(
        session.execute(
            select(Follow.artist_id, func.count()).where(Follow.artist_id.in_(artist_ids)).group_by(Follow.artist_id)
        ).all()
    )
    sales: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    if any(o.kind == "ticket" for o in offers):
        ticket_events = {o.event_id for o in offers if o.kind == "ticket" and o.event_id is not None}
        for event_id, created, tickets in session.execute(
            select(Booking.event_id, Booking.created_at, Booking.tickets)
            .where(Booking.event_id.in_(ticket_events), Booking.status != "cancelled")
            .order_by(Booking.created_at)
        ):
            if event_id is not None:
                sales[event_id].append((created, tickets))
    return OfferContext(events, followers, sales)


def departure_of(offer: Offer, event: Event | None) -> datetime | None:
    """When a flight leaves or a show starts (None for hotels)."""
    if offer.kind == "flight":
        return offer.departs_at
    if offer.kind == "ticket" and event is not None:
        return event.starts_at
    return None


def days_left(moment: datetime, departure: datetime) -> int:
    return (departure.astimezone(UTC).date() - moment.astimezone(UTC).date()).days


def offer_series(
    offer: Offer, points: Sequence[tuple[datetime, int]], context: OfferContext, now: datetime | None
) -> PriceSeries | None:
    """The price series of an offer, from its price points (and its live price as today's, given `now`)."""
    event = context.events.get(offer.event_id) if offer.event_id is not None else None
    departure = departure_of(offer, event)
    if departure is None:
        return None
    prices: dict[int, float] = {}
    signals: dict[int, dict[str, float]] = {}
    seen = sorted(points)
    if now is not None:
        seen.append((now, offer.price_minor))
    for at, price in seen:
        left = days_left(at, departure)
        if left < 0 or price <= 0:
            continue
        prices[left] = float(price)
        if offer.kind == "ticket" and event is not None:
            signals[left] = {"pace": sales_pace(context.sales.get(event.id, []), event.announced_at, at)}
    if offer.kind == "flight":
        details = offer.details or {}
        departs = departure.astimezone(UTC)
        km = float(details.get("km") or 0)
        categories = {
            "haul": next(name for limit, name in HAULS if km < limit),
            "leg": str(details.get("leg", "")),
            "weekday": f"{departs:%a}",
        }
        numbers = {
            "km": km,
            "month": float(departs.month),
            "hour": float(departs.hour),
            "seats_left": offer.available / offer.capacity if offer.capacity else 0.0,
        }
    else:
        assert event is not None
        face = float((offer.details or {}).get("face_value_minor") or offer.price_minor)
        categories = {"section": offer.name, "artist": event.artist.name, "city": event.venue.city}
        numbers = {
            "log_followers": math.log1p(context.followers.get(event.artist_id, 0)),
            "log_capacity": math.log(max(1, offer.capacity)),
            "log_face": math.log(max(1.0, face)),
            "sold_share": 1 - offer.available / offer.capacity if offer.capacity else 1.0,
            "month": float(event.starts_at.month),
        }
    return PriceSeries(categories, numbers, prices, signals, group=str(offer.event_id))


def price_points(session: Session, offer_ids: Sequence[int]) -> dict[int, list[tuple[datetime, int]]]:
    found: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for chunk in (list(offer_ids)[i : i + 900] for i in range(0, len(offer_ids), 900)):
        for offer_id, at, price in session.execute(
            select(PricePoint.offer_id, PricePoint.observed_at, PricePoint.price_minor).where(
                PricePoint.offer_id.in_(chunk)
            )
        ):
            found[offer_id].append((at, price))
    return found


def training_series(session: Session) -> dict[str, list[PriceSeries]]:
    """Every flight and ticket offer with a price history, as series by kind."""
    tracked = select(PricePoint.offer_id).distinct()
    offers = list(session.scalars(select(Offer).where(Offer.kind.in_(SPECS), Offer.id.in_(tracked))))
    context = load_context(session, offers)
    points = price_points(session, [o.id for o in offers])
    by_kind: dict[str, list[PriceSeries]] = defaultdict(list)
    for offer in offers:
        series = offer_series(offer, points.get(offer.id, []), context, None)
        if series is not None and len(series.prices) >= 2:
            by_kind[offer.kind].append(series)
    return by_kind


# --- the trained models, cached -----------------------------------------------------------------------------


@dataclass
class Forecasters:
    """The trained models by offer kind, and how long training took."""

    models: dict[str, PriceForecaster]
    fingerprint: str
    seconds: float = 0.0


_cache: dict[str, Forecasters] = {}  # by history fingerprint, oldest first
_running: dict[str, threading.Event] = {}  # trainings under way, by history fingerprint
KEEP_MODELS = 3
TURN_WAIT_S = 5.0  # how long a turn waits for models still training before it answers without them
_training = threading.Lock()


def history_fingerprint(session: Session) -> str:
    """Changes whenever the price history does (a new observation, a reseed)."""
    count, last_id = session.execute(select(func.count(), func.max(PricePoint.id))).one()  # rows are only added
    return hashlib.sha1(f"v{MODEL_VERSION}|{count}|{last_id}".encode()).hexdigest()[:16]


def train(session: Session, fingerprint: str = "") -> Forecasters:
    """Train a forecaster for each kind of offer that has enough history."""
    started = time.perf_counter()
    models = {}
    for kind, series in training_series(session).items():
        if len(series) > MAX_TRAINING_SERIES:  # the same sample every time: by the offer's show
            series = sorted(series, key=lambda s: stable_share(f"train:{s.group}:{sorted(s.categories.items())}"))
            series = series[:MAX_TRAINING_SERIES]
        try:
            models[kind] = PriceForecaster(SPECS[kind], max_pairs_per_series=PAIRS_PER_SERIES[kind]).fit(series)
        except ValueError as error:
            log.warning("no %s price forecasts: %s", kind, error)
    return Forecasters(models, fingerprint or history_fingerprint(session), time.perf_counter() - started)


def forecasters(db: Database, data_dir: Path | None, wait: float | None = None) -> Forecasters | None:
    """The models for the current price history: from memory, else from disk, else trained (and saved).

    Training runs in a background thread, one per history; with `wait` seconds the caller waits that
    long for it and gets None if it is not done (a turn must not hang on it), with None until it is.
    """
    with db.session() as session:
        fingerprint = history_fingerprint(session)
    if fingerprint in _cache:
        return _cache[fingerprint]
    path = data_dir / "models" / f"price-forecast-{fingerprint}.pickle" if data_dir is not None else None
    with _training:
        if fingerprint in _cache:
            return _cache[fingerprint]
        if path is not None and path.exists():
            try:
                found = pickle.loads(path.read_bytes())  # our own file, written by `_train_and_keep`
            except Exception:
                log.warning("could not read %s; training again", path)
            else:
                if isinstance(found, Forecasters):
                    _keep(found)
                    return found
        done = _running.get(fingerprint)
        if done is None:
            done = _running[fingerprint] = threading.Event()
            threading.Thread(
                target=_train_and_keep, args=(db, fingerprint, path, done), name="roadie-price-training", daemon=True
            ).start()
    done.wait(wait)
    return _cache.get(fingerprint)


def _train_and_keep(db: Database, fingerprint: str, path: Path | None, done: threading.Event) -> None:
    try:
        with db.session() as session:
            found = train(session, fingerprint)
        log.info("trained price forecasts in %.1f s: %s", found.seconds, ", ".join(found.models))
        with _training:
            _keep(found)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".tmp")
            partial.write_bytes(pickle.dumps(found))
            partial.replace(path)
            for old in path.parent.glob("price-forecast-*.pickle"):
                if old != path:
                    old.unlink(missing_ok=True)
    except Exception:
        log.exception("training the price forecasts failed; the next forecast tries again")
    finally:
        with _training:
            _running.pop(fingerprint, None)
        done.set()


def _keep(found: Forecasters) -> None:
    while len(_cache) >= KEEP_MODELS:  # the oldest history's models go first
        _cache.pop(next(iter(_cache)))
    _cache[found.fingerprint] = found


# --- forecasting one offer ----------------------------------------------------------------------------------


@dataclass
class Outlook:
    """An offer's forecast, or why there is none: what the tools tell people."""

    offer: Offer
    label: str
    quantity: int = 1
    path: PricePath | None = None
    observations: int = 0
    since: datetime | None = None
    reason: str = ""

    @property
    def current_minor(self) -> int:
        return self.offer.price_minor


def offer_label(offer: Offer, zones: dict[str, str]) -> str:
    """ "flight RD6754 LHR → LIS, Wed 26 May 13:00" (local time where it leaves), "Upper tier seated tickets"…"""
    if offer.kind == "flight" and offer.departs_at is not None:
        departs = local_time(offer.departs_at, zones.get(str((offer.details or {}).get("from_city")), "UTC"))
        return f"flight {offer.name} {offer.origin} → {offer.destination}, {departs:%a} {departs.day} {departs:%b} {departs:%H:%M}"
    if offer.kind == "ticket":
        return f"{offer.name} tickets"
    return offer.name


def city_zones(session: Session) -> dict[str, str]:
    """Each catalogue city's time zone."""
    return dict(session.execute(select(Venue.city, Venue.timezone)).all())


def outlooks(
    session: Session, models: Forecasters | None, offers: Sequence[tuple[Offer, int]], now: datetime
) -> list[Outlook]:
    """Forecasts for offers (with the quantity bought of each), in one pass of each model."""
    zones = city_zones(session)
    context = load_context(session, [o for o, _ in offers])
    points = price_points(session, [o.id for o, _ in offers])
    found: list[Outlook] = []
    asked: dict[str, list[tuple[Outlook, PriceSeries]]] = defaultdict(list)
    for offer, quantity in offers:
        event = context.events.get(offer.event_id) if offer.event_id is not None else None
        outlook = Outlook(offer, offer_label(offer, zones), quantity)
        found.append(outlook)
        history = sorted(points.get(offer.id, []))
        outlook.observations = len(history)
        outlook.since = history[0][0] if history else None
        departure = departure_of(offer, event)
        if offer.kind == "hotel" or not history:
            outlook.reason = (
                "hotel prices aren't tracked over time yet"
                if offer.kind == "hotel"
                else "I haven't tracked its price yet"
            )
            continue
        if departure is not None and departure <= now:
            outlook.reason = "it has already left" if offer.kind == "flight" else "the show has already started"
            continue
        if departure is not None and days_left(now, departure) < 2:
            outlook.reason = (
                "it's too close to departure to wait" if offer.kind == "flight" else "the show is too close to wait"
            )
            continue
        if len(history) < MIN_HISTORY:
            outlook.reason = f"I've only seen its price {len(history)} time{'s' if len(history) != 1 else ''}"
            continue
        if models is None:
            outlook.reason = "I'm still learning from the price history — ask me again in a minute"
            continue
        model = models.models.get(offer.kind)
        series = offer_series(offer, history, context, now)
        if model is None or series is None:
            outlook.reason = "I have no model for these prices yet"
            continue
        asked[offer.kind].append((outlook, series))
    for kind, pairs in asked.items():
        assert models is not None
        for (outlook, _), path in zip(pairs, models.models[kind].forecast_many([s for _, s in pairs]), strict=True):
            outlook.path = path if path.steps else None
            if outlook.path is None:
                outlook.reason = "it's too close to departure to wait"
    return found


def combined_path(found: Sequence[Outlook]) -> PricePath | None:
    """The path of everything together (quantities included); offers without a forecast count at today's price."""
    paths = [o.path for o in found if o.path is not None]
    if not paths:
        return None
    days = min(len(p.steps) for p in paths)
    if days == 0:
        return None
    fixed = sum(o.current_minor * o.quantity for o in found if o.path is None)
    steps = []
    for i in range(days):
        median = fixed + sum(o.path.steps[i].median * o.quantity for o in found if o.path is not None)
        low = fixed + sum(o.path.steps[i].low * o.quantity for o in found if o.path is not None)
        high = fixed + sum(o.path.steps[i].high * o.quantity for o in found if o.path is not None)
        first = paths[0].steps[i]
        steps.append(ForecastStep(first.days_ahead, first.days_left, median, low, high))
    current = float(sum(o.current_minor * o.quantity for o in found))
    return PricePath(current=current, days_left=min(p.days_left for p in paths), steps=tuple(steps))


# --- words ---------------------------------------------------------------------------------------------------


def _minor(value: float) -> int:
    return round(value)


def _whole(value: float) -> int:
    """A forecast shown in whole units: cents would claim a precision forecasts don't have."""
    return round(value / 100) * 100


def chance_text(probability: float) -> str:
    if probability < 0.05:
        return "less than 5%"
    if probability > 0.95:
        return "more than 95%"
    return f"{round(probability * 100 / 5) * 5:.0f}%"


def _day(now: datetime, ahead: int) -> str:
    day = (now + timedelta(days=ahead)).date()
    return f"{day:%a} {day.day} {day:%b}"


def advice_lines(ctx: TurnContext, path: PricePath, advice: Advice, now: datetime, unit: str) -> list[str]:
    """The forecast and the recommendation, as a traveller reads them."""
    marks = [s for s in path.steps if s.days_ahead in (3, 7, 14)] or [path.steps[-1]]
    lines = [
        f"Next {len(path.steps)} days (my forecast, 80% range): "
        + " · ".join(
            f"in {s.days_ahead} days ~{money(ctx, _whole(s.median))} ({money(ctx, _whole(s.low))}–{money(ctx, _whole(s.high))})"
            for s in marks
        )
        + "."
    ]
    confidence = f"Confidence: **{advice.confidence}**"
    if advice.recommendation == "wait":
        lines.append(
            f"**Wait** — I expect it to drop to about {money(ctx, _whole(path.current - advice.expected_saving))} "
            f"in {advice.best_day} day{'s' if advice.best_day != 1 else ''} ({_day(now, advice.best_day)}), "
            f"saving about {money(ctx, _whole(advice.expected_saving))}{unit}. "
            f"{confidence} (I put the chance it's cheaper then at {chance_text(advice.probability)})."
        )
        lines.append(f"Best day to book: **{_day(now, advice.best_day)}**.")
    elif advice.recommendation == "book_now":
        lines.append(
            f"**Book now** — I expect it to get dearer: up to about {money(ctx, _whole(advice.expected_rise))} more{unit} "
            f"within {len(path.steps)} days. {confidence} (I put the chance it costs more later at {chance_text(advice.probability)})."
        )
        lines.append("Best day to book: **today**.")
    else:
        lines.append(
            "**Keep an eye on it** — I don't expect a clear move either way over the next two weeks. "
            f"{confidence}. I can watch the price and tell you if it drops."
        )
    return lines


def _history_line(found: Sequence[Outlook]) -> str:
    seen = [o for o in found if o.path is not None]
    points = sum(o.observations for o in seen)
    since = min((o.since for o in seen if o.since is not None), default=None)
    when = f" since {since.day} {since:%b}" if since else ""
    return f"_Based on {points} prices seen{when}; forecasts are estimates, not promises._"


def forecast_answer(
    ctx: TurnContext, title: str, found: list[Outlook], now: datetime, unit: str, watch_text: str | None
) -> ToolAnswer:
    """The answer for one offer or several bought together."""
    total_now = sum(o.current_minor * o.quantity for o in found)
    lines = [f"**Book now or wait? {title}**"]
    if len(found) > 1:
        lines += [
            f"- {o.label}{f' ×{o.quantity}' if o.quantity > 1 else ''}: {money(ctx, o.current_minor * o.quantity)}"
            + ("" if o.path is not None else f" (no forecast: {o.reason})")
            for o in found
        ]
        lines.append(f"Now: **{money(ctx, total_now)}** in total.")
    else:
        lines.append(f"Now: **{money(ctx, total_now)}**{unit}.")
    path = combined_path(found)
    data: dict[str, Any] = {"current_minor": total_now, "currency": "EUR", "offers": [o.offer.id for o in found]}
    if path is None:
        reasons = "; ".join(sorted({o.reason for o in found if o.reason})) or "not enough history"
        lines.append(
            f"Not enough price history to forecast this yet ({reasons}) — the current price above is what it costs today."
        )
        data |= {"recommendation": None, "reason": reasons}
        return ToolAnswer("\n".join(lines), data=data)
    advice = advise(path)
    lines += advice_lines(ctx, path, advice, now, unit)
    lines.append(_history_line(found))
    buttons = []
    if watch_text and advice.recommendation != "book_now":
        target = _minor(min(path.current - advice.expected_saving, path.current * 0.95) / 100) * 100
        buttons.append(
            Button(
                "Watch this price",
                f"{watch_text} under {format_money(convert(target, 'EUR', ctx.caller.currency), ctx.caller.currency)}",
            )
        )
    data |= {
        "recommendation": advice.recommendation,
        "confidence": advice.confidence,
        "probability": round(advice.probability, 3),
        "best_day": advice.best_day,
        "expected_saving_minor": _minor(advice.expected_saving),
        "expected_rise_minor": _minor(advice.expected_rise),
        "forecast": [
            {
                "days_ahead": s.days_ahead,
                "median_minor": _minor(s.median),
                "low_minor": _minor(s.low),
                "high_minor": _minor(s.high),
            }
            for s in path.steps
        ],
    }
    return ToolAnswer("\n".join(lines), buttons=buttons, data=data)


# --- finding what the person means ---------------------------------------------------------------------------


def item_kind(item: str | None) -> str | None:
    """flight, ticket, hotel or trip from the words people use ("flights", "fare", "seats", "room"…)."""
    if not item:
        return None
    low = item.strip().lower()
    return ITEM_WORDS.get(low) or next((v for k, v in ITEM_WORDS.items() if k in low), None)


def airports(session: Session, city: str) -> set[str]:
    return set(session.scalars(select(Venue.airport).where(Venue.city == city)))


def cheapest(session: Session, query: Any) -> Offer | None:
    return session.scalars(query.where(Offer.available > 0).order_by(Offer.price_minor, Offer.id)).first()


def event_flights(session: Session, event: Event, origin: str) -> tuple[Offer | None, Offer | None]:
    """The cheapest flight to the show from `origin`, and back."""
    home = airports(session, origin)
    flights = select(Offer).where(Offer.kind == "flight", Offer.event_id == event.id)
    out = cheapest(session, flights.where(Offer.origin.in_(home), Offer.city == event.venue.city))
    back = cheapest(session, flights.where(Offer.destination.in_(home), Offer.city == origin))
    return out, back


def event_tickets(session: Session, event: Event, section: str | None) -> Offer | None:
    """The named section if it has tickets left, else the cheapest section."""
    tickets = select(Offer).where(Offer.kind == "ticket", Offer.event_id == event.id)
    wanted = section_name(section)
    if wanted:
        named = cheapest(session, tickets.where(Offer.name == wanted))
        if named is not None:
            return named
    return cheapest(session, tickets)


def route_flight(session: Session, ctx: TurnContext, origin: str, city: str, day: date) -> Offer:
    """The cheapest flight from `origin` to `city` leaving on `day` (local time); a clear answer when there is none."""
    now = ctx.services.clock.now()
    if day < now.date():
        raise UserFacingError(f"{day:%-d %B %Y} is in the past — there's no price left to forecast for it.")
    start = datetime.combine(day, datetime.min.time(), UTC) - timedelta(hours=14)
    flights = list(
        session.scalars(
            select(Offer)
            .where(
                Offer.kind == "flight",
                Offer.origin.in_(airports(session, origin)),
                Offer.destination.in_(airports(session, city)),
                Offer.departs_at >= start,
                Offer.departs_at < start + timedelta(hours=52),
                Offer.available > 0,
            )
            .order_by(Offer.price_minor, Offer.id)
        )
    )
    zone = session.scalars(select(Venue.timezone).where(Venue.city == origin)).first() or "UTC"
    on_day = [f for f in flights if f.departs_at is not None and local_time(f.departs_at, zone).date() == day]
    if on_day:
        return on_day[0]
    others = sorted(
        {
            local_time(d, zone).date()
            for d in session.scalars(
                select(Offer.departs_at).where(
                    Offer.kind == "flight",
                    Offer.origin.in_(airports(session, origin)),
                    Offer.destination.in_(airports(session, city)),
                    Offer.departs_at >= now,
                )
            )
            if d is not None
        },
        key=lambda d: abs((d - day).days),
    )[:3]
    text = f"I have no flights from {origin} to {city} on {day:%a} {day.day} {day:%B}, so there's no price to forecast."
    if others:
        text += " Flights on that route leave on " + ", ".join(f"{d:%a} {d.day} {d:%b}" for d in sorted(others)) + "."
    raise UserFacingError(
        text,
        buttons=[
            Button(f"{d:%-d %b}", f"should I book the flight from {origin} to {city} on {d:%-d %B %Y} now?")
            for d in sorted(others)
        ],
    )


def _latest_quote(session: Session, ctx: TurnContext, reference: str | None) -> Quote | None:
    mine = select(Quote).where(Quote.person_id == ctx.caller.person_id, Quote.reference.is_not(None))
    if reference:
        return session.scalars(mine.where(Quote.reference == normal_reference(reference))).first()
    recent = session.scalars(mine.order_by(Quote.id.desc()).limit(20))
    return next((q for q in recent if (q.details or {}).get("conversation") == ctx.caller.conversation), None)


def _quote_forecast(
    session: Session, ctx: TurnContext, models: Forecasters | None, quote: Quote, now: datetime
) -> ToolAnswer:
    """Everything in a quote together, at its quantities; the quote's own hold is mentioned."""
    offers = {o.id: o for o in session.scalars(select(Offer).where(Offer.id.in_([i["offer_id"] for i in quote.items])))}
    chosen = [(offers[i["offer_id"]], int(i["quantity"])) for i in quote.items if i["offer_id"] in offers]
    details = quote.details or {}
    title = f"your quote {quote.reference} ({details.get('artist', 'a trip')} in {details.get('city', '')})"
    found = outlooks(session, models, chosen, now)
    answer = forecast_answer(ctx, title, found, now, "", None)
    if quote.expires_at > now:
        answer.text += (
            f"\nThe quote holds today's prices for {max(1, int((quote.expires_at - now).total_seconds() // 60))} more "
            'minutes — say "book it" to keep them.'
        )
        answer.buttons.insert(0, Button("Book it", f"book quote {quote.reference}"))
    answer.data["quote_reference"] = quote.reference  # not "quote": a later "yes" is no order to book
    return answer


def event_phrase(event: Event) -> str:
    return f"{event.artist.name} in {event.venue.city}"


# --- the tools -----------------------------------------------------------------------------------------------


@roadie_tool(
    summary='say whether to book now or wait — price forecasts for tickets, flights and trips ("book now or wait?")',
    examples=(  # about price moves in so many words: the cues in assistant/planner/price_slots.py route the rest
        "should I book now or wait?",
        "will flight prices go up?",
        "are the tickets going to get cheaper?",
        "book now or wait for the tickets?",
        "is it a good time to buy the tickets?",
        "will the price of my trip go down?",
        "price forecast for the flights",
        "do you think prices will drop?",
        "when is the best time to book the flight?",
        "should I wait for a better price?",
        "will the hotel get cheaper closer to the date?",
        "is this a good price or will it go lower?",
        "debería reservar ahora o esperar?",
        "soll ich jetzt buchen oder warten?",
        "je réserve maintenant ou j'attends ?",
    ),
)
def forecast_price(
    runtime: ToolRuntime[Any, Any],
    artist: str | None = None,
    city: str | None = None,
    venue: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    origin: str | None = None,
    item: str | None = None,
    section: str | None = None,
    quote: str | None = None,
) -> ToolAnswer:
    """Should the person book now or wait? Forecasts the next 14 days of a price with an 80% range and a recommendation.

    Works for a quote (the latest one in this conversation when nothing else is named), a show's
    tickets, the flight to a show from the person's city, or a flight route on a date (origin, city
    and date_from without an artist). Answers book_now, wait or monitor with the expected saving,
    the best day to book and a confidence. With too little price history it gives the current price
    and says so instead of guessing.

    Args:
        artist: The artist of the show, e.g. "Taylor Swift".
        city: The show's city, or where the flight goes, e.g. "Lisbon".
        venue: The venue, if named.
        date_from: The show or flight date (or the first day of a range), YYYY-MM-DD.
        date_to: Last day of the range, YYYY-MM-DD.
        origin: The city the person flies from; defaults to their home city.
        item: What to forecast: "flight", "ticket", "hotel" or "trip" (tickets and flights together).
        section: Ticket section: standing, lower tier, upper tier or VIP.
        quote: A quote reference such as Q-4HT9PZ.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    kind = item_kind(item)
    origin_city = resolve(ctx, "city", origin) or ctx.caller.home_city
    with ctx.services.db.session() as session:
        chosen: list[tuple[Offer, int]] = []
        unit = ""
        watch_text: str | None = None
        named = any((artist, city, venue))
        the_quote = _latest_quote(session, ctx, quote) if quote or (not named and kind in (None, "trip")) else None
        if quote and the_quote is None:
            raise UserFacingError(
                f"I can't find a quote **{quote}** among yours — plan a trip first and ask me about it."
            )
        if the_quote is not None:
            return _quote_forecast(
                session,
                ctx,
                forecasters(ctx.services.db, ctx.services.settings.data_dir, wait=TURN_WAIT_S),
                the_quote,
                now,
            )
        if kind == "flight" and not artist and not venue and city and date_from:
            if origin_city is None:
                return needs_home({"city": city, "date_from": date_from, "item": "flight"}, tool="forecast_price")
            day = parse_day(date_from, "the flight date")
            assert day is not None
            destination = resolve(ctx, "city", city)
            assert destination is not None
            flight = route_flight(session, ctx, origin_city, destination, day)
            chosen, unit = [(flight, 1)], " per seat"
            title = f"{offer_label(flight, city_zones(session))} ({origin_city} → {destination})"
            watch_text = f"tell me if the flight from {origin_city} to {destination} on {day:%-d %B %Y} drops"
        else:
            if not named:
                raise UserFacingError(
                    'Which show or flight should I forecast? For example: "should I book the flight to Lisbon for '
                    'the Taylor Swift show now?" or "will Coldplay tickets in Paris get cheaper?"'
                )
            event = find_event(session, ctx, artist, city, venue, date_from, date_to)
            show = event_phrase(event)
            day = local_time(event.starts_at, event.venue.timezone)
            planned = _latest_quote(session, ctx, None) if kind is None else None
            if planned is not None and planned.event_id == event.id:  # "book now or wait?" after planning this show
                models = forecasters(ctx.services.db, ctx.services.settings.data_dir, wait=TURN_WAIT_S)
                return _quote_forecast(session, ctx, models, planned, now)
            if kind in ("flight", "trip") and origin_city is None:
                return needs_home(
                    {
                        "artist": event.artist.name,
                        "city": event.venue.city,
                        "date_from": day.date().isoformat(),
                        "item": kind,
                    },
                    tool="forecast_price",
                )
            if kind == "flight" and origin_city == event.venue.city:
                raise UserFacingError(
                    f"You live in {event.venue.city} already — there's no flight to forecast for {show}."
                )
            if kind == "flight":
                out, _ = event_flights(session, event, origin_city or "")
                if out is None:
                    raise UserFacingError(
                        f"I have no bookable flights from {origin_city} for {show} ({describe_when(event)})."
                    )
                chosen, unit = [(out, 1)], " per seat"
                title = f"{offer_label(out, city_zones(session))} for {show}"
                watch_text = f"tell me if the flight to {event.venue.city} for {event.artist.name} drops"
            elif kind == "hotel":
                hotel = cheapest(session, select(Offer).where(Offer.kind == "hotel", Offer.event_id == event.id))
                if hotel is None:
                    raise UserFacingError(f"Hotels near {event.venue.name} are full for {show}.")
                chosen, unit = [(hotel, 1)], " a night"
                title = f"{hotel.name} for {show}"
            else:
                tickets = event_tickets(session, event, section)
                if tickets is None:
                    raise UserFacingError(f"Sorry — {show} ({describe_when(event)}) is sold out.")
                chosen, unit = [(tickets, 1)], " per ticket"
                title = f"{tickets.name} tickets for {show}, {describe_when(event)}"
                watch_text = f"tell me if {event.artist.name} tickets in {event.venue.city} drop"
                if kind == "trip" and origin_city and origin_city != event.venue.city:
                    out, back = event_flights(session, event, origin_city)
                    chosen += [(f, 1) for f in (out, back) if f is not None]
                    unit, watch_text = " per person", None
                    title = f"a trip to {show} from {origin_city} (tickets and flights, per person)"
        models = forecasters(ctx.services.db, ctx.services.settings.data_dir, wait=TURN_WAIT_S)
        found = outlooks(session, models, chosen, now)
        return forecast_answer(ctx, title, found, now, unit, watch_text)


def dynamic_pricing_job(db: Database, data_dir: Path | None, now: datetime) -> str:
    """The scheduler's pricing job: move ticket prices by the demo's rules, then train forecasts on the new history."""
    with db.write_session() as session:
        report = reprice_tickets(session, now)
    if report.sections:
        models = forecasters(db, data_dir)  # the job's own thread waits for the training
        return f"{report}; forecasts for {', '.join(models.models) if models else 'nothing'} trained"
    return str(report)
