"""Conversation memory lives in a LangGraph checkpointer on disk, so it survives a restart."""

from __future__ import annotations

from assistant.clock import FixedClock
from assistant.settings import Settings
from channels.fake import FakeChannel
from knowledge.embeddings import Embedder
from main import start_roadie
from tests.conftest import NOW


async def test_follow_up_after_restart_remembers_the_artist(settings: Settings, embedder: Embedder) -> None:
    async with start_roadie(settings, FixedClock(NOW), embedder) as roadie:
        await FakeChannel(roadie.service.handle).say("find Metallica concerts", user="zoe")
    async with start_roadie(settings, FixedClock(NOW), embedder) as restarted:
        reply = await FakeChannel(restarted.service.handle).say("what about Berlin?", user="zoe")
    assert reply is not None
    assert reply.tool_calls[0].args == {"artist": "Metallica", "city": "Berlin"}


async def test_conversations_do_not_share_memory(settings: Settings, embedder: Embedder) -> None:
    async with start_roadie(settings, FixedClock(NOW), embedder) as roadie:
        chat = FakeChannel(roadie.service.handle)
        await chat.say("find Metallica concerts", user="zoe")
        other = await chat.say("what about Berlin?", user="yusuf")
    assert other is not None
    assert other.tool_calls[0].args == {"city": "Berlin"}
