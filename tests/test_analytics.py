"""Staff analytics: staff ask in plain words and get numbers that match hand-written SQL over the same demo data.

The demo database is seeded at NOW (Sat 21 Nov 2026, 10:00 UTC). Every question goes through the whole
conversation path (planner → query_metrics → semantic layer → rollups and raw tables) and the answer's
text is compared with what a hand-written SQL query over the raw tables says, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from pydantic import ValidationError
from sqlalchemy import func, select, text

from assistant.clock import FixedClock
from assistant.context import Caller, TurnContext
from assistant.messages import Reply
from assistant.models import Booking, ConversationEvent, MetricBookingRollup, Person
from assistant.planner.metric_slots import STAFF_ONLY_REPLY, metric_request, staff_only_topic
from assistant.settings import Settings
from channels.fake import FakeChannel
from channels.render import markdown_to_html, plain_with_options
from channels.terminal import run_terminal_chat
from channels.web import reply_frame
from knowledge.embeddings import Embedder
from main import Roadie, start_roadie
from tests.conftest import NOW
from tools import rollups, tools_for
from tools.analytics import query_metrics, show_change, show_value, staff_digest
from tools.metrics import METRICS, MONEY, RATIO, Period, previous_period, resolve_period

TODAY = NOW.date()


# The same questions on SQLite and on PostgreSQL


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def staffed(request: pytest.FixtureRequest, settings: Settings, embedder: Embedder) -> AsyncIterator[Roadie]:
    """A running Roadie on the demo data, on SQLite (a copy of the seeded template) or a fresh PostgreSQL."""
    if request.param == "sqlite":
        async with start_roadie(settings, FixedClock(NOW), embedder) as running:
            yield running
        return
    url = request.getfixturevalue("postgres_database")
    on_pg = settings.model_copy(update={"database_url": url})
    async with start_roadie(on_pg, FixedClock(NOW), embedder) as running:
        yield running


@dataclass(frozen=True)
class Question:
    """A staff question, the hand-written SQL that answers it, and how the answer shows it."""

    ask: str
    sql: str
    lo: date | None = None
    hi: date | None = None
    shape: str = "total"  # total: one value | ratio: num, den | rows: label, value (top rows in order)
    unit: str = "count"
    extra: dict[str, Any] | None = None


D = date
BOOKINGS_IN = "FROM booking b WHERE b.created_at >= :lo AND b.created_at < :hi"
SHOWS = "JOIN event e ON e.id = b.event_id JOIN artist a ON a.id = e.artist_id JOIN venue v ON v.id = e.venue_id"
TURNS = "FROM conversation_event WHERE kind = 'turn' AND created_at >= :lo AND created_at < :hi"
MEDIAN = (
    f"SELECT latency_ms {TURNS} AND latency_ms IS NOT NULL ORDER BY latency_ms LIMIT 1 "
    f"OFFSET (SELECT (COUNT(*) - 1) / 2 {TURNS} AND latency_ms IS NOT NULL)"
)

QUESTIONS = [
    Question("revenue last week", f"SELECT SUM(total_minor - refund_minor) {BOOKINGS_IN}", D(2026, 11, 9), D(2026, 11, 16), unit=MONEY),
    Question("bookings this month", f"SELECT COUNT(*) {BOOKINGS_IN}", D(2026, 11, 1), D(2026, 11, 22)),
    Question("tickets sold last month", f"SELECT SUM(tickets) {BOOKINGS_IN} AND status != 'cancelled'", D(2026, 10, 1), D(2026, 11, 1)),
    Question("average order value over the last 30 days", f"SELECT SUM(total_minor), COUNT(*) {BOOKINGS_IN}", D(2026, 10, 23), D(2026, 11, 22), "aov", MONEY),
    Question("how much commission did we make this year?", f"SELECT SUM(commission_minor) {BOOKINGS_IN} AND status != 'cancelled'", D(2026, 1, 1), D(2026, 11, 22), unit=MONEY),
    Question("cancellations in the last 30 days", "SELECT COUNT(*) FROM booking WHERE cancelled_at >= :lo AND cancelled_at < :hi", D(2026, 10, 23), D(2026, 11, 22)),
    Question("refund amount this year", "SELECT SUM(refund_minor) FROM booking WHERE cancelled_at >= :lo AND cancelled_at < :hi", D(2026, 1, 1), D(2026, 11, 22), unit=MONEY),
    Question("new users last month", "SELECT COUNT(*) FROM person WHERE role = 'traveller' AND created_at >= :lo AND created_at < :hi", D(2026, 10, 1), D(2026, 11, 1)),
    Question("active users in the last 7 days", f"SELECT COUNT(DISTINCT person_id) {TURNS}", D(2026, 11, 15), D(2026, 11, 22)),
    Question("how many searches yesterday", "SELECT COUNT(*) FROM conversation_event WHERE kind = 'search' AND created_at >= :lo AND created_at < :hi", D(2026, 11, 20), D(2026, 11, 21)),
    Question("quotes last week", "SELECT COUNT(*) FROM conversation_event WHERE kind = 'quote' AND created_at >= :lo AND created_at < :hi", D(2026, 11, 9), D(2026, 11, 16)),
    Question(
        "conversion from quote to booking this month",
        "SELECT SUM(CASE WHEN kind = 'booking' THEN 1 ELSE 0 END), SUM(CASE WHEN kind = 'quote' THEN 1 ELSE 0 END) "
        "FROM conversation_event WHERE created_at >= :lo AND created_at < :hi",
        D(2026, 11, 1), D(2026, 11, 22), "ratio", RATIO,
    ),
    Question(
        "search to quote conversion last month",
        "SELECT SUM(CASE WHEN kind = 'quote' THEN 1 ELSE 0 END), SUM(CASE WHEN kind = 'search' THEN 1 ELSE 0 END) "
        "FROM conversation_event WHERE created_at >= :lo AND created_at < :hi",
        D(2026, 10, 1), D(2026, 11, 1), "ratio", RATIO,
    ),
    Question(
        "which shows are selling slowest",
        "SELECT a.name || ' · ' || v.city, v.timezone, e.starts_at, "
        "CAST(SUM(o.capacity - o.available) AS FLOAT) / SUM(o.capacity) AS sold FROM offer o "
        "JOIN event e ON e.id = o.event_id JOIN artist a ON a.id = e.artist_id JOIN venue v ON v.id = e.venue_id "
        "WHERE o.kind = 'ticket' AND e.status != 'cancelled' AND e.starts_at >= :lo "
        "GROUP BY e.id, a.name, v.city, v.timezone, e.starts_at ORDER BY sold ASC LIMIT 3",
        D(2026, 11, 21), None, "shows", RATIO,
    ),
    Question(
        "sell-through for Coldplay shows",
        "SELECT SUM(o.capacity - o.available), SUM(o.capacity) FROM offer o JOIN event e ON e.id = o.event_id "
        "JOIN artist a ON a.id = e.artist_id WHERE o.kind = 'ticket' AND e.status != 'cancelled' "
        "AND e.starts_at >= :lo AND a.name = 'Coldplay'",
        D(2026, 11, 21), None, "ratio", RATIO,
    ),
    Question("how many alerts went out last month?", "SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND sent_at >= :lo AND sent_at < :hi", D(2026, 10, 1), D(2026, 11, 1)),
    Question("assistant turns yesterday", f"SELECT COUNT(*) {TURNS}", D(2026, 11, 20), D(2026, 11, 21)),
    Question(
        "tool success rate this month",
        "SELECT SUM(CASE WHEN ok AND json_array_length(tools) > 0 THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN json_array_length(tools) > 0 THEN 1 ELSE 0 END) {TURNS}",
        D(2026, 11, 1), D(2026, 11, 22), "ratio", RATIO,
    ),
    Question("median reply latency over the last 30 days", MEDIAN, D(2026, 10, 23), D(2026, 11, 22), unit="ms"),
    Question("bookings by channel this month", f"SELECT channel, COUNT(*) AS n {BOOKINGS_IN} GROUP BY channel ORDER BY n DESC, channel", D(2026, 11, 1), D(2026, 11, 22), "rows"),
    Question(
        "revenue by city last month",
        f"SELECT v.city, SUM(b.total_minor - b.refund_minor) AS n FROM booking b {SHOWS} "
        "WHERE b.created_at >= :lo AND b.created_at < :hi GROUP BY v.city ORDER BY n DESC, v.city",
        D(2026, 10, 1), D(2026, 11, 1), "rows", MONEY,
    ),
    Question(
        "revenue last week by artist",
        f"SELECT a.name, SUM(b.total_minor - b.refund_minor) AS n FROM booking b {SHOWS} "
        "WHERE b.created_at >= :lo AND b.created_at < :hi GROUP BY a.name ORDER BY n DESC, a.name",
        D(2026, 11, 9), D(2026, 11, 16), "rows", MONEY,
    ),
    Question(
        "revenue by country this year",
        f"SELECT v.country, SUM(b.total_minor - b.refund_minor) AS n FROM booking b {SHOWS} "
        "WHERE b.created_at >= :lo AND b.created_at < :hi GROUP BY v.country ORDER BY n DESC, v.country",
        D(2026, 1, 1), D(2026, 11, 22), "rows", MONEY,
    ),
    Question(
        "top routes in October",
        "SELECT REPLACE(route, '-', ' → '), COUNT(*) AS n FROM booking "
        "WHERE created_at >= :lo AND created_at < :hi AND route IS NOT NULL GROUP BY route ORDER BY n DESC, route",
        D(2026, 10, 1), D(2026, 11, 1), "rows",
    ),
    Question(
        "revenue for Taylor Swift this year",
        f"SELECT SUM(b.total_minor - b.refund_minor) FROM booking b {SHOWS} "
        "WHERE b.created_at >= :lo AND b.created_at < :hi AND a.name = 'Taylor Swift'",
        D(2026, 1, 1), D(2026, 11, 22), unit=MONEY,
    ),
    Question(
        "revenue in London over the last 30 days",
        f"SELECT SUM(b.total_minor - b.refund_minor) FROM booking b {SHOWS} "
        "WHERE b.created_at >= :lo AND b.created_at < :hi AND v.city = 'London'",
        D(2026, 10, 23), D(2026, 11, 22), unit=MONEY,
    ),
    Question(
        "how many new users yesterday vs the day before",
        "SELECT COUNT(*) FROM person WHERE role = 'traveller' AND created_at >= :lo AND created_at < :hi",
        D(2026, 11, 20), D(2026, 11, 21), "compare",
    ),
    Question("bookings on whatsapp last week", f"SELECT COUNT(*) {BOOKINGS_IN} AND channel = 'whatsapp'", D(2026, 11, 9), D(2026, 11, 16)),
    Question(
        "cancellations by artist this year",
        f"SELECT a.name, COUNT(*) AS n FROM booking b {SHOWS} "
        "WHERE b.cancelled_at >= :lo AND b.cancelled_at < :hi GROUP BY a.name ORDER BY n DESC, a.name",
        D(2026, 1, 1), D(2026, 11, 22), "rows",
    ),
    Question("revenue from 1 to 15 October", f"SELECT SUM(total_minor - refund_minor) {BOOKINGS_IN}", D(2026, 10, 1), D(2026, 10, 16), unit=MONEY),
    Question(
        "daily revenue for the last 14 days",
        f"SELECT {{day}}, SUM(total_minor - refund_minor) {BOOKINGS_IN} GROUP BY 1 ORDER BY 1",
        D(2026, 11, 8), D(2026, 11, 22), "days", MONEY,
    ),
    Question(
        "active users by channel last month",
        f"SELECT channel, COUNT(DISTINCT person_id) AS n {TURNS} GROUP BY channel ORDER BY n DESC, channel",
        D(2026, 10, 1), D(2026, 11, 1), "rows",
    ),
    Question(
        "tickets sold for Coldplay by venue this year",
        f"SELECT v.name, SUM(b.tickets) AS n FROM booking b {SHOWS} WHERE b.created_at >= :lo AND b.created_at < :hi "
        "AND b.status != 'cancelled' AND a.name = 'Coldplay' GROUP BY v.name ORDER BY n DESC, v.name",
        D(2026, 1, 1), D(2026, 11, 22), "rows",
    ),
    Question("what were sales like today?", f"SELECT SUM(total_minor - refund_minor) {BOOKINGS_IN}", D(2026, 11, 21), D(2026, 11, 22), unit=MONEY),
]  # fmt: skip


def _moment(day: date, dialect: str) -> Any:
    """A UTC midnight as each engine compares it with its stored timestamps."""
    return f"{day.isoformat()} 00:00:00" if dialect == "sqlite" else datetime(day.year, day.month, day.day, tzinfo=UTC)


def _sql(roadie: Roadie, q: Question) -> list[Any]:
    engine = roadie.services.db.engine
    dialect = engine.dialect.name
    day = "date(created_at)" if dialect == "sqlite" else "CAST(created_at AT TIME ZONE 'UTC' AS DATE)"
    params = {"lo": _moment(q.lo, dialect) if q.lo else None, "hi": _moment(q.hi, dialect) if q.hi else None}
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(text(q.sql.replace("{day}", day)), params)]


def table_rows(reply: Reply) -> list[list[str]]:
    """The cells of the first code-block table in a reply (header left out)."""
    block = re.search(r"```\n(.*?)\n```", reply.text, re.S)
    assert block, reply.text
    return [re.split(r"\s{2,}", line.strip()) for line in block.group(1).splitlines()[1:]]


def _shown_label(name_city: str, zone: str, starts: Any) -> str:
    moment = datetime.fromisoformat(starts) if isinstance(starts, str) else starts
    local = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(ZoneInfo(zone))
    return f"{name_city} · {local.day} {local:%b %Y}"


async def test_thirty_staff_questions_match_hand_written_sql(staffed: Roadie) -> None:
    chat = FakeChannel(staffed.service.handle)
    assert len({q.ask for q in QUESTIONS}) >= 30
    for n, q in enumerate(QUESTIONS):
        rows = _sql(staffed, q)  # before asking: the question's own turn is logged once it is answered
        reply = await chat.say(q.ask, user=f"ops-{n}", role="staff")
        assert reply is not None
        assert [c.name for c in reply.tool_calls] == ["query_metrics"], q.ask
        headline = reply.text.split("\n")[0]
        if q.shape == "total":
            expected = rows[0][0] or 0
            assert f"**{show_value(q.unit, expected)}**" in headline, (q.ask, expected, headline)
        elif q.shape == "aov":
            total, count = rows[0]
            assert f"**{show_value(MONEY, round(total / count))}**" in headline, (q.ask, headline)
        elif q.shape == "ratio":
            numerator, denominator = rows[0]
            assert f"**{show_value(RATIO, numerator / denominator)}**" in headline, (q.ask, headline)
        elif q.shape == "compare":
            before = _sql(staffed, Question(q.ask, q.sql, q.lo - timedelta(days=1), q.lo))[0][0]
            assert f"**{rows[0][0]}**" in headline, headline
            assert f"(Thu 19 Nov 2026) {before}," in headline, headline
        elif q.shape == "shows":
            shown = table_rows(reply)[:3]
            expected_rows = [
                [_shown_label(name, zone, starts), show_value(RATIO, sold)] for name, zone, starts, sold in rows
            ]
            assert shown == expected_rows, q.ask
        elif q.shape == "days":
            by_day = {str(d)[:10]: v for d, v in rows}
            shown = table_rows(reply)
            assert len(shown) == 14
            for offset, (label, value) in enumerate(shown):
                day = q.lo + timedelta(days=offset)
                assert label == f"{day:%a} {day.day} {day:%b}"
                assert value == show_value(MONEY, by_day.get(day.isoformat(), 0)), (label, value)
        else:  # rows: the top of the breakdown, in order
            shown = [r[:2] for r in table_rows(reply)[:3]]
            assert shown == [[str(label), show_value(q.unit, value)] for label, value in rows[:3]], q.ask


# Conversations


async def test_a_traveller_asking_for_revenue_is_refused_politely_and_the_refusal_is_recorded(
    roadie: Roadie, chat: FakeChannel
) -> None:
    reply = await chat.say("what was Roadie's revenue last week?", user="nosy")
    assert reply is not None
    assert reply.text == STAFF_ONLY_REPLY
    assert "€" not in reply.text
    assert reply.tool_calls == []
    with roadie.services.db.session() as session:
        [refusal] = session.scalars(select(ConversationEvent).where(ConversationEvent.kind == "refusal")).all()
        assert refusal.ok is False
        assert refusal.tools == ["query_metrics"]
        assert refusal.detail["topic"] == "revenue"
        assert refusal.conversation.startswith("fake:nosy")
        assert session.get_one(Person, refusal.person_id).role == "traveller"

    assert "query_metrics" not in {t.name for t in tools_for("traveller")}
    later = await chat.say("any Coldplay shows in Europe?", user="nosy")
    assert later is not None
    assert "Coldplay" in later.text, "a refused traveller carries on as usual"


def _context(roadie: Roadie, role: str) -> TurnContext:
    caller = Caller(person_id=1, role=role, channel="fake", conversation="fake:x::")  # type: ignore[arg-type]
    return TurnContext(caller=caller, services=roadie.services, message="revenue please")


def _invoke(roadie: Roadie, role: str, **args: Any) -> tuple[str, dict[str, Any]]:
    call = {"name": "query_metrics", "args": args, "id": "call_1", "type": "tool_call"}
    runtime_args = {"runtime": _runtime(_context(roadie, role))}
    message = query_metrics.invoke({**call, "args": {**args, **runtime_args}})
    return str(message.content), message.artifact


def _runtime(context: TurnContext) -> Any:
    from langchain.tools import ToolRuntime

    return ToolRuntime(
        state={}, context=context, config={}, stream_writer=lambda _: None, tool_call_id="call_1", store=None
    )


async def test_the_tool_itself_refuses_anyone_but_staff_and_records_it(roadie: Roadie) -> None:
    content, artifact = _invoke(roadie, "traveller", metric="revenue", period="last_week")
    assert content == STAFF_ONLY_REPLY
    assert artifact["ok"] is False
    with roadie.services.db.session() as session:
        refusals = session.scalars(select(ConversationEvent).where(ConversationEvent.kind == "refusal")).all()
        assert [r.detail["reason"] for r in refusals] == ["staff only"]
    content, artifact = _invoke(roadie, "staff", metric="revenue", period="last_week")
    assert artifact["ok"] is True
    assert "**Revenue**" in content


async def test_nothing_a_model_writes_is_run_as_sql(roadie: Roadie) -> None:
    before = _count(roadie, Booking)
    with pytest.raises(ValidationError):
        _invoke(roadie, "staff", metric="revenue; DROP TABLE booking")
    content, artifact = _invoke(roadie, "staff", metric="revenue", artist="x'); DROP TABLE booking; --")
    assert artifact["ok"] is False
    assert "I don't know an artist" in content
    content, artifact = _invoke(roadie, "staff", metric="revenue", route="LHR' OR 1=1 --")
    assert artifact["ok"] is False
    assert _count(roadie, Booking) == before


def _count(roadie: Roadie, model: Any, *where: Any) -> int:
    with roadie.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_trend_comes_with_a_png_chart_and_a_table(
    roadie: Roadie, chat: FakeChannel, settings: Settings
) -> None:
    reply = await chat.say("revenue trend this month", user="ops", role="staff")
    assert reply is not None
    assert reply.image is not None
    assert reply.image.startswith("/media/charts/")
    assert reply.image.endswith(".png")
    png = (settings.data_dir / reply.image.removeprefix("/")).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (880, 462)
    assert len(table_rows(reply)) == 14, "the latest 14 days as a table, the chart has all 21"
    assert "(the latest 14 of 21; the chart has them all)" in reply.text
    again = await chat.say("revenue trend this month", user="ops2", role="staff")
    assert again is not None
    assert again.image == reply.image, "the same chart is drawn once"


async def test_a_follow_up_refines_the_last_question(chat: FakeChannel) -> None:
    first = await chat.say("revenue last week by artist", user="ops", role="staff")
    second = await chat.say("and by channel?", user="ops", role="staff")
    third = await chat.say("what about last month?", user="ops", role="staff")
    assert first is not None
    assert second is not None
    assert third is not None
    assert second.tool_calls[0].args == {"metric": "revenue", "by": "channel", "period": "last_week"}
    assert third.tool_calls[0].args == {"metric": "revenue", "by": "channel", "period": "last_month"}
    assert "last month (October 2026)" in third.text


async def test_a_split_a_metric_does_not_have_is_explained(chat: FakeChannel) -> None:
    reply = await chat.say("quote to booking conversion by artist this month", user="ops", role="staff")
    assert reply is not None
    assert "can be split by channel, day, week, month — not by artist" in reply.text


async def test_export_writes_a_csv_whose_rows_add_up(roadie: Roadie, chat: FakeChannel, settings: Settings) -> None:
    reply = await chat.say("export revenue by artist last month as csv", user="ops", role="staff")
    assert reply is not None
    link = re.search(r"CSV export: (\S+\.csv)", reply.text)
    assert link, reply.text
    body = (settings.data_dir / link.group(1).removeprefix("/")).read_text()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) == ["artist", "revenue_eur"]
    assert len(rows) == len({r["artist"] for r in rows}) >= 15
    total_cents = sum(int(r["revenue_eur"].replace(".", "")) for r in rows)
    expected = _sql(
        roadie, Question("", f"SELECT SUM(total_minor - refund_minor) {BOOKINGS_IN}", D(2026, 10, 1), D(2026, 11, 1))
    )[0][0]
    assert total_cents == expected


async def test_the_staff_daily_digest_compares_yesterday_with_the_day_before(roadie: Roadie) -> None:
    digest = staff_digest(roadie.services, NOW)
    lines = digest.text.split("\n")
    assert lines[0] == "**Roadie daily digest — Fri 20 Nov 2026** (against Thu 19 Nov 2026)"

    def day_sql(sql: str, day: date) -> Any:
        return _sql(roadie, Question("", sql, day, day + timedelta(days=1)))[0][0] or 0

    revenue = f"SELECT SUM(total_minor - refund_minor) {BOOKINGS_IN}"
    now_v, then_v = day_sql(revenue, D(2026, 11, 20)), day_sql(revenue, D(2026, 11, 19))
    assert (
        f"- Revenue: **{show_value(MONEY, now_v)}** ({show_change(MONEY, now_v, then_v)}; was {show_value(MONEY, then_v)})"
        in lines
    )
    bookings = day_sql(f"SELECT COUNT(*) {BOOKINGS_IN}", D(2026, 11, 20))
    searches = day_sql(
        "SELECT COUNT(*) FROM conversation_event WHERE kind = 'search' AND created_at >= :lo AND created_at < :hi",
        D(2026, 11, 20),
    )
    quotes = day_sql(
        "SELECT COUNT(*) FROM conversation_event WHERE kind = 'quote' AND created_at >= :lo AND created_at < :hi",
        D(2026, 11, 20),
    )
    assert f"Funnel: {searches:,} searches → {quotes:,} quotes → {bookings:,} bookings." in lines
    assert any(line.startswith("- Median reply latency: **") for line in lines)
    assert "Top movers (revenue by artist):" in lines
    movers = lines[lines.index("Top movers (revenue by artist):") + 1 :]
    assert 1 <= len(movers) <= 6
    assert all(line.startswith("- ") for line in movers)
    assert digest.image is not None
    assert (roadie.settings.data_dir / digest.image.removeprefix("/")).is_file()


async def test_rollups_follow_new_bookings_cancellations_and_late_log_rows(roadie: Roadie, chat: FakeChannel) -> None:
    question = "revenue last month"
    first = await chat.say(question, user="ops-a", role="staff")
    assert first is not None
    assert _count(roadie, MetricBookingRollup, MetricBookingRollup.cube == "event") > 0
    with roadie.services.db.write_session() as session:
        old = session.scalars(
            select(Booking).where(Booking.status == "paid", Booking.created_at >= datetime(2026, 10, 10, tzinfo=UTC))
        ).first()
        assert old is not None
        old.status, old.cancelled_at, old.refund_minor = "cancelled", NOW, old.total_minor  # a full refund today
        session.add(
            Booking(
                reference="RD-LATE01", idempotency_key="late-import", person_id=old.person_id, event_id=old.event_id,
                travellers=1, tickets=1, total_minor=12_345, currency="EUR", status="paid", channel="web",
                created_at=datetime(2026, 10, 5, 12, tzinfo=UTC), items=[],
            )
        )  # fmt: skip
        session.add(
            ConversationEvent(
                channel="web", kind="search", tools=["search_events"], created_at=datetime(2026, 10, 6, tzinfo=UTC)
            )
        )
    second = await chat.say(question, user="ops-b", role="staff")
    assert second is not None
    expected = _sql(
        roadie, Question("", f"SELECT SUM(total_minor - refund_minor) {BOOKINGS_IN}", D(2026, 10, 1), D(2026, 11, 1))
    )[0][0]
    assert f"**{show_value(MONEY, expected)}**" in second.text.split("\n")[0]
    assert first.text.split("\n")[0] != second.text.split("\n")[0]
    by_artist = await chat.say("revenue by artist last month", user="ops-d", role="staff")
    assert by_artist is not None
    rows = _sql(
        roadie,
        Question(
            "",
            f"SELECT a.name, SUM(b.total_minor - b.refund_minor) AS n FROM booking b {SHOWS} "
            "WHERE b.created_at >= :lo AND b.created_at < :hi GROUP BY a.name ORDER BY n DESC, a.name",
            D(2026, 10, 1),
            D(2026, 11, 1),
        ),
    )
    shown = [r[:2] for r in table_rows(by_artist)]
    assert shown == [[name, show_value(MONEY, value)] for name, value in rows[: len(shown)]], "today's refund included"
    searches = await chat.say("searches last month", user="ops-c", role="staff")
    count = _sql(
        roadie,
        Question(
            "",
            "SELECT COUNT(*) FROM conversation_event WHERE kind = 'search' AND created_at >= :lo AND created_at < :hi",
            D(2026, 10, 1),
            D(2026, 11, 1),
        ),
    )[0][0]
    assert searches is not None
    assert f"**{count:,}**" in searches.text


async def test_staff_answers_render_on_the_web_chat_and_the_terminal(
    roadie: Roadie, chat: FakeChannel, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = await chat.say("bookings by channel this month", user="ops", role="staff")
    assert reply is not None
    frame = reply_frame(reply)
    assert "<pre>Channel" in frame["html"]
    assert "```" not in frame["html"]
    trend = await chat.say("bookings per day this week", user="ops", role="staff")
    assert trend is not None
    assert reply_frame(trend)["image"] == trend.image

    monkeypatch.setattr("sys.stdin", io.StringIO("bookings per day this week\n"))
    await run_terminal_chat(roadie.service.handle, user="ops-terminal", role="staff")
    printed = capsys.readouterr().out
    assert "Bookings · this week (16–21 Nov 2026): " in printed
    assert "```" not in printed
    assert f"[chart: {trend.image}]" in printed
    assert plain_with_options(trend).count("\n") > 5
    assert "<pre>" in markdown_to_html("```\na  b\n```")


# The vocabulary


def test_periods_and_what_they_are_compared_with() -> None:
    def days(name: str) -> tuple[date, date, date, date]:
        period = resolve_period(name, None, None, TODAY)
        before = previous_period(period)
        return period.start, period.end, before.start, before.end

    assert days("today") == (D(2026, 11, 21), D(2026, 11, 22), D(2026, 11, 20), D(2026, 11, 21))
    assert days("yesterday") == (D(2026, 11, 20), D(2026, 11, 21), D(2026, 11, 19), D(2026, 11, 20))
    assert days("last_7_days") == (D(2026, 11, 15), D(2026, 11, 22), D(2026, 11, 8), D(2026, 11, 15))
    assert days("this_week") == (D(2026, 11, 16), D(2026, 11, 22), D(2026, 11, 10), D(2026, 11, 16))
    assert days("last_week") == (D(2026, 11, 9), D(2026, 11, 16), D(2026, 11, 2), D(2026, 11, 9))
    assert days("this_month") == (D(2026, 11, 1), D(2026, 11, 22), D(2026, 10, 1), D(2026, 10, 22))
    assert days("last_month") == (D(2026, 10, 1), D(2026, 11, 1), D(2026, 9, 1), D(2026, 10, 1))
    assert days("last_30_days") == (D(2026, 10, 23), D(2026, 11, 22), D(2026, 9, 23), D(2026, 10, 23))
    assert days("this_year") == (D(2026, 1, 1), D(2026, 11, 22), D(2025, 1, 1), D(2025, 11, 22))
    assert days("last_year") == (D(2025, 1, 1), D(2026, 1, 1), D(2024, 1, 1), D(2025, 1, 1))
    october = resolve_period(None, D(2026, 10, 1), D(2026, 10, 31), TODAY)
    assert (october.label(), previous_period(october).start) == ("October 2026", D(2026, 9, 1))
    march = Period("this_month", D(2027, 3, 1), D(2027, 3, 31))  # 30 days of March: February has only 28
    assert previous_period(march).end == D(2027, 3, 1)


@pytest.mark.parametrize(
    ("said", "args"),
    [
        ("revenue last week by artist", {"metric": "revenue", "by": "artist", "period": "last_week"}),
        ("top routes in October", {"metric": "bookings", "by": "route", "date_from": "2026-10-01", "date_to": "2026-10-31"}),
        ("how many new users yesterday vs the day before", {"metric": "new_users", "period": "yesterday", "compare": True}),
        ("which shows are selling slowest", {"metric": "sell_through", "by": "event", "sort": "asc"}),
        ("what share of quotes turned into bookings last month", {"metric": "quote_to_booking", "period": "last_month"}),
        ("revenue since 1 November", {"metric": "revenue", "date_from": "2026-11-01", "date_to": "2026-11-21"}),
        ("how many tickets did we sell on Monday", {"metric": "tickets_sold", "date_from": "2026-11-16", "date_to": "2026-11-16"}),
        ("daily revenue for the last 14 days", {"metric": "revenue", "by": "day", "date_from": "2026-11-08", "date_to": "2026-11-21"}),
    ],
)  # fmt: skip
def test_plain_words_become_metric_arguments(said: str, args: dict[str, Any]) -> None:
    assert metric_request(said, [], {}, TODAY) == args


@pytest.mark.parametrize(
    "said",
    [
        "show my bookings",
        "book it",
        "convert 100 dollars to euros",
        "how many alerts are queued",
        "find Coldplay tickets in London",
        "cancel my booking",
        "turn off alerts this week",
        "the organiser cancelled our group booking, who gets the refund?",
    ],
)
def test_trip_requests_are_not_metric_questions(said: str) -> None:
    assert metric_request(said, [], {}, TODAY) is None
    assert staff_only_topic(said) is None


def test_every_metric_of_the_vocabulary_is_a_tool_argument() -> None:
    schema = query_metrics.tool_call_schema.model_json_schema()  # type: ignore[union-attr]
    assert set(schema["properties"]["metric"]["enum"]) == set(METRICS)
    assert {"metric", "by", "period", "date_from", "date_to", "compare", "chart", "export"} <= set(schema["properties"])


def test_media_paths_stay_under_media(tmp_path: Path) -> None:
    from tools.charts import Series, chart_path

    path, url = chart_path(tmp_path, Series("t", ["a"], [1.0], "count", trend=False))
    assert path.parent == tmp_path / "charts"
    assert url == f"/media/charts/{path.name}"


def test_rollup_refresh_is_a_no_op_when_nothing_changed(roadie: Roadie) -> None:
    db = roadie.services.db
    assert rollups.refresh(db, TODAY)  # built the first time
    assert rollups.refresh(db, TODAY) == {}
    with db.session() as session:
        assert not rollups.stale(session, TODAY)
        assert rollups.stale(session, TODAY + timedelta(days=1)), "a new day makes yesterday a complete day"
