"""The configured-LLM path: the real openai client against a local OpenAI-compatible server that calls tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request

from assistant.clock import FixedClock
from assistant.settings import Settings
from channels.fake import FakeChannel
from knowledge.embeddings import Embedder
from main import start_roadie
from tests.conftest import NOW
from tests.servers import serve_in_thread


def scripted_llm(received: list[dict[str, Any]]) -> FastAPI:
    """A tiny chat-completions server: asks for search_events, then answers from the tool result."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> dict[str, Any]:
        body = await request.json()
        received.append(body)
        last = body["messages"][-1]
        if last["role"] == "tool":
            message: dict[str, Any] = {"role": "assistant", "content": "From the catalogue: " + last["content"]}
            finish = "stop"
        else:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "search_events",
                            "arguments": json.dumps({"artist": "Metallica", "city": "Berlin"}),
                        },
                    }
                ],
            }
            finish = "tool_calls"
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    return app


@pytest.fixture
def llm_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    with serve_in_thread(scripted_llm(received)) as url:
        yield url, received


async def test_llm_tool_calls_run_real_tools(
    settings: Settings, embedder: Embedder, llm_server: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = llm_server
    llm_settings = settings.model_copy(update={"llm_base_url": f"{url}/v1", "llm_model": "scripted"})
    async with start_roadie(llm_settings, FixedClock(NOW), embedder) as roadie:
        reply = await FakeChannel(roadie.service.handle).say("metallica in berlin please")
    assert reply is not None
    assert reply.tool_calls[0].name == "search_events"
    assert reply.text.startswith("From the catalogue:")
    assert "Olympiastadion Berlin" in reply.text
    first, second = received
    offered = {t["function"]["name"] for t in first["tools"]}
    assert {"search_events", "get_tour"} <= offered
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][-1]["content"] == "metallica in berlin please"
    assert second["messages"][-1]["role"] == "tool"
    assert "Metallica" in second["messages"][-1]["content"]
