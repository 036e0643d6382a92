"""Roadie's semantic layer for staff: a fixed vocabulary of metrics, dimensions and periods, compiled to queries.

A question becomes a `MetricQuery` — a metric name, at most one dimension, a period and filters, all
from the vocabulary below, with entity names already resolved to the catalogue's. Each metric's source
builds SQLAlchemy statements with bound values; no text from a person or a model is ever run as SQL.
Whole days and months come from the rollups (tools/rollups.py), the rest from the raw tables.

All times are UTC days; money is in integer minor units of EUR, Roadie's reporting currency.
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import literal_column

from assistant.models import (
    Artist,
    Booking,
    ConversationEvent,
    Event,
    MetricActiveRollup,
    MetricBookingRollup,
    MetricLatencyRollup,
    MetricLogRollup,
    Offer,
    OutboxMessage,
    Person,
    Venue,
)
from tools.rollups import (
    CANCELLED,
    Coverage,
    as_date,
    at,
    day_of,
    has_tools,
    latency_bucket,
    month_of,
    month_start,
    next_month,
    unpack,
    week_of,
)

MONEY, COUNT, RATIO, MS = "money", "count", "ratio", "ms"
REPORTING_CURRENCY = "EUR"


@dataclass(frozen=True)
class Metric:
    """One metric of the vocabulary: its unit, where it is counted, and what it means (said to staff)."""

    name: str
    label: str
    unit: str
    source: str
    means: str
    higher_is_better: bool = True


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "revenue",
            "Revenue",
            MONEY,
            "bookings",
            "what travellers paid for bookings made in the period, less the refunds given on them",
        ),
        Metric("bookings", "Bookings", COUNT, "bookings", "bookings made in the period (later cancellations included)"),
        Metric(
            "tickets_sold", "Tickets sold", COUNT, "bookings", "tickets in bookings made in the period, not cancelled"
        ),
        Metric(
            "average_order_value",
            "Average order value",
            MONEY,
            "bookings",
            "the average total of a booking made in the period",
        ),
        Metric(
            "commission",
            "Commission",
            MONEY,
            "bookings",
            "Roadie's commission on bookings made in the period and not cancelled",
        ),
        Metric("cancellations", "Cancellations", COUNT, "cancellations", "bookings cancelled in the period", False),
        Metric("refunds", "Refunds", MONEY, "cancellations", "money refunded for cancellations in the period", False),
        Metric("new_users", "New users", COUNT, "people", "travellers who first contacted Roadie in the period"),
        Metric("active_users", "Active users", COUNT, "active", "distinct people who talked to Roadie in the period"),
        Metric("searches", "Searches", COUNT, "log", "searches for shows, from Roadie's own log"),
        Metric("quotes", "Quotes", COUNT, "log", "trip quotes given, from Roadie's own log"),
        Metric(
            "quote_to_booking",
            "Quote → booking conversion",
            RATIO,
            "log",
            "bookings ÷ quotes in Roadie's own log",
        ),
        Metric("search_to_quote", "Search → quote conversion", RATIO, "log", "quotes ÷ searches in Roadie's own log"),
        Metric(
            "sell_through",
            "Seats sold-through",
            RATIO,
            "inventory",
            "share of ticket capacity sold, for shows in the period (upcoming shows unless a period is given)",
        ),
        Metric("alerts_sent", "Alerts sent", COUNT, "outbox", "proactive messages delivered (alerts, reminders)"),
        Metric("turns", "Assistant turns", COUNT, "log", "messages Roadie answered"),
        Metric(
            "tool_success_rate",
            "Tool success rate",
            RATIO,
            "log",
            "share of turns that used a tool and ended without an error",
        ),
        Metric("median_latency", "Median reply latency", MS, "latency", "median time to answer a message", False),
    )
}
TIME_DIMS = ("day", "week", "month")
ENTITY_DIMS = ("artist", "event", "city", "country", "venue")
DIMENSIONS: dict[str, str] = {
    "artist": "Artist",
    "event": "Show",
    "city": "City",
    "country": "Country",
    "venue": "Venue",
    "route": "Route",
    "channel": "Channel",
    "day": "Day",
    "week": "Week",
    "month": "Month",
}
ENTITY_FILTERS = ("artist", "city", "country", "venue")
ENTITY_COLUMNS: dict[str, Any] = {
    "artist": Artist.name,
    "city": Venue.city,
    "country": Venue.country,
    "venue": Venue.name,
}
FILTERS = (*ENTITY_FILTERS, "route", "channel")
SOURCE_DIMS: dict[str, tuple[str, ...]] = {
    "bookings": (*ENTITY_DIMS, "route", "channel", *TIME_DIMS),
    "cancellations": (*ENTITY_DIMS, "route", "channel", *TIME_DIMS),
    "people": TIME_DIMS,
    "active": ("channel", *TIME_DIMS),
    "log": ("channel", *TIME_DIMS),
    "latency": ("channel", *TIME_DIMS),
    "outbox": ("channel", *TIME_DIMS),
    "inventory": ENTITY_DIMS,
}
SOURCE_FILTERS: dict[str, tuple[str, ...]] = {
    "bookings": FILTERS,
    "cancellations": FILTERS,
    "people": (),
    "active": ("channel",),
    "log": ("channel",),
    "latency": ("channel",),
    "outbox": ("channel",),
    "inventory": ENTITY_FILTERS,
}
CHANNELS = ("web", "telegram", "whatsapp", "slack", "terminal")
PERIODS = (
    "today",
    "yesterday",
    "last_7_days",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "last_30_days",
    "this_year",
    "last_year",
)
UPCOMING = "upcoming"  # shows from today on: sell-through's default


class MetricError(ValueError):
    """A question the vocabulary cannot answer as asked; the message says what can be asked instead."""


# Periods


@dataclass(frozen=True)
class Period:
    """Whole UTC days [start, end)."""

    name: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def label(self) -> str:
        last = self.end - timedelta(days=1)
        names = {
            "today": "today",
            "yesterday": "yesterday",
            "last_7_days": "the last 7 days",
            "this_week": "this week",
            "last_week": "last week",
            "this_month": "this month",
            "last_month": "last month",
            "last_30_days": "the last 30 days",
            "this_year": "this year",
            "last_year": "last year",
            UPCOMING: "upcoming shows",
        }
        if self.name == UPCOMING:
            return "upcoming shows"
        span = day_span(self.start, last)
        return f"{names[self.name]} ({span})" if self.name in names else span


def day_span(first: date, last: date) -> str:
    """A readable span of days: "Fri 20 Nov 2026", "9-15 Nov 2026" (with an en dash), "October 2026"."""
    if first == last:
        return f"{first:%a} {first.day} {first:%b %Y}"
    if first.day == 1 and last == _month_end(last) and first.year == last.year and first.month == last.month:
        return f"{first:%B %Y}"
    if first.year == last.year and first.month == last.month:
        return f"{first.day}–{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def resolve_period(name: str | None, date_from: date | None, date_to: date | None, today: date) -> Period:
    """The days a period name (or explicit dates, both inclusive) covers, relative to `today` (UTC)."""
    if date_from or date_to:
        first = date_from or date_to or today
        last = date_to or today
        if last < first:
            first, last = last, first
        return Period("custom", first, last + timedelta(days=1))
    tomorrow = today + timedelta(days=1)
    monday = today - timedelta(days=today.weekday())
    match name or "last_7_days":
        case "today":
            return Period("today", today, tomorrow)
        case "yesterday":
            return Period("yesterday", today - timedelta(days=1), today)
        case "last_7_days":
            return Period("last_7_days", today - timedelta(days=6), tomorrow)
        case "this_week":
            return Period("this_week", monday, tomorrow)
        case "last_week":
            return Period("last_week", monday - timedelta(days=7), monday)
        case "this_month":
            return Period("this_month", today.replace(day=1), tomorrow)
        case "last_month":
            first = _add_months(today.replace(day=1), -1)
            return Period("last_month", first, today.replace(day=1))
        case "last_30_days":
            return Period("last_30_days", today - timedelta(days=29), tomorrow)
        case "this_year":
            return Period("this_year", date(today.year, 1, 1), tomorrow)
        case "last_year":
            return Period("last_year", date(today.year - 1, 1, 1), date(today.year, 1, 1))
        case "upcoming":
            return Period(UPCOMING, today, date(today.year + 5, 1, 1))
    raise MetricError(
        f"I don't know the period **{name}**. Try one of: " + ", ".join(p.replace("_", " ") for p in PERIODS)
    )


def previous_period(period: Period) -> Period:
    """What a period is compared with: the one before it, as long (a to-date period: the same days of the last one)."""
    start, end = period.start, period.end
    match period.name:
        case "this_month":
            first = _add_months(start, -1)
            return Period("previous", first, min(first + timedelta(days=period.days), start))
        case "last_month":
            return Period("previous", _add_months(start, -1), start)
        case "this_year":
            first = date(start.year - 1, 1, 1)
            return Period("previous", first, first + timedelta(days=period.days))
        case "last_year":
            return Period("previous", date(start.year - 1, 1, 1), start)
    if period.name == "custom" and start.day == 1 and end.day == 1 and period.days >= 28:
        months = (end.year - start.year) * 12 + end.month - start.month  # whole months: the months before
        return Period("previous", _add_months(start, -months), start)
    return Period("previous", start - (end - start), start)


# Queries and results


@dataclass(frozen=True)
class MetricQuery:
    """A question in the vocabulary: a metric, at most one dimension, a period and filters (canonical values)."""

    metric: str
    period: Period
    by: str | None = None
    filters: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        metric = METRICS.get(self.metric)
        if metric is None:
            raise MetricError(
                f"I don't have a metric called **{self.metric}**. I know: "
                + ", ".join(m.label for m in METRICS.values())
            )
        if self.by is not None and self.by not in SOURCE_DIMS[metric.source]:
            if self.by not in DIMENSIONS:
                raise MetricError(f"I can't split by **{self.by}**. Dimensions: " + ", ".join(DIMENSIONS))
            allowed = ", ".join(SOURCE_DIMS[metric.source])
            raise MetricError(f"**{metric.label}** can be split by {allowed} — not by {self.by}.")
        for name, _ in self.filters:
            if name not in SOURCE_FILTERS[metric.source]:
                allowed = ", ".join(SOURCE_FILTERS[metric.source]) or "nothing"
                raise MetricError(f"**{metric.label}** can be filtered by {allowed} — not by {name}.")

    @property
    def spec(self) -> Metric:
        return METRICS[self.metric]

    def with_period(self, period: Period) -> MetricQuery:
        return MetricQuery(self.metric, period, self.by, self.filters)

    def without_dimension(self) -> MetricQuery:
        return MetricQuery(self.metric, self.period, None, self.filters)


@dataclass
class Row:
    """One line of an answer: the dimension's key (a date for time dimensions), how it reads, and the value."""

    key: Any
    label: str
    value: float | int | None


@dataclass
class MetricResult:
    """The answer to a query: its total and, with a dimension, one row per value (time in order, else best first)."""

    query: MetricQuery
    total: float | int | None
    rows: list[Row] = field(default_factory=list)
    parts: Any = None  # the source's additive parts behind the total (the funnel's counts, for one)
    left_out: float | int | None = None  # by route: the bookings without flights, counted in the total only


Key = Any
Parts = dict[Key, Any]  # key → the source's additive parts (a list of ints, a Counter, or person-id arrays)


def run_query(
    session: Session, query: MetricQuery, coverage: Coverage, today: date, labelled: int | None = 100
) -> MetricResult:
    """Answer `query` from the rollups (whole days and months they cover) and the raw tables (the rest).

    By show, the `labelled` first and last rows get readable labels (None: every row, for an export).
    """
    source = SOURCES[query.spec.source]
    parts = source(session, query, coverage, today)
    value = VALUES[query.metric]
    by = query.by
    labels: dict[Key, str] = {}
    if by in ENTITY_DIMS and by != "event" and query.spec.source != "bookings":  # bookings are grouped in SQL
        parts = _regroup(session, parts, by, query.spec.source)
    if query.spec.source == "latency" and by == "day":  # rows hold the days' stored medians: the total is asked
        whole = _combine("latency", list(source(session, query.without_dimension(), coverage, today).values()))
    else:  # person sets unite and latency histograms add up exactly, so every other total is its rows combined
        whole = _combine(query.spec.source, list(parts.values())) if parts else _empty(query.spec.source)
    total = value(whole)
    kept = whole if isinstance(whole, list) else None
    if by is None:
        return MetricResult(query, total, parts=kept)
    if by in TIME_DIMS:
        for bucket in _buckets(by, query.period):
            parts.setdefault(bucket, _empty(query.spec.source))
        keys = sorted(k for k in parts if k is not None)
        rows = [Row(k, _time_label(by, k), value(parts[k])) for k in keys]
    else:
        unrouted = parts.pop(None, None) if by == "route" else None  # bookings without flights have no route
        rows = [Row(k, labels.get(k) or _label(by, k), value(p)) for k, p in parts.items()]
        rows.sort(key=lambda r: (r.value is None, -(r.value or 0), r.label))
        if by == "event":  # labels (artist, city, local date) for the rows anyone will read
            ends = rows if labelled is None or len(rows) <= 2 * labelled else rows[:labelled] + rows[-labelled:]
            named = show_facts(session, [r.key for r in ends if r.key is not None], "event")
            for row in ends:
                row.label = named.get(row.key, row.label)
        if unrouted is not None:
            return MetricResult(query, total, rows, parts=kept, left_out=value(unrouted))
    return MetricResult(query, total, rows, parts=kept)


def _buckets(by: str, period: Period) -> list[date]:
    """Every day, week (Monday) or month (1st) the period touches."""
    out: list[date] = []
    if period.name == UPCOMING:
        return out
    day = period.start
    if by == "week":
        day -= timedelta(days=day.weekday())
        while day < period.end:
            out.append(day)
            day += timedelta(days=7)
    elif by == "month":
        day = month_start(day)
        while day < period.end:
            out.append(day)
            day = next_month(day)
    else:
        while day < period.end:
            out.append(day)
            day += timedelta(days=1)
    return out


def _time_label(by: str, key: date) -> str:
    if by == "month":
        return f"{key:%b %Y}"
    if by == "week":
        return f"week of {key.day} {key:%b}"
    return f"{key:%a} {key.day} {key:%b}"


def _label(by: str, key: Any) -> str:
    if key is None:
        return "(none)" if by != "route" else "(no flights)"
    if by == "event":
        return f"show #{key}"
    if by == "route":
        return str(key).replace("-", " → ")
    return str(key)


# Values from parts


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _median(histogram: Counter[int]) -> int | None:
    """The lower median (PostgreSQL's percentile_disc(0.5)) of a latency histogram."""
    if not histogram:
        return None
    latencies = np.fromiter(histogram.keys(), dtype=np.int64, count=len(histogram))
    counts = np.fromiter(histogram.values(), dtype=np.int64, count=len(histogram))
    order = np.argsort(latencies)
    seen = np.cumsum(counts[order])
    if seen[-1] <= 0:
        return None
    return int(latencies[order][np.searchsorted(seen, (seen[-1] + 1) // 2)])


VALUES: dict[str, Callable[[Any], float | int | None]] = {
    "revenue": lambda p: p[1] - p[2],
    "bookings": lambda p: p[0],
    "tickets_sold": lambda p: p[4],
    "average_order_value": lambda p: round(p[1] / p[0]) if p[0] else None,
    "commission": lambda p: p[5],
    "cancellations": lambda p: p[0],
    "refunds": lambda p: p[1],
    "new_users": lambda p: p[0],
    "alerts_sent": lambda p: p[0],
    "active_users": lambda p: len(p),
    "searches": lambda p: p[0],
    "quotes": lambda p: p[1],
    "quote_to_booking": lambda p: _ratio(p[2], p[1]),
    "search_to_quote": lambda p: _ratio(p[1], p[0]),
    "turns": lambda p: p[3],
    "tool_success_rate": lambda p: _ratio(p[5], p[4]),
    "sell_through": lambda p: _ratio(p[1], p[0]),
    "median_latency": _median,
}
WIDTH = {"bookings": 6, "cancellations": 2, "people": 1, "outbox": 1, "log": 6, "inventory": 2}


def _empty(source: str) -> Any:
    if source == "latency":
        return Counter()
    if source == "active":
        return np.zeros(0, dtype="<u4")
    return [0] * WIDTH[source]


def _combine(source: str, parts: Sequence[Any]) -> Any:
    if source == "latency":
        total: Counter[int] = Counter()
        for histogram in parts:
            total.update(histogram)
        return total
    if source == "active":
        return union(parts)
    return [sum(column) for column in zip(*parts, strict=True)] if parts else _empty(source)


def union(sets: Sequence[np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
    """The distinct person ids of several sorted id arrays (a bitmap when they are many)."""
    if not sets:
        return np.zeros(0, dtype="<u4")
    if sum(len(s) for s in sets) < 50_000:
        ids = np.sort(np.concatenate(sets))
        return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if len(ids) else ids
    seen = np.zeros(int(max(int(s.max()) for s in sets if len(s))) + 1, dtype=bool)
    for ids in sets:
        seen[ids] = True
    return np.flatnonzero(seen).astype("<u4")


def _add(source: str, into: Parts, key: Key, more: Any) -> None:
    have = into.get(key)
    if have is None:
        into[key] = list(more) if isinstance(more, list) else more
    elif isinstance(have, list):
        for i, value in enumerate(more):
            have[i] += value
    else:
        into[key] = _combine(source, [have, more])


# Entities: shows are grouped by id in SQL and rolled up to artist, city, country or venue here (bookings: in SQL).


def show_facts(session: Session, ids: Iterable[int], by: str) -> dict[int, str]:
    """What each show id is by `by`: its artist, city, country or venue, or (by "event") a readable label."""
    wanted = sorted({i for i in ids if i is not None})
    if by == "event":
        stmt = select(Event.id, Artist.name, Venue.city, Event.starts_at, Venue.timezone)
    else:
        stmt = select(Event.id, ENTITY_COLUMNS[by])
    stmt = stmt.select_from(Event).join(Artist, Artist.id == Event.artist_id).join(Venue, Venue.id == Event.venue_id)
    if len(wanted) <= 500:  # a few: by id; many: the whole catalogue of shows is one cheap scan
        stmt = stmt.where(Event.id.in_(wanted))
    if by != "event":
        return {event_id: name for event_id, name, *_ in session.connection().execute(stmt)}
    zones: dict[str, ZoneInfo] = {}
    out: dict[int, str] = {}
    for event_id, artist, city, starts, zone in session.connection().execute(stmt):
        local = starts.astimezone(zones.setdefault(zone, ZoneInfo(zone)))
        out[event_id] = f"{artist} · {city} · {local.day} {local:%b %Y}"
    return out


def _regroup(session: Session, parts: Parts, by: str, source: str) -> Parts:
    """Per-show parts summed per artist, city, country or venue."""
    facts = show_facts(session, [k for k in parts if k is not None], by)
    out: Parts = {}
    for event_id, value in parts.items():
        _add(source, out, facts.get(event_id), value)
    return out


def events_matching(session: Session, filters: dict[str, str]) -> list[int] | None:
    """Show ids matching the entity filters (artist, city, country, venue), or None when none are set."""
    wanted = {k: v for k, v in filters.items() if k in ENTITY_FILTERS}
    if not wanted:
        return None
    stmt = select(Event.id).join(Artist, Artist.id == Event.artist_id).join(Venue, Venue.id == Event.venue_id)
    for name, value in wanted.items():
        stmt = stmt.where(ENTITY_COLUMNS[name] == value)
    return list(session.scalars(stmt))


# Splitting a period between rollups and raw rows


def split(lo: date, hi: date, months_until: date | None, days_until: date | None) -> list[tuple[str, date, date]]:
    """[lo, hi) as ("month" | "day" | "raw", start, end) pieces: whole built months, built days, the rest raw."""
    pieces: list[tuple[str, date, date]] = []
    rest = [(lo, hi)]
    if months_until is not None:
        first = lo if lo.day == 1 else next_month(lo)
        last = min(month_start(hi), months_until)
        if first < last:
            pieces.append(("month", first, last))
            rest = [(lo, first), (last, hi)]
    for start, end in rest:
        if start >= end:
            continue
        if days_until is not None and start < days_until:
            middle = min(end, days_until)
            pieces.append(("day", start, middle))
            start = middle
        if start < end:
            pieces.append(("raw", start, end))
    return pieces


def _filters(query: MetricQuery) -> dict[str, str]:
    return dict(query.filters)


def _grouped(stmt: Any, key: Any) -> Any:
    return stmt.add_columns(key).group_by(key) if key is not None else stmt


def _rows(session: Session, stmt: Any, keyed: bool, width: int) -> Iterable[tuple[Key, list[int]]]:
    for row in session.connection().execute(stmt):
        values = [int(v or 0) for v in row[:width]]
        yield (row[width] if keyed else None), values


def _time_key(by: str | None, key: Any) -> Any:
    return as_date(key) if by in TIME_DIMS and key is not None else key


# Sources


def _bookings(session: Session, query: MetricQuery, coverage: Coverage, today: date) -> Parts:
    """Bookings as made, less what cancellations took back: rollup cubes where they cover, raw rows for the rest."""
    by, wanted = query.by, _filters(query)
    shows = events_matching(session, wanted)
    if shows == []:
        return {}
    entity = by in ENTITY_DIMS or shows is not None
    routed = by == "route" or "route" in wanted
    fine = by in ("day", "week")
    lo, hi = query.period.start, query.period.end
    until = coverage.bookings_days
    if until is None or (entity and routed) or ((entity or routed) and fine):
        plan = [("raw", lo, hi)]
    elif entity or routed:
        plan = split_months(lo, hi, until)
    else:
        plan = split(lo, hi, None, until)
    cube = "event" if entity else "route" if routed else "day"
    if cube != "day" and by != "channel" and "channel" not in wanted:
        cube += "all"  # the channel-less month cube: a quarter of the rows
    out: Parts = {}
    # By artist, city, country or venue: the SQL groups by it, through the show.
    through_show = by if by in ENTITY_DIMS and by != "event" else None

    def take(stmt: Any, key: Any, cancelled: bool) -> None:
        if through_show:
            stmt, key = _through_show(stmt, through_show)
        for k, (n, money, tickets, commission) in _rows(session, _grouped(stmt, key), key is not None, 4):
            parts = [0, 0, money, -n, -tickets, -commission] if cancelled else [n, money, 0, n, tickets, commission]
            _add("bookings", out, _time_key(by, k), parts)

    b = Booking
    late: Any = None  # cancellations after the rollup's day, fetched when a rollup piece needs them
    made = [func.count(), func.sum(b.total_minor), func.sum(b.tickets), func.sum(b.commission_minor)]
    taken_back = [func.count(), func.sum(b.refund_minor), func.sum(b.tickets), func.sum(b.commission_minor)]
    for kind, start, end in plan:
        key = _booking_key(session, by, b.created_at, b)
        if kind == "raw":
            stmt = select(*made).where(b.created_at >= at(start), b.created_at < at(end))
            take(_where(stmt, b.event_id, b.route, b.channel, shows, wanted), key, False)
            if by in ENTITY_DIMS and shows is None:
                # "+ 0": grouping by an expression keeps SQLite from walking the show index to skip a sort;
                # reading the few cancelled rows through the status index is much quicker.
                key = b.event_id + literal_column("0")
            stmt = select(*taken_back).where(b.status == "cancelled", b.created_at >= at(start), b.created_at < at(end))
            take(_where(stmt, b.event_id, b.route, b.channel, shows, wanted), key, True)
            continue
        assert until is not None  # a rollup piece exists only when the rollup does
        r = MetricBookingRollup
        rollup_key = _rollup_key(session, by, cube)
        sums = [
            func.sum(r.made_n),
            func.sum(r.made_total_minor),
            func.sum(r.made_tickets),
            func.sum(r.made_commission_minor),
        ]
        for name, cancelled in ((cube, False), (CANCELLED[cube], True)):
            stmt = select(*sums).where(r.cube == name, r.bucket >= start, r.bucket < end)
            take(_where(stmt, r.event_id, r.route, r.channel, shows, wanted), rollup_key, cancelled)
        # Cancelled since the rollup was built (today, mostly): a handful of rows, read once, summed here.
        if late is None:
            late = (
                session.connection()
                .execute(
                    select(b.created_at, b.event_id, b.route, b.channel, b.refund_minor, b.tickets, b.commission_minor)
                    .where(b.cancelled_at >= at(until))
                    .order_by(b.cancelled_at)
                )
                .all()
            )
        chosen = set(shows) if shows is not None else None
        facts = show_facts(session, [row[1] for row in late], through_show) if through_show else {}
        for made_at, event_id, route, channel, refund, tickets, commission in late:
            day = made_at.astimezone(UTC).date()
            if not (start <= day < min(end, until)) or (chosen is not None and event_id not in chosen):
                continue
            if wanted.get("route", route) != route or wanted.get("channel", channel) != channel:
                continue
            k = facts.get(event_id) if through_show else _python_key(by, day, event_id, route, channel)
            _add("bookings", out, k, [0, 0, refund, -1, -tickets, -commission])
    return out


def _through_show(stmt: Any, by: str) -> tuple[Any, Any]:
    """A booking statement (rows or rollup, keyed by show) grouped by the show's artist, city, country or venue
    instead: summed in the database, so a year by artist returns a row per artist, not one per show. Outer
    joins keep what has no show, under None, as the per-show sums did."""
    table = stmt.get_final_froms()[0]
    stmt = stmt.outerjoin(Event, Event.id == table.c.event_id)
    if by == "artist":
        stmt = stmt.outerjoin(Artist, Artist.id == Event.artist_id)
    else:
        stmt = stmt.outerjoin(Venue, Venue.id == Event.venue_id)
    return stmt, ENTITY_COLUMNS[by]


def _python_key(by: str | None, day: date, event_id: int | None, route: str | None, channel: str) -> Any:
    """The dimension key of one booking, as the SQL keys read (shows by id; weeks by Monday; months by the 1st)."""
    if by in ENTITY_DIMS:
        return event_id
    return {
        None: None,
        "route": route,
        "channel": channel,
        "day": day,
        "week": day - timedelta(days=day.weekday()),
        "month": month_start(day) if by == "month" else None,
    }[by]


def split_months(lo: date, hi: date, until: date) -> list[tuple[str, date, date]]:
    """[lo, hi) as month buckets the rollup covers — whole months, and this month up to `until` when the period
    runs to it — plus raw days at either end. A month piece is a range of buckets (first days of months)."""
    first = lo if lo.day == 1 else next_month(lo)
    month, last, covered = first, None, first
    while month < until and min(next_month(month), until) <= hi:
        last, covered = month, min(next_month(month), until)
        if covered < next_month(month):
            break  # this month, built up to today
        month = next_month(month)
    if last is None:
        return [("raw", lo, hi)]
    pieces = [("raw", lo, first)] if lo < first else []
    pieces.append(("month", first, next_month(last)))
    if covered < hi:
        pieces.append(("raw", covered, hi))
    return pieces


def _booking_key(session: Session, by: str | None, moment: Any, table: Any) -> Any:
    if by is None:
        return None
    if by in ENTITY_DIMS:
        return table.event_id
    if by == "route":
        return table.route
    if by == "channel":
        return table.channel
    return {"day": day_of, "week": week_of, "month": month_of}[by](session, moment)


def _rollup_key(session: Session, by: str | None, cube: str) -> Any:
    r = MetricBookingRollup
    if by is None:
        return None
    if by in ENTITY_DIMS:
        return r.event_id
    if by == "route":
        return r.route
    if by == "channel":
        return r.channel
    if by == "day" or (by == "month" and cube != "day"):
        return r.bucket
    return (week_of if by == "week" else month_of)(session, r.bucket, is_date=True)


def _where(stmt: Any, event_id: Any, route: Any, channel: Any, shows: list[int] | None, wanted: dict[str, str]) -> Any:
    if shows is not None:
        stmt = stmt.where(event_id.in_(shows))
    if "route" in wanted:
        stmt = stmt.where(route == wanted["route"])
    if "channel" in wanted:
        stmt = stmt.where(channel == wanted["channel"])
    return stmt


def _cancellations(session: Session, query: MetricQuery, coverage: Coverage, today: date) -> Parts:
    by, wanted = query.by, _filters(query)
    shows = events_matching(session, wanted)
    if shows == []:
        return {}
    lo, hi = at(query.period.start), at(query.period.end)
    key = _booking_key(session, by, Booking.cancelled_at, Booking)
    stmt = select(func.count(), func.sum(Booking.refund_minor)).where(
        Booking.cancelled_at >= lo, Booking.cancelled_at < hi
    )
    stmt = _where(stmt, Booking.event_id, Booking.route, Booking.channel, shows, wanted)
    out: Parts = {}
    for k, values in _rows(session, _grouped(stmt, key), key is not None, 2):
        _add("cancellations", out, _time_key(by, k), values)
    return out


def _people(session: Session, query: MetricQuery, coverage: Coverage, today: date) -> Parts:
    by = query.by
    key = _booking_key(session, by, Person.created_at, Person) if by else None
    stmt = select(func.count()).where(
        Person.role == "traveller",
        Person.created_at >= at(query.period.start),
        Person.created_at < at(query.period.end),
    )
    out: Parts = {}
    for k, values in _rows(session, _grouped(stmt, key), key is not None, 1):
        _add("people", out, _time_key(by, k), values)
    return out


def _outbox(session: Session, query: MetricQuery, coverage: Coverage, today: date) -> Parts:
    by, wanted = query.by, _filters(query)
    o = OutboxMessage
    key = o.channel if by == "channel" else _booking_key(session, by, o.sent_at, o) if by else None
    stmt = select(func.count()).where(
        o.sent_at >= at(query.period.start), o.sent_at < at(query.period.end), o.status == "sent"
    )
    if "channel" in wanted:
        stmt = stmt.where(o.channel == wanted["channel"])
    out: Parts = {}
    for k, values in _rows(session, _grouped(stmt, key), key is not None, 1):
        _add("outbox", out, _time_key(by, k), values)
    return out


LOG_KINDS = ("search", "quote", "booking", "turn")


def _log(session: Session, query: MetricQuery, coverage: Coverage, today: date) -> Parts:
    by, wanted = query.by, _filters(query)
    out: Parts = {}
    for kind, start, end in split(query.period.start, query.period.end, None, coverage.log_days):
        if kind == "raw":
            e = ConversationEvent
            tooled = has_tools()
            key = e.channel if by == "channel" else _booking_key(session, by, e.created_at, e) if by else None
            stmt = select(
                func.count(),
                func.sum(case((tooled, 1), else_=0)),
                func.sum(case((and_(tooled, e.ok), 1), else_=0)),
                e.kind,
            ).where(e.created_at >= at(start), e.created_at < at(end), e.kind.in_(LOG_KINDS))
            channel = e.channel
        else:
            r = MetricLogRollup
            key = (
                r.channel
                if by == "channel"
                else r.day
                if by == "day"
                else (week_of if by == "week" else month_of)(session, r.day, is_date=True)
                if by
                else None
            )
            stmt = select(func.sum(r.n), func.sum(r.tool_n), func.sum(r.tool_ok_n), r.kind).where(
                r.day >= start, r.day < end, r.kind.in_(LOG_KINDS)
            )
            channel = r.channel
        if "channel" in wanted:
            stmt = stmt.where(channel == wanted["channel"])
        stmt = stmt.group_by(stmt.selected_columns[3])
        stmt = _grouped(stmt, key)
        for row in session.connection().execute(stmt):
            n, tools, tools_ok, what = int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), row[3]
            parts = [0] * 6
            parts[LOG_KINDS.index(what)] = n
            if what == "turn":
                parts[4], parts[5] = tools, tools_ok
            _add("log", out, _time_key(by, row[4] if key is not None else None), parts)
    return out


def _latency(session: Session, query: MetricQuery, coverage: Coverage, today: date) -> Parts:
    by, wanted = query.by, _filters(query)
    months = coverage.log_months if by not in ("day", "week") else None
    every = "" if by == "channel" or "channel" in wanted else "all"  # histograms over all channels: fewer rows
    out: Parts = {}
    for kind, start, end in split(query.period.start, query.period.end, months, coverage.log_days):
        if kind == "raw":
            e = ConversationEvent
            bucket = latency_bucket(e.latency_ms)
            key = e.channel if by == "channel" else _booking_key(session, by, e.created_at, e) if by else None
            stmt = (
                select(bucket, func.count())
                .where(
                    e.kind == "turn",
                    e.latency_ms.is_not(None),
                    e.created_at >= at(start),
                    e.created_at < at(end),
                )
                .group_by(bucket)
            )
            channel = e.channel
        elif by == "day":  # each complete day's median is stored: one row a day
            r = MetricLatencyRollup
            daily = select(r.bucket, r.latency_ms).where(r.grain == "med" + every, r.bucket >= start, r.bucket < end)
            if "channel" in wanted:
                daily = daily.where(r.channel == wanted["channel"])
            for day, median in session.connection().execute(daily):
                out[_time_key(by, day)] = Counter({int(median): 1})  # a one-point histogram: its median is the day's
            continue
        else:
            r = MetricLatencyRollup
            if by == "channel":
                key = r.channel
            elif by in ("day", "month") and (by == "day" or kind == "month"):
                key = r.bucket
            elif by in TIME_DIMS:
                key = (week_of if by == "week" else month_of)(session, r.bucket, is_date=True)
            else:
                key = None
            stmt = (
                select(r.latency_ms, func.sum(r.n))
                .where(r.grain == kind + every, r.bucket >= start, r.bucket < end)
                .group_by(r.latency_ms)
            )
            channel = r.channel
        if "channel" in wanted:
            stmt = stmt.where(channel == wanted["channel"])
        stmt = _grouped(stmt, key)
        keys: dict[Any, Counter[int]] = {}  # one histogram per key as the database spells it
        for row in session.connection().execute(stmt):
            histogram = keys.get(row[2] if key is not None else None)
            if histogram is None:
                histogram = keys[row[2] if key is not None else None] = Counter()
            histogram[int(row[0])] += int(row[1])
        for spelled, histogram in keys.items():
            _add("latency", out, _time_key(by, spelled), histogram)
    return out


def _active(session: Session, query: MetricQuery, coverage: Coverage, today: date) -> Parts:
    by, wanted = query.by, _filters(query)
    found: dict[Key, list[np.ndarray[Any, Any]]] = defaultdict(list)

    def bucket_of(day: date) -> Key:
        if by == "channel" or by is None:
            return None
        if by == "week":
            return day - timedelta(days=day.weekday())
        return month_start(day) if by == "month" else day

    for kind, start, end in split(query.period.start, query.period.end, None, coverage.log_days):
        if kind == "raw":
            e = ConversationEvent
            stmt = (
                select(day_of(session, e.created_at), e.channel, e.person_id)
                .where(
                    e.kind == "turn",
                    e.person_id.is_not(None),
                    e.created_at >= at(start),
                    e.created_at < at(end),
                )
                .distinct()
            )
            if "channel" in wanted:
                stmt = stmt.where(e.channel == wanted["channel"])
            raw: dict[Key, list[int]] = defaultdict(list)
            for day, channel, person_id in session.connection().execute(stmt):
                raw[channel if by == "channel" else bucket_of(as_date(day))].append(person_id)
            for k, ids in raw.items():
                found[k].append(np.asarray(ids, dtype="<u4"))
        else:
            r = MetricActiveRollup
            stmt = select(r.day, r.channel, r.people).where(r.day >= start, r.day < end)
            if "channel" in wanted:
                stmt = stmt.where(r.channel == wanted["channel"])
            for day, channel, blob in session.connection().execute(stmt):
                found[channel if by == "channel" else bucket_of(as_date(day))].append(unpack(blob))
    return {k: union(v) for k, v in found.items()}


def _inventory(session: Session, query: MetricQuery, coverage: Coverage, today: date) -> Parts:
    by, wanted = query.by, _filters(query)
    shows = events_matching(session, wanted)
    if shows == []:
        return {}
    start = max(query.period.start, today) if query.period.name in ("this_week", "this_month", "this_year") else None
    lo = at(start or query.period.start)
    hi = at(_full_end(query.period)) if start else at(query.period.end)
    stmt = (
        select(func.sum(Offer.capacity), func.sum(Offer.capacity - Offer.available))
        .join(Event, Event.id == Offer.event_id)
        .where(Offer.kind == "ticket", Event.status != "cancelled", Event.starts_at >= lo, Event.starts_at < hi)
    )
    if shows is not None:
        stmt = stmt.where(Offer.event_id.in_(shows))
    key = Offer.event_id if by in ENTITY_DIMS else None
    out: Parts = {}
    for k, values in _rows(session, _grouped(stmt, key), key is not None, 2):
        _add("inventory", out, k, values)
    return out


def _full_end(period: Period) -> date:
    """A to-date period's calendar end: shows later this week, month or year are still selling."""
    last = period.end - timedelta(days=1)
    if period.name == "this_week":
        return last - timedelta(days=last.weekday()) + timedelta(days=7)
    if period.name == "this_month":
        return next_month(last)
    return date(last.year + 1, 1, 1)


SOURCES: dict[str, Callable[[Session, MetricQuery, Coverage, date], Parts]] = {
    "bookings": _bookings,
    "cancellations": _cancellations,
    "people": _people,
    "outbox": _outbox,
    "log": _log,
    "latency": _latency,
    "active": _active,
    "inventory": _inventory,
}


def today_of(now: datetime) -> date:
    """The UTC day analytics counts `now` in."""
    return now.astimezone(UTC).date()
