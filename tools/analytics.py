"""Staff analytics: `query_metrics` answers questions about Roadie's numbers; the daily digest; CSV export.

Questions are answered from the semantic layer in tools/metrics.py (a fixed vocabulary compiled to
parameterised queries), on a read-only transaction where the engine has one. Only staff may ask:
the tool is not registered for travellers, and it checks the caller's role again itself — a refusal
is recorded in the assistant's log (kind "refusal").
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from langchain.tools import ToolRuntime
from sqlalchemy import text
from sqlalchemy.orm import Session

from assistant.context import Services, TurnContext
from assistant.db import Database
from assistant.messages import Button, Reply
from assistant.money import format_money
from assistant.planner.metric_slots import STAFF_ONLY_REPLY
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools import rollups
from tools.charts import Series, render
from tools.common import log_event, parse_day, resolve
from tools.metrics import (
    CHANNELS,
    DIMENSIONS,
    METRICS,
    MONEY,
    MS,
    RATIO,
    TIME_DIMS,
    UPCOMING,
    MetricError,
    MetricQuery,
    MetricResult,
    Period,
    Row,
    day_span,
    previous_period,
    resolve_period,
    run_query,
    today_of,
)

MetricName = Literal[
    "revenue",
    "bookings",
    "tickets_sold",
    "average_order_value",
    "commission",
    "cancellations",
    "refunds",
    "new_users",
    "active_users",
    "searches",
    "quotes",
    "quote_to_booking",
    "search_to_quote",
    "sell_through",
    "alerts_sent",
    "turns",
    "tool_success_rate",
    "median_latency",
]
DimensionName = Literal["artist", "event", "city", "country", "venue", "route", "channel", "day", "week", "month"]
PeriodName = Literal[
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
]
ChannelName = Literal["web", "telegram", "whatsapp", "slack", "terminal"]
SHOWN = 10  # rows in a breakdown's table unless asked for more
SHOWN_TREND = 14  # the latest buckets of a trend shown as a table (the chart has them all)
MAX_ROWS = 50


# Reading the numbers


def ensure_fresh(db: Database, today: date) -> None:
    """Build the rollups up to `today` if a complete day is missing or rows changed (cheap when fresh)."""
    with db.session() as session:
        if not rollups.stale(session, today):
            return
    rollups.refresh(db, today)


def _read_only(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TRANSACTION READ ONLY"))


def measure(
    db: Database, queries: Sequence[MetricQuery], today: date, labelled: int | None = 100
) -> list[MetricResult]:
    """Answer several queries on one fresh, read-only snapshot (`labelled`: see run_query)."""
    ensure_fresh(db, today)
    with db.session() as session:
        _read_only(session)
        coverage = rollups.coverage(session)
        return [run_query(session, q, coverage, today, labelled) for q in queries]


# Formatting


def show_value(unit: str, value: float | int | None) -> str:
    """A metric value as staff read it: €1,234.50, 1,234, 30.1%, 81 ms."""
    if value is None:
        return "—"
    if unit == MONEY:
        return format_money(int(value), "EUR")
    if unit == RATIO:
        return f"{value:.1%}"
    if unit == MS:
        return f"{int(value):,} ms"
    return f"{int(value):,}"


def show_change(unit: str, now: float | int | None, before: float | int | None) -> str:
    """The change from `before` to `now`: +12.0% (money, counts), +2.1 pts (ratios), +5 ms (latency)."""
    if now is None or before is None:
        return "—"
    if unit == RATIO:
        return f"{(now - before) * 100:+.1f} pts"
    if unit == MS:
        return f"{int(now - before):+,} ms"
    if now == before:
        return "no change"
    if before == 0:
        return "new"
    return f"{(now - before) / abs(before):+.1%}"


def code_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table as aligned monospace lines in a code block: Slack, Telegram, WhatsApp and the web show it as is."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = [str(c).rjust(widths[i]) for i, c in enumerate(cells) if i]
        return "  ".join([first, *rest]).rstrip()

    return "\n".join(["```", line(header), *(line(r) for r in rows), "```"])


def auto_grain(period: Period) -> str:
    """The time dimension a trend over `period` reads best in."""
    if period.days <= 31:
        return "day"
    return "week" if period.days <= 190 else "month"


def _filters_phrase(filters: Sequence[tuple[str, str]]) -> str:
    names = {"channel": "on", "route": "on route"}
    return "".join(f" {names.get(k, 'for')} {v.replace('-', ' → ') if k == 'route' else v}" for k, v in filters)


def headline(result: MetricResult, previous: MetricResult | None) -> str:
    """The answer in one line: metric, filters, period, the total, and the previous period's total with the change."""
    spec, query = result.query.spec, result.query
    line = f"**{spec.label}**{_filters_phrase(query.filters)} · {query.period.label()}: **{show_value(spec.unit, result.total)}**"
    if previous is not None:
        before = previous.query.period
        span = day_span(before.start, before.end - timedelta(days=1))
        line += (
            f" — previous period ({span}) {show_value(spec.unit, previous.total)}, "
            f"{show_change(spec.unit, result.total, previous.total)}"
        )
    line += "."
    parts = result.parts
    if spec.source == "log" and spec.unit == RATIO and parts:
        line += f"\nFunnel: {parts[0]:,} searches → {parts[1]:,} quotes → {parts[2]:,} bookings."
    return line


def breakdown(
    result: MetricResult, previous: MetricResult | None, limit: int, ascending: bool
) -> tuple[str, list[Row]]:
    """The rows as a table (and the rows shown): best first, or worst first when `ascending`."""
    query, spec = result.query, result.query.spec
    by = query.by or ""
    rows = list(result.rows)
    if by in TIME_DIMS:
        shown = rows[-limit:] if len(rows) > limit else rows
        intro = f"By {by}" + (
            f" (the latest {len(shown)} of {len(rows)}; the chart has them all)" if len(shown) < len(rows) else ""
        )
    else:
        if ascending:
            rows = sorted(rows, key=lambda r: (r.value is None, r.value or 0, r.label))
        shown = rows[:limit]
        word = "bottom" if ascending else "top"
        intro = f"By {DIMENSIONS[by].lower()}" + (
            f" — {word} {len(shown)} of {len(rows)}" if len(rows) > len(shown) else ""
        )
    if result.left_out:
        intro += f" (bookings without flights, {show_value(spec.unit, result.left_out)}, have no route)"
    if not shown:
        return f"{intro}: nothing in this period.", []
    before = {r.key: r.value for r in previous.rows} if previous is not None else None
    additive = spec.unit in (MONEY, "count") and spec.name != "average_order_value"
    header = [DIMENSIONS[by], spec.label]
    if before is not None:
        header += ["Previous", "Change"]
    elif additive and by not in TIME_DIMS:
        header.append("Share")
    cells = []
    for r in shown:
        line = [r.label, show_value(spec.unit, r.value)]
        if before is not None:
            line += [show_value(spec.unit, before.get(r.key)), show_change(spec.unit, r.value, before.get(r.key))]
        elif additive and by not in TIME_DIMS:
            total = result.total or 0
            line.append(f"{(r.value or 0) / total:.0%}" if total else "—")
        cells.append(line)
    return f"{intro}:\n{code_table(header, cells)}", shown


def to_csv(result: MetricResult, previous: MetricResult | None = None) -> str:
    """The rows of a result as CSV (money in euros with cents, ratios as fractions, latency in ms)."""
    spec, query = result.query.spec, result.query
    unit = {MONEY: "eur", RATIO: "ratio", MS: "ms"}.get(spec.unit, "count")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = [query.by or "period", f"{spec.name}_{unit}"]
    if previous is not None:
        head.append(f"previous_{spec.name}_{unit}")
    writer.writerow(head)
    rows = result.rows or [Row(query.period.start.isoformat(), query.period.label(), result.total)]
    before = {r.key: r.value for r in previous.rows} if previous is not None and previous.rows else {}
    for r in rows:
        key = r.key.isoformat() if isinstance(r.key, date) else r.label
        line = [key, _csv_value(spec.unit, r.value)]
        if previous is not None:
            line.append(_csv_value(spec.unit, before.get(r.key) if result.rows else previous.total))
        writer.writerow(line)
    return out.getvalue()


def _csv_value(unit: str, value: float | int | None) -> str:
    if value is None:
        return ""
    if unit == MONEY:
        sign = "-" if value < 0 else ""
        whole, cents = divmod(abs(int(value)), 100)
        return f"{sign}{whole}.{cents:02d}"
    if unit == RATIO:
        return f"{value:.4f}"
    return str(int(value))


def _series(result: MetricResult, previous: MetricResult | None, rows: Sequence[Row]) -> Series:
    spec, query = result.query.spec, result.query
    trend = query.by in TIME_DIMS
    shown = result.rows if trend else list(rows)

    def plotted(value: float | int | None) -> float | None:
        if value is None:
            return None
        return value / 100 if spec.unit == MONEY else float(value)

    before = None
    if trend and previous is not None and len(previous.rows) == len(result.rows):
        before = [plotted(r.value) for r in previous.rows]
    title = f"{spec.label}{_filters_phrase(query.filters)} · {query.period.label()}"
    return Series(title, [r.label for r in shown], [plotted(r.value) for r in shown], spec.unit, trend, before)


def _media(ctx: TurnContext) -> Path:
    return ctx.services.settings.data_dir / "media"


def _export(ctx: TurnContext, result: MetricResult, previous: MetricResult | None) -> tuple[str, str]:
    """Write the CSV under media/exports; returns (link, csv text)."""
    body = to_csv(result, previous)
    query = result.query
    name = (
        f"{query.metric}-{query.by or 'total'}-{query.period.start:%Y%m%d}-{query.period.end:%Y%m%d}-"
        + hashlib.sha256(body.encode()).hexdigest()[:8]
        + ".csv"
    )
    path = _media(ctx) / "exports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    base = ctx.services.settings.public_base_url.rstrip("/")
    return f"{base}/media/exports/{name}", body


# The tool


def _route(value: str) -> str:
    letters = "".join(ch for ch in value.upper() if ch.isalpha())
    if len(letters) != 6:
        raise UserFacingError(f"I read routes as two airport codes, like **LHR-LIS** — not **{value}**.")
    return f"{letters[:3]}-{letters[3:]}"


@roadie_tool(
    summary="answer questions about Roadie's numbers: revenue, bookings, funnel, users, latency (staff only)",
    staff_only=True,
    examples=(
        "revenue last week by artist",
        "conversion from quote to booking this month",
        "top routes in October",
        "how many new users yesterday vs the day before",
        "which shows are selling slowest",
        "bookings by channel this month",
        "revenue trend this year",
        "how much commission did we make last month",
        "average order value last 30 days",
        "cancellations and refunds last week",
        "refund amount this month",
        "active users today",
        "how many quotes did we give yesterday",
        "search to quote conversion by channel",
        "tickets sold for Coldplay this year",
        "sell-through by venue",
        "how many alerts went out last week",
        "assistant turns per day this week",
        "tool success rate this month",
        "median reply latency by channel",
        "chart of bookings by week",
        "export revenue by artist last month as csv",
        "top 5 cities by revenue this year",
        "how many searches on telegram last 7 days",
        "revenue by country last month compared to the month before",
        "GMV yesterday",
        "what were sales like last week",
        "how is the funnel doing this week",
    ),
)
def query_metrics(
    runtime: ToolRuntime[Any, Any],
    metric: MetricName,
    by: DimensionName | None = None,
    period: PeriodName | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    artist: str | None = None,
    city: str | None = None,
    country: str | None = None,
    venue: str | None = None,
    channel: ChannelName | None = None,
    route: str | None = None,
    compare: bool = False,
    sort: Literal["desc", "asc"] = "desc",
    limit: int | None = None,
    chart: bool | None = None,
    export: bool = False,
) -> ToolAnswer:
    """Answer a staff question about Roadie's business and the assistant itself, from a fixed metric vocabulary.

    Staff only. Money is in EUR; days are UTC. Every answer includes the previous period's total.
    Metrics: revenue (net of refunds), bookings, tickets_sold, average_order_value, commission,
    cancellations, refunds, new_users, active_users, searches, quotes, quote_to_booking and
    search_to_quote (conversion, from the assistant's own log), sell_through (share of ticket
    capacity sold; upcoming shows by default), alerts_sent, turns, tool_success_rate, median_latency.
    Bookings metrics split by artist, event, city, country, venue, route, channel or time; log metrics
    by channel or time; sell_through by artist, event, city, country or venue.

    Args:
        metric: Which metric.
        by: Split the answer by this dimension; day, week or month draw a trend chart.
        period: A named period (default last_7_days; for sell_through, upcoming shows).
        date_from: Instead of a period: first day, ISO date (e.g. "2026-10-01").
        date_to: Instead of a period: last day, inclusive, ISO date.
        artist: Only this artist.
        city: Only shows in this city.
        country: Only shows in this country.
        venue: Only shows at this venue.
        channel: Only this channel.
        route: Only this flight route, two airport codes such as "LHR-LIS".
        compare: Also show each row's previous-period value and change.
        sort: desc for the top rows first, asc for the bottom (e.g. selling slowest).
        limit: How many rows to show (default 10).
        chart: Draw a chart (default: for trends over time).
        export: Also export the rows as a CSV file.
    """
    ctx = turn_context(runtime)
    if ctx.caller.role != "staff":
        with ctx.services.db.session() as session:
            log_event(
                session,
                ctx,
                "refusal",
                "query_metrics",
                {"metric": str(metric), "reason": "staff only", "asked": ctx.message[:200]},
                ok=False,
            )
        return ToolAnswer(STAFF_ONLY_REPLY, ok=False, data={"refused": "staff_only"})
    today = today_of(ctx.services.clock.now())
    filters = _filters(ctx, artist, city, country, venue, channel, route)
    spec = METRICS.get(str(metric))
    if spec is None:
        raise UserFacingError(f"I don't have a metric called **{metric}**. I know: " + ", ".join(METRICS))
    default = UPCOMING if spec.source == "inventory" else None
    first, last = parse_day(date_from, "the first day"), parse_day(date_to, "the last day")
    try:
        window = resolve_period(period or default, first, last, today)
        if chart and by is None and spec.source != "inventory":
            by = auto_grain(window)  # type: ignore[assignment]  # always one of the time dimensions
        query = MetricQuery(str(metric), window, by, filters)
        asked = [query]
        if window.name != UPCOMING:
            before = query.with_period(previous_period(window))
            asked.append(before if compare or by in TIME_DIMS else before.without_dimension())
        results = measure(ctx.services.db, asked, today, labelled=None if export else 100)
    except MetricError as error:
        raise UserFacingError(str(error)) from None
    return _answer(ctx, results[0], results[1] if len(results) > 1 else None, compare, sort, limit, chart, export)


def _filters(
    ctx: TurnContext,
    artist: str | None,
    city: str | None,
    country: str | None,
    venue: str | None,
    channel: str | None,
    route: str | None,
) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for kind, value in (("artist", artist), ("city", city), ("country", country), ("venue", venue)):
        name = resolve(ctx, kind, value)
        if name:
            found.append((kind, name))
    if channel:
        if channel.lower() not in CHANNELS:
            raise UserFacingError(f"I don't know a channel called **{channel}**. Channels: " + ", ".join(CHANNELS))
        found.append(("channel", channel.lower()))
    if route:
        found.append(("route", _route(route)))
    return tuple(found)


def _answer(
    ctx: TurnContext,
    result: MetricResult,
    previous: MetricResult | None,
    compare: bool,
    sort: str,
    limit: int | None,
    chart: bool | None,
    export: bool,
) -> ToolAnswer:
    query, spec = result.query, result.query.spec
    lines = [headline(result, previous)]
    shown: list[Row] = []
    if query.by is not None:
        size = max(1, min(limit or (SHOWN_TREND if query.by in TIME_DIMS else SHOWN), MAX_ROWS))
        table, shown = breakdown(result, previous if compare else None, size, sort == "asc")
        lines.append(table)
    image = None
    draw = chart if chart is not None else query.by in TIME_DIMS
    if draw and query.by is not None and result.rows:
        image = render(_media(ctx), _series(result, previous if query.by in TIME_DIMS else None, shown))
        lines.append("Chart attached.")
    data: dict[str, Any] = {
        "metric": spec.name,
        "by": query.by,
        "period": {
            "name": query.period.name,
            "start": query.period.start.isoformat(),
            "end": query.period.end.isoformat(),
        },
        "filters": dict(query.filters),
        "total": result.total,
        "previous_total": previous.total if previous is not None else None,
        "rows": [{"key": _plain(r.key), "label": r.label, "value": r.value} for r in (shown or result.rows)[:MAX_ROWS]],
    }
    if image:
        data["image"] = image
    if export:
        link, body = _export(ctx, result, previous if compare else None)
        data["export"] = link
        lines.append(f"CSV export: {link}")
        if body.count("\n") <= 21:
            lines.append("```\n" + body.rstrip("\n") + "\n```")
    lines.append(f"_{spec.label}: {spec.means}._")
    buttons = _next_questions(query)
    return ToolAnswer("\n\n".join(lines), buttons=buttons, data=data)


def _plain(key: Any) -> Any:
    return key.isoformat() if isinstance(key, date) else key


def _next_questions(query: MetricQuery) -> list[Button]:
    """A couple of useful follow-ups: the trend, a breakdown, last period."""
    spec = query.spec
    out: list[Button] = []
    label = spec.label.lower()
    if query.by not in TIME_DIMS and spec.source != "inventory":
        out.append(Button("Trend", f"{label} trend {query.period.label().split(' (')[0]}"))
    if query.by is None and spec.source in ("bookings", "cancellations"):
        out.append(Button("By artist", f"{label} by artist {query.period.label().split(' (')[0]}"))
    elif query.by is None and spec.source in ("log", "active", "latency", "outbox"):
        out.append(Button("By channel", f"{label} by channel {query.period.label().split(' (')[0]}"))
    return out


# The staff daily digest (the scheduler sends it to the staff channel)

DIGEST_METRICS = (
    "revenue",
    "bookings",
    "tickets_sold",
    "commission",
    "cancellations",
    "new_users",
    "active_users",
    "quote_to_booking",
    "tool_success_rate",
    "median_latency",
)


def staff_digest(services: Services, now: datetime) -> Reply:
    """Yesterday against the day before: the headline metrics, the funnel, top movers by artist, a 14-day chart.

    Called by the scheduler once a day for the staff channel; it only reads (and refreshes the rollups).
    """
    today = today_of(now)
    yesterday = today - timedelta(days=1)
    day = Period("yesterday", yesterday, today)
    before = Period("previous", yesterday - timedelta(days=1), yesterday)
    fortnight = Period("custom", today - timedelta(days=14), today)
    asked = [MetricQuery(m, day) for m in DIGEST_METRICS] + [MetricQuery(m, before) for m in DIGEST_METRICS]
    asked += [MetricQuery(m, day) for m in ("searches", "quotes")]
    asked += [MetricQuery("revenue", day, "artist"), MetricQuery("revenue", before, "artist")]
    asked += [MetricQuery("revenue", fortnight, "day")]
    results = measure(services.db, asked, today)
    now_r, then_r = results[: len(DIGEST_METRICS)], results[len(DIGEST_METRICS) : 2 * len(DIGEST_METRICS)]
    searches, quotes, artists_now, artists_then, trend = results[2 * len(DIGEST_METRICS) :]
    lines = [
        f"**Roadie daily digest — {day_span(yesterday, yesterday)}** (against {day_span(before.start, before.start)})"
    ]
    for a, b in zip(now_r, then_r, strict=True):
        spec = a.query.spec
        lines.append(
            f"- {spec.label}: **{show_value(spec.unit, a.total)}** ({show_change(spec.unit, a.total, b.total)}; "
            f"was {show_value(spec.unit, b.total)})"
        )
    bookings = now_r[DIGEST_METRICS.index("bookings")].total
    lines.append(f"Funnel: {searches.total:,} searches → {quotes.total:,} quotes → {bookings:,} bookings.")
    movers = top_movers(artists_now, artists_then)
    if movers:
        lines.append("Top movers (revenue by artist):")
        lines += [
            f"- {name}: {show_value(MONEY, now_v)} ({show_change(MONEY, now_v, then_v)})"
            for name, now_v, then_v in movers
        ]
    image = render(services.settings.data_dir / "media", _series(trend, None, trend.rows)) if trend.rows else None
    return Reply("\n".join(lines), image=image)


def top_movers(now: MetricResult, then: MetricResult, count: int = 3) -> list[tuple[str, int, int]]:
    """The rows that changed most (up first, then down): (label, value now, value before)."""
    values_now = {r.label: int(r.value or 0) for r in now.rows}
    values_then = {r.label: int(r.value or 0) for r in then.rows}
    deltas = [(name, values_now.get(name, 0), values_then.get(name, 0)) for name in set(values_now) | set(values_then)]
    ups = sorted((d for d in deltas if d[1] > d[2]), key=lambda d: (d[2] - d[1], d[0]))[:count]
    downs = sorted((d for d in deltas if d[1] < d[2]), key=lambda d: (d[1] - d[2], d[0]))[:count]
    return ups + downs
