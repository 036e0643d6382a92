"""Dynamic ticket pricing for the demo inventory: demand, time to the show and sales pace move the price.

Each run (the scheduler's daily `dynamic_pricing` job) looks at every upcoming ticket section still on
sale and moves its price toward a target set against its face value:

- demand: the share of the section already sold — fuller sections cost more, emptier ones less;
- sales pace: tickets booked in the last 7 days against the show's usual weekly pace since it was
  announced — selling twice as fast adds up to 10%, half as fast takes up to 10% off;
- time to the show: in the last 60 days a nearly full show gets dearer and a slow one cheaper.

Rules every price keeps: never above face value + 50% or below face value - 20%; a move is at least
1% (smaller ones are skipped, so prices do not twitch) and at most 8% in one run; whole euros; at most
one move a day per section. Every move is written to the price history, which is what forecasts learn from.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assistant.models import Booking, Event, Offer, PricePoint

CAP_UP = 0.5  # at most face value + 50%
CAP_DOWN = 0.2  # at least face value − 20%
MIN_STEP = 0.01  # smaller moves are skipped
MAX_STEP = 0.08  # the largest move in one run
PACE_WINDOW = timedelta(days=7)
REPRICE_EVERY = timedelta(hours=20)  # a section is repriced at most once a day, whenever the job runs


@dataclass(frozen=True)
class Demand:
    """What moves a section's price: how full it is, how fast the show sells, and how soon it is."""

    sold_share: float  # 0..1 of the section's capacity
    pace: float  # tickets in the last 7 days ÷ the usual 7 days since announcement (1.0 = as usual)
    days_to_show: float


def target_multiplier(demand: Demand) -> float:
    """The price a section should have, as a multiple of its face value (within the caps)."""
    fullness = 0.5 * (demand.sold_share - 0.6)  # +20% sold out, −10% at 40% sold
    pace = 0.1 * max(-1.0, min(1.0, math.log2(max(demand.pace, 1e-6))))
    closing = max(0.0, 1 - demand.days_to_show / 60)
    urgency = 0.15 * closing * (1 if demand.sold_share >= 0.7 else -1 if demand.sold_share < 0.5 else 0)
    return max(1 - CAP_DOWN, min(1 + CAP_UP, 1 + fullness + pace + urgency))


def next_price(current_minor: int, face_minor: int, demand: Demand) -> int:
    """The section's next price in minor units: toward the target, in a step of 1-8%, whole euros, within the caps."""
    floor, ceiling = (
        math.ceil(face_minor * (1 - CAP_DOWN) / 100) * 100,
        math.floor(face_minor * (1 + CAP_UP) / 100) * 100,
    )
    target = face_minor * target_multiplier(demand)
    change = (target - current_minor) / current_minor
    if abs(change) < MIN_STEP:
        return max(floor, min(ceiling, current_minor))
    step = max(-MAX_STEP, min(MAX_STEP, change))
    moved = current_minor * (1 + step)
    rounded = (math.ceil(moved / 100) if step > 0 else math.floor(moved / 100)) * 100  # whole euros, never under 1%
    price = max(floor, min(ceiling, rounded))
    return price if abs(price - current_minor) >= MIN_STEP * current_minor else current_minor


@dataclass
class RepriceReport:
    """What one run changed."""

    sections: int = 0
    raised: int = 0
    lowered: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.sections} sections: {self.raised} up, {self.lowered} down, {self.unchanged} unchanged"


def sales_pace(bookings: list[tuple[datetime, int]], announced_at: datetime, now: datetime) -> float:
    """Tickets in the last 7 days against the usual 7 days since the show was announced (1 with no history)."""
    times = [t for t, _ in bookings]
    recent_from = bisect_left(times, now - PACE_WINDOW)
    recent = sum(n for _, n in bookings[recent_from:])
    total = sum(n for t, n in bookings if t <= now)
    weeks = max(1.0, (now - announced_at).total_seconds() / PACE_WINDOW.total_seconds())
    usual = total / weeks
    return (recent + 1) / (usual + 1)  # +1 each side: a show with no sales is "as usual", not undefined


def reprice_tickets(session: Session, now: datetime) -> RepriceReport:
    """Move every on-sale ticket section of upcoming shows one step toward its target; record each move."""
    report = RepriceReport()
    offers = list(
        session.execute(
            select(Offer, Event)
            .join(Event, Event.id == Offer.event_id)
            .where(Offer.kind == "ticket", Offer.available > 0, Event.starts_at > now, Event.status == "scheduled")
            .order_by(Offer.id)
        ).all()
    )
    if not offers:
        return report
    ids = [offer.id for offer, _ in offers]
    last_seen = dict(
        session.execute(
            select(PricePoint.offer_id, func.max(PricePoint.observed_at))
            .where(PricePoint.offer_id.in_(ids))
            .group_by(PricePoint.offer_id)
        ).all()
    )
    sold: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for event_id, created, tickets in session.execute(
        select(Booking.event_id, Booking.created_at, Booking.tickets)
        .where(Booking.event_id.in_({event.id for _, event in offers}), Booking.status != "cancelled")
        .order_by(Booking.created_at)
    ):
        if event_id is not None:
            sold[event_id].append((created, tickets))
    for offer, event in offers:
        seen = last_seen.get(offer.id)
        if seen is not None and now - seen < REPRICE_EVERY:
            continue
        report.sections += 1
        face = int((offer.details or {}).get("face_value_minor") or offer.price_minor)
        demand = Demand(
            sold_share=1 - offer.available / offer.capacity if offer.capacity else 1.0,
            pace=sales_pace(sold[event.id], event.announced_at, now),
            days_to_show=(event.starts_at - now).total_seconds() / 86400,
        )
        price = next_price(offer.price_minor, face, demand)
        if price > offer.price_minor:
            report.raised += 1
        elif price < offer.price_minor:
            report.lowered += 1
        else:
            report.unchanged += 1
        offer.price_minor = price
        session.add(PricePoint(offer_id=offer.id, observed_at=now, price_minor=price))
    return report
