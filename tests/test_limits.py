"""Size limits on what comes in and timeouts on what goes out.

Oversized messages are answered before any work on every channel (the core checks them first); oversized
webhook bodies get 413 from the real app before they are read or verified; a WebSocket frame over the cap
gets an error frame. Outbound platform clients give up on a loopback server that accepts and never answers.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select
from starlette.testclient import TestClient

from assistant.clock import FixedClock
from assistant.models import Person, ProcessedMessage
from assistant.settings import Settings
from channels.fake import FakeChannel
from channels.slack import SlackChannel
from channels.telegram import TelegramChannel
from knowledge.embeddings import Embedder
from knowledge.store import ChromaStore
from main import Roadie, create_app
from tests.conftest import NOW

BOT_TOKEN = "123456789:AAE-roadie-test-token_abcdefghijk"
SECRET = "webhook-secret-for-tests_1"


def count(roadie: Roadie, model: Any) -> int:
    with roadie.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_oversized_message_is_answered_before_any_work(roadie: Roadie, chat: FakeChannel) -> None:
    people, processed = count(roadie, Person), count(roadie, ProcessedMessage)
    limit = roadie.settings.max_message_chars
    reply = await chat.say("a" * (limit + 1), user="newcomer")
    assert reply is not None
    assert f"{limit:,}" in reply.text
    assert not reply.tool_calls
    assert (count(roadie, Person), count(roadie, ProcessedMessage)) == (people, processed)
    fine = await chat.say("hi " + "a" * (limit - 10), user="newcomer")
    assert fine is not None
    assert "characters long" not in fine.text


# The real app with every channel configured (nothing answers on the platforms' side).


@pytest.fixture(scope="module")
def every_channel(
    tmp_path_factory: pytest.TempPathFactory, seeded_template: Path, embedder: Embedder
) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("limits")
    for suffix in ("", "-wal", "-shm"):
        source = seeded_template.with_name(seeded_template.name + suffix)
        if source.exists():
            shutil.copy(source, data / source.name)
    with socket.socket() as closed:  # a port nothing listens on: platform calls fail at once
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    settings = Settings(  # type: ignore[call-arg]
        data_dir=data,
        database_url="",
        memory_url="",
        llm_base_url="",
        openai_api_key="",
        knowledge_store="memory",
        outbox_interval_s=0,
        scheduler_in_process=False,
        public_base_url="https://roadie.example",
        telegram_bot_token=SecretStr(BOT_TOKEN),
        telegram_webhook_secret=SecretStr(SECRET),
        telegram_api_base=nowhere,
        slack_bot_token=SecretStr("xoxb-roadie-test"),
        slack_signing_secret=SecretStr("roadie-signing-secret"),
        slack_api_base=nowhere + "/api/",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=SecretStr("twilio-auth-token"),
        twilio_whatsapp_from="+14155238886",
        twilio_api_base=nowhere,
        platform_timeout_s=2.0,
    )
    with TestClient(create_app(settings, FixedClock(NOW), embedder)) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/telegram/webhook", {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}),
        ("/slack/events", {"Content-Type": "application/json"}),
        ("/whatsapp/webhook", {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
)
def test_oversized_webhook_bodies_are_refused_with_413(
    every_channel: TestClient, path: str, headers: dict[str, str]
) -> None:
    huge = b"x" * (300 * 1024)
    assert every_channel.post(path, content=huge, headers=headers).status_code == 413

    def streamed() -> Iterator[bytes]:  # no Content-Length: the body is counted as it arrives
        for _ in range(300):
            yield b"x" * 1024

    assert every_channel.post(path, content=streamed(), headers=headers).status_code == 413


def test_a_normal_sized_but_unsigned_slack_request_still_goes_to_verification(every_channel: TestClient) -> None:
    body = json.dumps({"type": "event_callback", "event": {"type": "message", "text": "hi"}}).encode()
    response = every_channel.post("/slack/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_a_websocket_frame_over_the_cap_gets_an_error_and_the_chat_goes_on(every_channel: TestClient) -> None:
    with every_channel.websocket_connect("/ws/chat") as socket_:
        socket_.send_text(json.dumps({"type": "message", "text": "a" * 20_000, "session": "session-limits-1"}))
        assert socket_.receive_json()["type"] == "error"
        socket_.send_text(json.dumps({"type": "message", "text": "hi", "session": "session-limits-1"}))
        frames = [socket_.receive_json(), socket_.receive_json()]
        assert [f["type"] for f in frames] == ["typing", "reply"]


# Timeouts: a loopback server that accepts connections and never answers.


@pytest.fixture
def silent() -> Iterator[str]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)  # the kernel completes handshakes; nobody ever reads or answers
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


async def test_the_bot_api_session_gives_up_on_a_server_that_never_answers(silent: str, tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path, telegram_bot_token=SecretStr(BOT_TOKEN), telegram_api_base=silent, platform_timeout_s=1.0
    )
    channel = TelegramChannel.from_settings(settings)
    started = time.monotonic()
    try:
        with pytest.raises(Exception, match=r"(?i)timeout"):
            await asyncio.wait_for(channel.bot.get_me(), timeout=30)
    finally:
        await channel.bot.session.close()
    assert time.monotonic() - started < 10


async def test_the_slack_client_gives_up_on_a_server_that_never_answers(silent: str, tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path,
        slack_bot_token=SecretStr("xoxb-roadie-test"),
        slack_api_base=silent + "/api/",
        platform_timeout_s=1.0,
    )
    client: AsyncWebClient = SlackChannel(settings).client
    assert client.timeout == 1
    started = time.monotonic()
    with pytest.raises((TimeoutError, asyncio.TimeoutError)):
        await asyncio.wait_for(client.auth_test(), timeout=30)
    assert time.monotonic() - started < 10


def test_a_chromadb_server_that_never_answers_fails_fast(silent: str) -> None:
    port = int(silent.rsplit(":", 1)[1])
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        ChromaStore(None, host="127.0.0.1", port=port, timeout_s=1.0)  # type: ignore[arg-type]  # never embeds
    assert time.monotonic() - started < 10


def test_the_llm_client_takes_its_timeout_and_retries_from_settings() -> None:
    from langchain_openai import ChatOpenAI

    from assistant.agent import choose_model

    settings = Settings(  # type: ignore[call-arg]
        llm_base_url="http://127.0.0.1:9/v1", openai_api_key=SecretStr("sk-test"), llm_timeout_s=7, llm_max_retries=1
    )
    model = choose_model(settings, None)  # type: ignore[arg-type]  # the planner is not used with an LLM
    assert isinstance(model, ChatOpenAI)
    assert model.request_timeout == 7
    assert model.max_retries == 1


async def test_the_llm_client_gives_up_on_an_endpoint_that_never_answers(silent: str) -> None:
    from langchain_core.messages import HumanMessage

    from assistant.agent import choose_model

    settings = Settings(  # type: ignore[call-arg]
        llm_base_url=silent + "/v1", openai_api_key=SecretStr("sk-test"), llm_timeout_s=1, llm_max_retries=0
    )
    model = choose_model(settings, None)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(Exception, match=r"(?i)time"):
        await asyncio.wait_for(model.ainvoke([HumanMessage(content="hi")]), timeout=30)
    assert time.monotonic() - started < 10
