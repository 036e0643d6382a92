"""Analytics rollups: bookings and the assistant's log pre-summed per day and month, kept fresh incrementally.

Staff metrics read a rollup for whole days (or months) and the raw tables for the rest, so a year of
a million bookings costs a few thousand rollup rows. A rollup covers complete UTC days before today;
booking months include this month up to today, log months the complete months. `refresh` builds what is
missing and rebuilds the buckets whose rows changed since the last refresh:
- bookings inserted since (found by id, so a backdated import counts too);
- bookings cancelled since (found by cancellation time: Roadie cancels "now"). A cancellation is kept in
  the x cubes, under the bucket of the day the booking was made; the ones after the rollup's day (today's)
  are read from the booking rows through the cancellation-time index;
- the log is append-only: new ids.
Refreshing is a write, serialised per database (BEGIN IMMEDIATE on SQLite, an advisory lock on
PostgreSQL); `stale` is the cheap read-only check done before every metric query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Date, DateTime, and_, case, cast, delete, func, insert, literal, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import literal_column

from assistant.db import Database
from assistant.models import (
    Booking,
    ConversationEvent,
    MetricActiveRollup,
    MetricBookingRollup,
    MetricLatencyRollup,
    MetricLogRollup,
    MetricRollupState,
)

# The state rows are named with the rollups' version: when what they hold changes, the new name finds no
# state, and the first refresh rebuilds every bucket (replacing the old rows bucket by bucket).
BOOKINGS, LOG = "bookings-v3", "log-v3"
PG_LOCK_KEY = 0x524F4144  # "ROAD": one refresher at a time per PostgreSQL database


# Time buckets in UTC, per engine. Constants are inlined (literal_column), never bound: PostgreSQL must
# see the same expression in SELECT and GROUP BY.


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def day_of(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC day of a timestamp column."""
    if _pg(session):
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    return func.date(column)


def week_of(session: Session, column: Any, is_date: bool = False) -> ColumnElement[Any]:
    """The Monday of the (ISO) week of a timestamp or date column."""
    if _pg(session):
        moment = cast(column, DateTime) if is_date else func.timezone(literal_column("'UTC'"), column)
        return cast(func.date_trunc(literal_column("'week'"), moment), Date)
    return func.date(column, literal_column("'weekday 0'"), literal_column("'-6 days'"))


def month_of(session: Session, column: Any, is_date: bool = False) -> ColumnElement[Any]:
    """The first day of the month of a timestamp or date column."""
    if _pg(session):
        moment = cast(column, DateTime) if is_date else func.timezone(literal_column("'UTC'"), column)
        return cast(func.date_trunc(literal_column("'month'"), moment), Date)
    return func.strftime(literal_column("'%Y-%m-01'"), column)


def as_date(value: Any) -> date:
    """A bucket as the database returned it (SQLite: text) as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def at(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(), UTC)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def latency_bucket(column: Any) -> ColumnElement[Any]:
    """Reply latency as stored in the histogram: exact below 1 s, 10 ms steps below 10 s, then 1 s steps."""
    ten: Any = literal_column("10")
    thousand: Any = literal_column("1000")
    ten_thousand: Any = literal_column("10000")
    return case(
        (column < thousand, column),
        (column < ten_thousand, (column // ten) * ten),
        else_=(column // thousand) * thousand,
    )


def has_tools() -> ColumnElement[bool]:
    """True for a log row whose turn called at least one tool (the tools column is a JSON list)."""
    return func.json_array_length(ConversationEvent.tools) > 0


# Coverage: what the rollups hold right now.


@dataclass(frozen=True)
class Coverage:
    """Day buckets exist for days before `days_until`, month buckets for months before `months_until`."""

    bookings_days: date | None
    bookings_months: date | None
    log_days: date | None
    log_months: date | None


def coverage(session: Session) -> Coverage:
    states = {s.name: s for s in session.scalars(select(MetricRollupState))}
    b, lg = states.get(BOOKINGS), states.get(LOG)
    return Coverage(
        b.days_until if b else None,
        b.months_until if b else None,
        lg.days_until if lg else None,
        lg.months_until if lg else None,
    )


@dataclass(frozen=True)
class Marks:
    """The source tables' high-water marks and first rows."""

    booking_id: int
    first_booking: datetime | None
    log_id: int
    first_log: datetime | None


def _marks(session: Session) -> Marks:
    return Marks(
        booking_id=int(session.scalar(select(func.max(Booking.id))) or 0),
        first_booking=session.scalar(select(func.min(Booking.created_at))),
        log_id=int(session.scalar(select(func.max(ConversationEvent.id))) or 0),
        first_log=session.scalar(select(func.min(ConversationEvent.created_at))),
    )


def stale(session: Session, today: date) -> bool:
    """True when a rollup misses a complete day or month, or rows were inserted since it was built."""
    states = {s.name: s for s in session.scalars(select(MetricRollupState))}
    b, lg = states.get(BOOKINGS), states.get(LOG)
    if b is None or lg is None:
        return True
    if (b.days_until, b.months_until, lg.days_until) != (today, next_month(today), today):
        return True
    if lg.months_until != month_start(today):
        return True
    booking_id = int(session.scalar(select(func.max(Booking.id))) or 0)
    log_id = int(session.scalar(select(func.max(ConversationEvent.id))) or 0)
    return booking_id != b.max_id or log_id != lg.max_id


def refresh(db: Database, today: date) -> dict[str, int]:
    """Bring every rollup up to `today` (exclusive); returns how many buckets were (re)built."""
    with db.write_session() as session:
        if _pg(session):
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        if not stale(session, today):
            return {}
        marks = _marks(session)
        built = {"booking_days": 0, "booking_months": 0, "log_days": 0}
        state = session.get(MetricRollupState, BOOKINGS) or MetricRollupState(name=BOOKINGS, max_id=0)
        days, months = _booking_work(session, state, marks, today)
        for lo, hi in _runs(days, timedelta(days=1)):
            _build_booking_days(session, lo, hi, today)
        for lo, hi in _month_runs(months):
            _build_booking_months(session, lo, hi, today)
        built["booking_days"], built["booking_months"] = len(days), len(months)
        state.days_until, state.months_until = today, next_month(today)  # this month too, up to today
        state.max_id = marks.booking_id
        session.merge(state)

        log_state = session.get(MetricRollupState, LOG) or MetricRollupState(name=LOG, max_id=0)
        log_days = _log_work(session, log_state, marks, today)
        for lo, hi in _runs(log_days, timedelta(days=1)):
            _build_log_days(session, lo, hi)
        touched_months = sorted({month_start(d) for d in log_days} | _new_months(log_state, today))
        for lo, hi in _month_runs([m for m in touched_months if m < month_start(today)]):
            _build_latency_months(session, lo, hi)
        built["log_days"] = len(log_days)
        log_state.days_until, log_state.months_until = today, month_start(today)
        log_state.max_id = marks.log_id
        session.merge(log_state)
        return built


def _new_months(state: MetricRollupState, today: date) -> set[date]:
    """Months that became complete since the last refresh (their month rows must now be built)."""
    first = state.months_until
    if first is None:
        return set()
    out, month = set(), first
    while month < month_start(today):
        out.add(month)
        month = next_month(month)
    return out


def _days_between(lo: date, hi: date) -> list[date]:
    return [lo + timedelta(days=i) for i in range((hi - lo).days)]


def _booking_work(
    session: Session, state: MetricRollupState, marks: Marks, today: date
) -> tuple[list[date], list[date]]:
    """The day and month buckets of bookings to (re)build: new ones, this month (grown by a day), and those
    under which rows were inserted or bookings were cancelled since the last refresh."""
    if marks.first_booking is None:
        return [], []
    first_day = marks.first_booking.astimezone(UTC).date()
    since = state.days_until
    days = set(_days_between(max(since or first_day, first_day), today))
    months = {month_start(d) for d in days} | {month_start(today - timedelta(days=1))}
    if since is not None:
        changed = [and_(Booking.cancelled_at >= at(since), Booking.cancelled_at < at(today))]  # cancelled since
        if marks.booking_id > state.max_id:
            changed.append(Booking.id > state.max_id)  # inserted since (an import may backdate them)
        for condition in changed:
            touched = select(day_of(session, Booking.created_at)).where(condition, Booking.created_at < at(since))
            days.update(as_date(v) for (v,) in session.execute(touched.distinct()))
        months.update(month_start(d) for d in days)
    return sorted(d for d in days if d < today), sorted(m for m in months if m <= month_start(today))


def _log_work(session: Session, state: MetricRollupState, marks: Marks, today: date) -> list[date]:
    if marks.first_log is None:
        return []
    first_day = marks.first_log.astimezone(UTC).date()
    days = set(_days_between(max(state.days_until or first_day, first_day), today))
    if state.days_until is not None and marks.log_id > state.max_id:
        late = select(day_of(session, ConversationEvent.created_at)).where(
            ConversationEvent.id > state.max_id, ConversationEvent.created_at < at(state.days_until)
        )
        days.update(as_date(v) for (v,) in session.execute(late.distinct()))
    return sorted(d for d in days if d < today)


def _runs(days: Iterable[date], step: timedelta) -> list[tuple[date, date]]:
    """Consecutive days as [start, end) ranges."""
    out: list[tuple[date, date]] = []
    for day in sorted(days):
        if out and out[-1][1] == day:
            out[-1] = (out[-1][0], day + step)
        else:
            out.append((day, day + step))
    return out


def _month_runs(months: Iterable[date]) -> list[tuple[date, date]]:
    out: list[tuple[date, date]] = []
    for month in sorted(months):
        if out and out[-1][1] == month:
            out[-1] = (out[-1][0], next_month(month))
        else:
            out.append((month, next_month(month)))
    return out


def _booking_measures(cancelled: bool = False) -> list[ColumnElement[Any]]:
    """Made: count, totals, tickets, commission. Cancelled: count, refunds, tickets, commission given back."""
    return [
        func.count().label("made_n"),
        func.coalesce(func.sum(Booking.refund_minor if cancelled else Booking.total_minor), 0).label(
            "made_total_minor"
        ),
        func.coalesce(func.sum(Booking.tickets), 0).label("made_tickets"),
        func.coalesce(func.sum(Booking.commission_minor), 0).label("made_commission_minor"),
    ]


MEASURES = ["made_n", "made_total_minor", "made_tickets", "made_commission_minor"]
# Per month: by show or route, with or without channel; an "x" cube holds the bookings made in the bucket that
# were cancelled before the rollup's day (its totals are the refunds). This month's bucket holds the days to today.
MONTH_CUBES = ("event", "route", "eventall", "routeall")
CANCELLED = {"day": "xday", "event": "xevent", "route": "xroute", "eventall": "xeventa", "routeall": "xroutea"}


def _cancelled_before(today: date) -> ColumnElement[bool]:
    return and_(Booking.status == "cancelled", Booking.cancelled_at < at(today))


def _build_booking_days(session: Session, lo: date, hi: date, today: date) -> None:
    r = MetricBookingRollup
    session.execute(delete(r).where(r.cube.in_(("day", CANCELLED["day"])), r.bucket >= lo, r.bucket < hi))
    bucket = day_of(session, Booking.created_at)
    window = and_(Booking.created_at >= at(lo), Booking.created_at < at(hi))
    for cube, extra in (("day", None), (CANCELLED["day"], _cancelled_before(today))):
        rows = (
            select(literal(cube), bucket, Booking.channel, *_booking_measures(extra is not None))
            .where(window, *([] if extra is None else [extra]))
            .group_by(bucket, Booking.channel)
        )
        session.execute(insert(r).from_select(["cube", "bucket", "channel", *MEASURES], rows))


def _build_booking_months(session: Session, lo: date, hi: date, today: date) -> None:
    r = MetricBookingRollup
    cubes = [*MONTH_CUBES, *(CANCELLED[c] for c in MONTH_CUBES)]
    session.execute(delete(r).where(r.cube.in_(cubes), r.bucket >= lo, r.bucket < hi))
    bucket = month_of(session, Booking.created_at)
    window = and_(Booking.created_at >= at(lo), Booking.created_at < at(min(hi, today)))
    for cancelled, extra in ((False, None), (True, _cancelled_before(today))):
        where = [window, *([] if extra is None else [extra])]
        measures = _booking_measures(extra is not None)
        for cube, column, channel in (
            ("event", Booking.event_id, True),
            ("route", Booking.route, True),
            ("eventall", Booking.event_id, False),  # without the channel: a quarter of the rows
            ("routeall", Booking.route, False),
        ):
            grouping = [bucket, column, Booking.channel] if channel else [bucket, column]
            rows = (
                select(
                    literal(CANCELLED[cube] if cancelled else cube),
                    bucket,
                    column,
                    Booking.channel if channel else literal(""),
                    *measures,
                )
                .where(*where)
                .group_by(*grouping)
            )
            session.execute(insert(r).from_select(["cube", "bucket", column.key, "channel", *MEASURES], rows))


def _build_log_days(session: Session, lo: date, hi: date) -> None:
    window = and_(ConversationEvent.created_at >= at(lo), ConversationEvent.created_at < at(hi))
    session.execute(delete(MetricLogRollup).where(MetricLogRollup.day >= lo, MetricLogRollup.day < hi))
    session.execute(
        delete(MetricLatencyRollup).where(
            MetricLatencyRollup.grain.in_(("day", "dayall", "med", "medall")),
            MetricLatencyRollup.bucket >= lo,
            MetricLatencyRollup.bucket < hi,
        )
    )
    session.execute(delete(MetricActiveRollup).where(MetricActiveRollup.day >= lo, MetricActiveRollup.day < hi))
    day = day_of(session, ConversationEvent.created_at)
    tooled = has_tools()
    counts = (
        select(
            day,
            ConversationEvent.kind,
            ConversationEvent.channel,
            func.count(),
            func.sum(case((ConversationEvent.ok, 1), else_=0)),
            func.sum(case((tooled, 1), else_=0)),
            func.sum(case((and_(tooled, ConversationEvent.ok), 1), else_=0)),
        )
        .where(window)
        .group_by(day, ConversationEvent.kind, ConversationEvent.channel)
    )
    session.execute(
        insert(MetricLogRollup).from_select(["day", "kind", "channel", "n", "ok_n", "tool_n", "tool_ok_n"], counts)
    )
    turns = and_(window, ConversationEvent.kind == "turn")
    latency = latency_bucket(ConversationEvent.latency_ms)
    histogram = (
        select(literal("day"), day, ConversationEvent.channel, latency, func.count())
        .where(turns, ConversationEvent.latency_ms.is_not(None))
        .group_by(day, ConversationEvent.channel, latency)
    )
    session.execute(
        insert(MetricLatencyRollup).from_select(["grain", "bucket", "channel", "latency_ms", "n"], histogram)
    )
    _sum_latency(session, "day", "dayall", lo, hi)
    _store_medians(session, lo, hi)
    people: dict[tuple[date, str], list[int]] = defaultdict(list)
    who = (
        select(day, ConversationEvent.channel, ConversationEvent.person_id)
        .where(turns, ConversationEvent.person_id.is_not(None))
        .distinct()
    )
    for value, channel, person_id in session.execute(who):
        people[(as_date(value), channel)].append(person_id)
    if people:
        session.execute(
            insert(MetricActiveRollup),
            [
                {"day": d, "channel": channel, "n": len(ids), "people": pack(ids)}
                for (d, channel), ids in sorted(people.items())
            ],
        )


def _build_latency_months(session: Session, lo: date, hi: date) -> None:
    """Month histograms summed from the day histograms (built first), per channel and over all channels."""
    session.execute(
        delete(MetricLatencyRollup).where(
            MetricLatencyRollup.grain.in_(("month", "monthall")),
            MetricLatencyRollup.bucket >= lo,
            MetricLatencyRollup.bucket < hi,
        )
    )
    month = month_of(session, MetricLatencyRollup.bucket, is_date=True)
    rows = (
        select(
            literal("month"),
            month,
            MetricLatencyRollup.channel,
            MetricLatencyRollup.latency_ms,
            func.sum(MetricLatencyRollup.n),
        )
        .where(MetricLatencyRollup.grain == "day", MetricLatencyRollup.bucket >= lo, MetricLatencyRollup.bucket < hi)
        .group_by(month, MetricLatencyRollup.channel, MetricLatencyRollup.latency_ms)
    )
    session.execute(insert(MetricLatencyRollup).from_select(["grain", "bucket", "channel", "latency_ms", "n"], rows))
    _sum_latency(session, "month", "monthall", lo, hi)


def _sum_latency(session: Session, grain: str, into: str, lo: date, hi: date) -> None:
    """Histograms of `grain` summed over the channels (grain `into`): a quarter of the rows to read."""
    r = MetricLatencyRollup
    bucket = r.bucket
    rows = (
        select(literal(into), bucket, literal(""), r.latency_ms, func.sum(r.n))
        .where(r.grain == grain, r.bucket >= lo, r.bucket < hi)
        .group_by(bucket, r.latency_ms)
    )
    session.execute(insert(r).from_select(["grain", "bucket", "channel", "latency_ms", "n"], rows))


def _store_medians(session: Session, lo: date, hi: date) -> None:
    """Each complete day's median latency (grain "med" per channel, "medall" over all): a trend reads one row a day."""
    r = MetricLatencyRollup
    rows = session.execute(
        select(r.grain, r.bucket, r.channel, r.latency_ms, r.n)
        .where(r.grain.in_(("day", "dayall")), r.bucket >= lo, r.bucket < hi)
        .order_by(r.grain, r.bucket, r.channel, r.latency_ms)
    )
    medians = []
    for (grain, bucket, channel), group in groupby(rows, key=lambda row: row[:3]):
        histogram = [(latency, n) for _, _, _, latency, n in group]
        count = sum(n for _, n in histogram)
        seen, middle = 0, (count + 1) // 2
        median = next(latency for latency, n in histogram if (seen := seen + n) >= middle)
        medians.append(
            {
                "grain": "med" if grain == "day" else "medall",
                "bucket": bucket,
                "channel": channel,
                "latency_ms": median,
                "n": count,
            }
        )
    if medians:
        session.execute(insert(r), medians)


def pack(ids: Iterable[int]) -> bytes:
    """Person ids as sorted little-endian uint32."""
    return np.unique(np.fromiter(ids, dtype="<u4")).astype("<u4").tobytes()


def unpack(blob: bytes) -> np.ndarray[Any, np.dtype[np.uint32]]:
    return np.frombuffer(blob, dtype="<u4")
