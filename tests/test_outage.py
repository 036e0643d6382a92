"""When the database goes away for a moment: people are told to try again shortly, and Roadie recovers by itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from assistant.clock import FixedClock
from assistant.outage import UNREACHABLE_ANSWER
from assistant.settings import Settings
from channels.fake import FakeChannel
from knowledge.embeddings import Embedder
from main import start_roadie
from tests.conftest import NOW
from tests.servers import Relay


@pytest.fixture
def relay(postgres_database: str) -> Iterator[tuple[Relay, str]]:
    """PostgreSQL behind a relay the test can cut, and the database URL that goes through it."""
    url = make_url(postgres_database)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield relay, url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    finally:
        relay.close()


async def test_a_database_outage_gets_try_again_and_roadie_recovers_without_a_restart(
    relay: tuple[Relay, str], settings: Settings, embedder: Embedder
) -> None:
    cable, url = relay
    on_postgres = settings.model_copy(
        update={"database_url": url, "memory_url": "", "database_pool_timeout_s": 3.0, "scheduler_in_process": False}
    )
    async with start_roadie(on_postgres, FixedClock(NOW), embedder) as roadie:
        chat = FakeChannel(roadie.service.handle)
        before = await chat.say("what are my bookings?")
        assert before is not None
        assert "booking" in before.text.lower()
        cable.cut()
        during = await chat.say("what are my bookings?")
        assert during is not None
        assert during.text == UNREACHABLE_ANSWER
        also = await chat.say("hi")
        assert also is not None
        assert also.text == UNREACHABLE_ANSWER, "no stack trace, no generic error: the same clear answer"
        cable.restore()
        after = await chat.say("what are my bookings?")
        assert after is not None
        assert after.text == before.text, "back to normal, same process, same answer"
