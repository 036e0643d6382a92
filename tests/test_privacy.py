"""A traveller's own data: "export my data" hands over a JSON file, "delete my data" (after yes) erases them.

Through the conversation service as every channel reaches it (FakeChannel here; Telegram, Slack, WhatsApp
and the web chat below with their real SDKs against the fake platforms), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy import func, select

from assistant.clock import FixedClock
from assistant.models import (
    Booking,
    ChannelIdentity,
    ConversationEvent,
    Expense,
    ExpenseShare,
    Follow,
    GroupMember,
    Person,
    ProcessedMessage,
    Quote,
    TripGroup,
)
from assistant.settings import Settings
from channels.fake import FakeChannel
from knowledge.embeddings import Embedder
from main import Roadie, start_roadie
from tests.conftest import NOW
from tools.analytics import measure
from tools.expenses import group_balances
from tools.metrics import MetricQuery, resolve_period


def person_of(roadie: Roadie, user: str, channel: str = "fake") -> int | None:
    with roadie.services.db.session() as session:
        return session.scalars(
            select(ChannelIdentity.person_id).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == user
            )
        ).first()


def revenue(roadie: Roadie) -> tuple[Any, ...]:
    """Staff figures over everything booked: revenue, bookings and tickets this year and last."""
    today = roadie.services.clock.now().date()
    period = resolve_period("custom", date(today.year - 2, 1, 1), today + timedelta(days=1), today)
    queries = [MetricQuery(m, period) for m in ("revenue", "bookings", "tickets_sold", "commission")]
    queries.append(MetricQuery("revenue", period, by="channel"))
    results = measure(roadie.services.db, queries, today)
    return (*tuple(r.total for r in results), tuple((row.label, row.value) for row in results[-1].rows))


async def memory_of(roadie: Roadie, thread: str) -> Any:
    saver: BaseCheckpointSaver[Any] = roadie.service._agents["traveller"].checkpointer
    return await saver.aget_tuple({"configurable": {"thread_id": thread}})


async def book_a_trip(chat: FakeChannel, user: str) -> None:
    await chat.say("plan a trip to the Lisbon show of Taylor Swift for 2 from London", user=user)
    asked = await chat.say("book it", user=user)
    assert asked is not None
    assert "yes" in asked.text.lower(), asked.text
    booked = await chat.say("yes", user=user)
    assert booked is not None
    assert "Booked!" in booked.text, booked.text


async def test_export_my_data_hands_over_a_json_file_of_everything_roadie_holds(
    roadie: Roadie, chat: FakeChannel
) -> None:
    await chat.say("follow Coldplay", user="ana")
    await chat.say("I live in Lisbon", user="ana")
    await book_a_trip(chat, "ana")
    await chat.say("follow Metallica", user="ben")

    reply = await chat.say("export my data", user="ana")

    assert reply is not None
    assert [c.name for c in reply.tool_calls] == ["export_my_data"]
    assert reply.document is not None
    assert reply.document.startswith("/media/exports/")
    assert reply.document in reply.text  # channels that cannot attach files still give the link
    path = roadie.settings.data_dir / "media" / reply.document.removeprefix("/media/")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["profile"]["home_city"] == "Lisbon"
    assert [i["external_id"] for i in data["channel_identities"]] == ["ana"]
    assert len(data["follows"]) == 1
    assert len(data["bookings"]) == 1
    assert data["quotes"]
    assert data["conversation_log"]
    assert all(e["person_id"] == data["profile"]["id"] for e in data["conversation_log"])
    assert person_of(roadie, "ben") not in {f["person_id"] for f in data["follows"]}
    assert "ben" not in path.read_text(encoding="utf-8")
    [(thread, said)] = data["conversation_memory"].items()
    assert thread == data["conversation_log"][-1]["conversation"], "the messages Roadie remembers, by conversation"
    mine = [line["text"] for line in said if line["from"] == "you"]
    assert mine[0] == "follow Coldplay"
    assert mine[-1] == "export my data"
    assert any(line["from"] == "roadie" and "Booked!" in line["text"] for line in said)
    assert "Metallica" not in json.dumps(data["conversation_memory"]), "nothing from Ben's conversation"


@pytest.mark.parametrize(
    "typed", ["/export", "export", "/export_my_data", "exportar mis datos", "meine Daten exportieren"]
)
async def test_export_is_reached_by_commands_and_other_languages(chat: FakeChannel, typed: str) -> None:
    reply = await chat.say(typed, user="cy")
    assert reply is not None
    assert [c.name for c in reply.tool_calls] == ["export_my_data"], (typed, reply.text)
    assert reply.document


async def test_delete_my_data_asks_first_and_no_changes_nothing(roadie: Roadie, chat: FakeChannel) -> None:
    await chat.say("follow Coldplay", user="ana")
    asked = await chat.say("/delete_my_data", user="ana")
    assert asked is not None
    assert [c.name for c in asked.tool_calls] == ["delete_my_data"]
    assert "can't be undone" in asked.text
    assert [b.value for b in asked.buttons] == ["yes", "no"]
    kept = await chat.say("no", user="ana")
    assert kept is not None
    assert "haven't changed anything" in kept.text
    assert person_of(roadie, "ana") is not None
    again = await chat.say("yes", user="ana")  # a yes after the no answers nothing
    assert again is not None
    assert person_of(roadie, "ana") is not None


async def test_delete_my_data_erases_the_person_keeps_bookings_anonymised_and_revenue_unchanged(
    roadie: Roadie, chat: FakeChannel
) -> None:
    await chat.say("follow Coldplay", user="ana")
    await chat.say("I live in Lisbon", user="ana")
    await chat.say("watch the price of Coldplay tickets in Brussels under 100 euros", user="ana")
    await book_a_trip(chat, "ana")
    await chat.say("follow Metallica", user="ben")
    await book_a_trip(chat, "ben")
    exported = await chat.say("export my data", user="ana")
    assert exported is not None
    assert exported.document
    ana, ben = person_of(roadie, "ana"), person_of(roadie, "ben")
    assert ana
    assert ben
    thread = "fake:ana:ana:"
    assert await memory_of(roadie, thread) is not None
    before = revenue(roadie)
    with roadie.services.db.session() as session:
        ana_bookings = [b.id for b in session.scalars(select(Booking).where(Booking.person_id == ana))]
        ben_rows = _rows_of(session, ben)

    assert (await chat.say("delete my data", user="ana")) is not None
    done = await chat.say("yes", user="ana")

    assert done is not None
    assert "deleted your data" in done.text
    assert await memory_of(roadie, thread) is None
    assert await memory_of(roadie, "fake:ben:ben:") is not None
    assert not (roadie.settings.data_dir / "media" / exported.document.removeprefix("/media/")).exists()
    with roadie.services.db.session() as session:
        assert session.get(Person, ana) is None
        assert person_of(roadie, "ana") is None
        for booking in session.scalars(select(Booking).where(Booking.id.in_(ana_bookings))):
            assert booking.person_id is None
            assert booking.quote_id is None
            assert booking.total_minor > 0
        assert not session.scalars(select(Quote).where(Quote.person_id == ana)).all()
        assert not session.scalars(select(Follow).where(Follow.person_id == ana)).all()
        assert not session.scalars(
            select(ProcessedMessage).where(ProcessedMessage.sender == ProcessedMessage.sender_key("fake", "ana"))
        ).all()
        logged = session.scalars(select(ConversationEvent).where(ConversationEvent.conversation == thread)).all()
        assert not logged
        assert not session.scalars(select(ConversationEvent).where(ConversationEvent.person_id == ana)).all()
        assert _rows_of(session, ben) == ben_rows  # someone else's data is untouched
    assert revenue(roadie) == before

    fresh = await chat.say("hi", user="ana")
    assert fresh is not None
    newcomer = person_of(roadie, "ana")
    assert newcomer is not None
    assert newcomer != ana
    with roadie.services.db.session() as session:
        person = session.get_one(Person, newcomer)
        assert person.home_city is None
        assert not session.scalars(select(Follow).where(Follow.person_id == newcomer)).all()


def _rows_of(session: Any, person_id: int) -> dict[str, Any]:
    return {
        "person": session.get_one(Person, person_id).home_city,
        "follows": sorted(f.artist_id for f in session.scalars(select(Follow).where(Follow.person_id == person_id))),
        "bookings": sorted(
            (b.reference, b.total_minor) for b in session.scalars(select(Booking).where(Booking.person_id == person_id))
        ),
        "events": session.scalar(
            select(func.count()).select_from(ConversationEvent).where(ConversationEvent.person_id == person_id)
        ),
    }


async def test_an_organiser_who_leaves_hands_the_group_over_and_the_balances_still_add_up(
    roadie: Roadie, chat: FakeChannel
) -> None:
    created = await chat.say("create a group for Coldplay", user="ana")
    assert created is not None
    code = next(word.strip("*.,") for word in created.text.split() if word.strip("*.,").startswith("G-"))
    await chat.say(f"join group {code}", user="ben")
    await chat.say(f"join group {code}", user="cy")
    await chat.say("I paid 90 euros for dinner, split equally", user="ana")
    await chat.say("yes", user="ana")
    await chat.say("create a group for Metallica", user="ana")  # nobody else in this one
    ana, ben = person_of(roadie, "ana"), person_of(roadie, "ben")
    with roadie.services.db.session() as session:
        shared = session.scalars(select(TripGroup).where(TripGroup.join_code == code)).one()
        alone = session.scalars(select(TripGroup).where(TripGroup.organiser_id == ana, TripGroup.id != shared.id)).one()
        before = sorted(group_balances(session, shared).values())
        assert session.scalars(select(Expense).where(Expense.paid_by == ana)).all()

    await chat.say("delete my data", user="ana")
    done = await chat.say("yes", user="ana")

    assert done is not None
    assert "new organiser" in done.text
    with roadie.services.db.session() as session:
        group = session.get_one(TripGroup, shared.id)
        assert group.organiser_id == ben
        assert session.get(TripGroup, alone.id) is None
        members = set(session.scalars(select(GroupMember.person_id).where(GroupMember.group_id == group.id)))
        assert ana not in members
        assert ben in members
        assert not session.scalars(select(Expense).where(Expense.paid_by == ana)).all()
        assert not session.scalars(select(ExpenseShare).where(ExpenseShare.person_id == ana)).all()
        after = group_balances(session, group)
        assert sorted(after.values()) == before
        assert sum(after.values()) == 0
        former = [session.get_one(Person, p) for p in after if p not in members]
        assert [(p.display_name, p.role, p.home_city) for p in former] == [("", "erased", None)]
        assert not session.scalars(select(ChannelIdentity).where(ChannelIdentity.person_id == former[0].id)).all()
    status = await chat.say("group status", user="ben")
    assert status is not None
    assert "former member" in status.text


# The same on PostgreSQL.


@pytest_asyncio.fixture
async def roadie_on_postgres(postgres_database: str, tmp_path: Path, embedder: Embedder) -> AsyncIterator[Roadie]:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path,
        database_url=postgres_database,
        memory_url="",
        llm_base_url="",
        openai_api_key="",
        knowledge_store="memory",
    )
    async with start_roadie(settings, FixedClock(NOW), embedder) as running:
        yield running


async def test_delete_my_data_on_postgresql_keeps_revenue_and_the_others(roadie_on_postgres: Roadie) -> None:
    roadie = roadie_on_postgres
    chat = FakeChannel(roadie.service.handle)
    await chat.say("follow Coldplay", user="ana")
    await book_a_trip(chat, "ana")
    created = await chat.say("create a group for Coldplay", user="ana")
    assert created is not None
    code = next(word.strip("*.,") for word in created.text.split() if word.strip("*.,").startswith("G-"))
    await chat.say(f"join group {code}", user="ben")
    await chat.say("I paid 60 euros for taxis, split equally", user="ben")
    await chat.say("yes", user="ben")
    before = revenue(roadie)
    ana = person_of(roadie, "ana")

    await chat.say("delete my data", user="ana")
    done = await chat.say("yes", user="ana")

    assert done is not None
    assert "deleted your data" in done.text, done.text
    assert person_of(roadie, "ana") is None
    assert person_of(roadie, "ben") is not None
    assert revenue(roadie) == before
    with roadie.services.db.session() as session:
        assert session.get(Person, ana) is None
        group = session.scalars(select(TripGroup).where(TripGroup.join_code == code)).one()
        assert group.organiser_id == person_of(roadie, "ben")
        assert sum(group_balances(session, group).values()) == 0
