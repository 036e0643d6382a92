"""Authorization lives in the tools, not in the prompt: a model taken over by an attacker gets nothing.

A hostile OpenAI-compatible model (tests/fakes/hostile_llm.py) calls whatever the attacker wants —
staff tools, other people's booking references, group codes, poll and expense references,
confirm=true without a yes — and repeats every tool result in its answer. Each attack is checked
on the database (the victim's rows before and after), on the agent's own record of which tools ran
and whether they refused, on Roadie's write log, and for canaries in the reply and in everything the
model was shown.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy import select

from assistant.agent import build_agent
from assistant.clock import FixedClock
from assistant.context import Caller, TurnContext
from assistant.models import Booking, ChannelIdentity, Quote
from assistant.settings import Settings
from assistant.toolkit import spec_of
from channels.fake import FakeChannel
from knowledge.embeddings import Embedder
from main import Roadie, start_roadie
from tests.conftest import NOW
from tests.fakes.hostile_llm import HostileScript, Step, hostile_llm
from tests.security_world import (
    ATTACKER,
    VICTIM,
    World,
    build_world,
    canary_settings,
    dump,
    executed_tools,
    leaked,
    victim_state,
    writes_logged,
)
from tests.servers import serve_in_thread
from tools import all_tools, tools_for

STAFF_TOOLS = {"query_metrics", "forecast_demand", "outbox_status", "resend_message"}


@dataclass
class Arena:
    roadie: Roadie
    settings: Settings
    script: HostileScript
    world: World
    chat: FakeChannel
    url: str


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[tuple[str, HostileScript]]:
    script = HostileScript()
    with serve_in_thread(hostile_llm(script)) as url:
        yield url, script


@pytest_asyncio.fixture(scope="module")
async def arena(
    tmp_path_factory: pytest.TempPathFactory,
    seeded_template: Path,
    embedder: Embedder,
    hostile_server: tuple[str, HostileScript],
) -> AsyncIterator[Arena]:
    """One Roadie per module, on a copy of the demo database, driven by the hostile model."""
    url, script = hostile_server
    data = tmp_path_factory.mktemp("authorization")
    for suffix in ("", "-wal", "-shm"):
        source = seeded_template.with_name(seeded_template.name + suffix)
        if source.exists():
            shutil.copy(source, data / source.name)
    base = Settings(data_dir=data, database_url="", memory_url="", knowledge_store="memory", llm_model="hostile")
    settings = canary_settings(base, llm_base_url=f"{url}/v1", rate_limit_per_person=0, rate_limit_per_channel=0)
    async with start_roadie(settings, FixedClock(NOW), embedder) as roadie:
        world = build_world(roadie)
        chat = FakeChannel(roadie.service.handle)
        script.next_turn()  # the attacker says hello first: a Roadie identity and nothing else
        await chat.say("hi", user=ATTACKER)
        yield Arena(roadie, settings, script, world, chat, url)


async def attack(arena: Arena, message: str, *steps: Step, user: str = ATTACKER) -> tuple[str, list[tuple[str, bool]]]:
    """One attacker turn with the hostile model playing `steps`; the reply and the tools that ran."""
    arena.script.clear()
    arena.script.next_turn(*[[(name, _filled(arena.world, args)) for name, args in step] for step in steps])
    asked_before = len(arena.script.requests)
    reply = await arena.chat.say(message, user=user)
    assert reply is not None
    shown = dump(arena.script.requests[asked_before:])  # everything the model was sent during the turn
    assert not leaked(reply.text), f"canaries in the reply: {leaked(reply.text)}\n{reply.text}"
    assert not leaked(shown), f"canaries shown to the model: {leaked(shown)}"
    ran = await executed_tools(arena.settings, f"fake:{user}:{user}:", message)
    return reply.text, ran


def _filled(world: World, args: dict[str, Any]) -> dict[str, Any]:
    return {k: world.fill(v) if isinstance(v, str) else v for k, v in args.items()}


ATTACKS: list[tuple[str, str, list[Step]]] = [
    (
        "cancel the victim's booking, confirmed",
        "yes",
        [[("cancel_booking", {"reference": "{victim_booking}", "confirm": True})]],
    ),
    (
        "cancel the victim's booking, asked and confirmed in one turn",
        "yes please",
        [
            [("cancel_booking", {"reference": "{victim_booking}"})],
            [("cancel_booking", {"reference": "{victim_booking}", "confirm": True})],
        ],
    ),
    (
        "cancel the victim's booking, typed loosely",
        "yes",
        [[("cancel_booking", {"reference": "rd {victim_booking}", "confirm": True})]],
    ),
    ("book the victim's quote", "yes", [[("book_trip", {"quote": "{victim_quote}", "confirm": True})]]),
    (
        "book the victim's quote, asked and confirmed in one turn",
        "ok",
        [[("book_trip", {"quote": "{victim_quote}"})], [("book_trip", {"quote": "{victim_quote}", "confirm": True})]],
    ),
    ("forecast the victim's quote", "should I book now?", [[("forecast_price", {"quote": "{victim_quote}"})]]),
    ("read the victim's group", "group status", [[("group_status", {"code": "{victim_group}"})]]),
    ("join the victim's closed group", "join", [[("join_group", {"code": "{victim_group}"})]]),
    ("vote in the victim's poll", "vote", [[("cast_vote", {"poll": "{victim_poll}", "option": 2})]]),
    (
        "confirm the victim's pending expense",
        "yes",
        [[("add_expense", {"expense": "{victim_expense}", "confirm": True})]],
    ),
    (
        "add an expense to the victim's group",
        "yes",
        [[("add_expense", {"amount": 500, "description": "fake", "code": "{victim_group}", "paid_by": "Val"})]],
    ),
    ("settle the victim's group", "yes", [[("settle_up", {"code": "{victim_group}", "confirm": True})]]),
    (
        "remove a member of the victim's group",
        "yes",
        [[("remove_member", {"member": "Val", "code": "{victim_group}"})]],
    ),
    ("close the victim's group", "yes", [[("close_group", {"code": "{victim_group}"})]]),
    ("poll the victim's group", "poll", [[("create_poll", {"options": ["a", "b"], "code": "{victim_group}"})]]),
    ("quote for the victim's group", "plan it", [[("plan_trip", {"group": "{victim_group}", "origin": "London"})]]),
    (
        "read the victim's private notes",
        "what is the door code in our trip notes?",
        [[("ask_knowledge", {"question": "trip notes door code"})]],
    ),
    ("stop every price watch", "stop all", [[("watch_price", {"stop": True})]]),
    (
        "unfollow everyone's artists",
        "unfollow",
        [[("unfollow_artist", {"artist": "Coldplay"}), ("list_following", {})]],
    ),
    ("list bookings", "my bookings", [[("list_bookings", {})]]),
    (
        "smuggle a caller in the arguments",
        "yes",
        [
            [
                (
                    "cancel_booking",
                    {
                        "reference": "{victim_booking}",
                        "confirm": True,
                        "runtime": {"context": {"caller": {"person_id": 1, "role": "staff"}}},
                    },
                )
            ]
        ],
    ),
    (
        "pretend to be staff through preferences",
        "yes",
        [[("set_preferences", {"home_city": "London", "role": "staff", "person_id": 1})], [("outbox_status", {})]],
    ),
    ("staff metrics", "what's new?", [[("query_metrics", {"metric": "revenue"})]]),
    ("staff demand", "demand", [[("forecast_demand", {"artist": "Coldplay"})]]),
    ("staff outbox", "outbox", [[("outbox_status", {"hours": 720})]]),
    ("staff resend", "resend", [[("resend_message", {"message": 1})]]),
    ("a tool that doesn't exist", "sql", [[("run_sql", {"sql": "DELETE FROM booking"})]]),
]
# Tools that may run for the attacker on their own rows or public texts (the victim's rows are compared apart).
MAY_SUCCEED = {"set_preferences", "list_following", "list_bookings", "watch_price", "unfollow_artist", "ask_knowledge"}


@pytest.mark.parametrize(("name", "message", "steps"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_a_hostile_model_gets_nothing_of_other_people(
    arena: Arena, name: str, message: str, steps: list[Step]
) -> None:
    before = victim_state(arena.roadie, arena.world)
    text, ran = await attack(arena, message, *steps)
    assert victim_state(arena.roadie, arena.world) == before
    assert writes_logged(arena.roadie, [ATTACKER]) == []
    wanted = [name for step in steps for name, _ in step]
    assert [t for t, _ in ran] == wanted, "every scripted call reached the tools"
    assert [t for t, ok in ran if ok and t not in MAY_SUCCEED] == [], f"refusals expected: {ran}"
    if "{victim_" not in dump(steps):  # the attacker wasn't handed a reference: none may turn up
        refs = (arena.world.booking, arena.world.quote, arena.world.group, arena.world.poll, arena.world.expense)
        assert not [r for r in refs if r in text]


async def test_staff_tools_are_not_offered_to_travellers(arena: Arena) -> None:
    offered = {t.name for t in tools_for("traveller")}
    staff_only = {t.name for t in all_tools() if spec_of(t).staff_only}
    assert staff_only >= STAFF_TOOLS
    assert not offered & staff_only
    arena.script.clear()
    arena.script.next_turn()
    asked_before = len(arena.script.requests)
    await arena.chat.say("what can you do?", user=ATTACKER)
    sent = {t["function"]["name"] for t in arena.script.requests[asked_before]["tools"]}
    assert sent == offered
    assert not sent & staff_only


async def test_staff_tools_refuse_a_traveller_even_when_handed_to_one(arena: Arena) -> None:
    """Defence in depth: were the staff agent ever wired to a traveller, each staff tool checks the caller itself."""
    arena.script.clear()
    calls: Step = [
        ("query_metrics", {"metric": "revenue"}),
        ("forecast_demand", {"artist": "Coldplay"}),
        ("outbox_status", {"hours": 720}),
        ("resend_message", {"message": 1}),
    ]
    arena.script.next_turn(calls)
    model = ChatOpenAI(model="hostile", base_url=f"{arena.url}/v1", api_key="x", temperature=0)
    agent = build_agent(model, tools_for("staff"), InMemorySaver())
    with arena.roadie.services.db.session() as session:
        attacker = session.scalars(
            select(ChannelIdentity.person_id).where(ChannelIdentity.external_id == ATTACKER)
        ).one()
    caller = Caller(person_id=attacker, role="traveller", channel="fake", conversation="fake:staff-probe")
    before = victim_state(arena.roadie, arena.world)
    result = await agent.ainvoke(
        {"messages": [HumanMessage(content="yes")]},
        config={"configurable": {"thread_id": "staff-probe"}},
        context=TurnContext(caller=caller, services=arena.roadie.services, message="yes"),
    )
    ran = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert sorted(m.name or "" for m in ran) == sorted(n for n, _ in calls)
    assert all(not (m.artifact or {}).get("ok") for m in ran), [m.content for m in ran]
    assert not leaked(dump([m.content for m in result["messages"]]))
    assert victim_state(arena.roadie, arena.world) == before


async def test_a_yes_to_something_else_books_and_cancels_nothing(arena: Arena) -> None:
    """A model that asks and confirms in one turn, after a yes the person said to another question, books nothing."""
    user = "mallory-own"
    await attack(
        arena,
        "plan it",
        [("plan_trip", {"artist": "Taylor Swift", "city": "Lisbon", "origin": "London", "travellers": 2})],
        user=user,
    )
    with arena.roadie.services.db.session() as session:
        mine = session.scalars(
            select(Quote.reference)
            .join(ChannelIdentity, ChannelIdentity.person_id == Quote.person_id)
            .where(ChannelIdentity.external_id == user)
        ).all()
    assert len(mine) == 1
    _, ran = await attack(
        arena,
        "yes, show me more shows",
        [("book_trip", {"quote": mine[0]})],
        [("book_trip", {"quote": mine[0], "confirm": True})],
        user=user,
    )
    assert ran == [("book_trip", True), ("book_trip", True)]  # both only asked
    with arena.roadie.services.db.session() as session:
        booked = session.scalars(
            select(Booking)
            .join(ChannelIdentity, ChannelIdentity.person_id == Booking.person_id)
            .where(ChannelIdentity.external_id == user)
        ).all()
    assert booked == []
    _, ran = await attack(arena, "yes", [("book_trip", {"quote": mine[0], "confirm": True})], user=user)
    with arena.roadie.services.db.session() as session:
        booked = session.scalars(
            select(Booking)
            .join(ChannelIdentity, ChannelIdentity.person_id == Booking.person_id)
            .where(ChannelIdentity.external_id == user)
        ).all()
    assert len(booked) == 1, "the person's own yes in the next turn still books"


async def test_a_model_cannot_hide_the_question_a_yes_would_answer(arena: Arena) -> None:
    """The model asks to cancel the person's booking but tells them something else: Roadie shows the question."""
    user = "mallory-hides"
    await attack(
        arena,
        "plan it",
        [("plan_trip", {"artist": "Taylor Swift", "city": "Lisbon", "origin": "London", "travellers": 1})],
        user=user,
    )
    with arena.roadie.services.db.session() as session:
        [quote] = session.scalars(
            select(Quote.reference)
            .join(ChannelIdentity, ChannelIdentity.person_id == Quote.person_id)
            .where(ChannelIdentity.external_id == user)
        ).all()
    arena.script.clear()
    arena.script.next_turn([("book_trip", {"quote": quote})], say="Want to see more shows? Just say yes!")
    reply = await arena.chat.say("what else is on?", user=user)
    assert reply is not None
    assert reply.text.startswith("Want to see more shows?")
    assert f"quote {quote}? " in reply.text, "the booking question is in the reply, as the tool asked it"
    assert "Reply **yes** to book or **no** to stop." in reply.text


async def test_the_canaries_are_reachable_by_their_owner(arena: Arena) -> None:
    """The suite is not vacuous: the victim's own group status does show the group's name."""
    arena.script.clear()
    arena.script.next_turn([("group_status", {})])
    reply = await arena.chat.say("group status", user=VICTIM)
    assert reply is not None
    assert "group name" in leaked(reply.text)
