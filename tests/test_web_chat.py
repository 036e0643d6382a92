"""The web chat over its real WebSocket: frames as DESIGN.md says, and garbage that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from assistant.clock import FixedClock
from assistant.models import ConversationEvent, ProcessedMessage
from assistant.settings import Settings
from knowledge.embeddings import Embedder
from main import create_app
from tests.conftest import NOW

SESSION = "session-for-tests-1"


@pytest.fixture
def client(settings: Settings, embedder: Embedder) -> Iterator[TestClient]:
    with TestClient(create_app(settings, FixedClock(NOW), embedder)) as test_client:
        yield test_client


def test_page_health_and_metrics(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "Roadie" in page.text
    assert "/static/chat.js" in page.text
    assert client.get("/static/chat.js").status_code == 200
    health = client.get("/healthz")
    assert health.json() == {"status": "ok", "worker": health.headers["x-roadie-worker"]}
    assert "# TYPE roadie_turns_total counter" in client.get("/metrics").text


def test_message_gets_typing_then_reply_with_buttons(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "message", "text": "any Coldplay shows in Europe?", "session": SESSION})
        assert ws.receive_json() == {"type": "typing"}
        reply = ws.receive_json()
        assert reply["type"] == "reply"
        assert "Coldplay" in reply["text"]
        assert "<strong>Coldplay</strong>" in reply["html"]
        assert "<li>" in reply["html"]
        assert reply["buttons"]
        assert {"label", "value"} <= set(reply["buttons"][0])
        ws.send_json({"type": "button", "value": reply["buttons"][0]["value"], "session": SESSION})
        assert ws.receive_json() == {"type": "typing"}
        assert ws.receive_json()["type"] == "reply"


def test_garbage_frames_get_an_error_and_the_socket_stays_usable(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_text("{this is not json")
        assert ws.receive_json()["type"] == "error"
        ws.send_text('["a", "list"]')
        assert ws.receive_json()["type"] == "error"
        ws.send_json({"type": "message", "text": "hi"})
        assert "session" in ws.receive_json()["message"]
        ws.send_text("x" * 20_000)
        assert "too long" in ws.receive_json()["message"]
        ws.send_json({"type": "message", "text": "<script>alert(1)</script> hi", "session": SESSION})
        assert ws.receive_json() == {"type": "typing"}
        reply = ws.receive_json()
        assert reply["type"] == "reply"
        assert "<script>" not in reply["html"]


def turns_logged(client: TestClient) -> int:
    with client.app.state.roadie.services.db.session() as session:  # type: ignore[attr-defined]
        return session.scalar(select(func.count()).where(ConversationEvent.kind == "turn")) or 0


def test_a_message_sent_again_gets_its_first_answer_and_runs_once(client: TestClient) -> None:
    frame = {"type": "message", "text": "find Adele concerts", "session": SESSION, "id": "42"}
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_json(frame)
        assert ws.receive_json() == {"type": "typing"}
        first = ws.receive_json()
        assert first["reply_to"] == "42"
    before = turns_logged(client)
    with client.websocket_connect("/ws/chat") as ws:  # the page reconnected and is not sure the answer came
        ws.send_json(frame)
        assert ws.receive_json() == {"type": "typing"}
        assert ws.receive_json() == first
        assert turns_logged(client) == before, "the turn did not run again"
        ws.send_json({**frame, "id": "43", "text": "thanks"})
        assert ws.receive_json() == {"type": "typing"}
        assert "welcome" in ws.receive_json()["text"]


def test_a_message_whose_worker_stopped_mid_turn_is_answered_when_sent_again(client: TestClient) -> None:
    session = "session-for-tests-2"
    roadie = client.app.state.roadie  # type: ignore[attr-defined]
    with roadie.services.db.session() as db:  # a worker took the message, then stopped before answering
        db.add(ProcessedMessage(channel="web", message_id=f"{session}:7", received_at=NOW))
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "message", "text": "find Adele concerts", "session": session, "id": "7"})
        assert ws.receive_json() == {"type": "typing"}
        answer = ws.receive_json()
        assert answer["reply_to"] == "7"
        assert "Adele" in answer["text"]


def test_a_group_poll_on_the_web_is_a_button_per_option(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:

        def say(text: str) -> dict[str, object]:
            ws.send_json({"type": "message", "text": text, "session": SESSION})
            assert ws.receive_json() == {"type": "typing"}
            return ws.receive_json()

        assert "Join code" in str(say("create a group for Coldplay")["text"])
        poll = say("poll: Brussels or Munich?")
        votes = [b for b in poll["buttons"] if str(b["value"]).startswith("vote P-")]  # type: ignore[attr-defined, index]
        assert [b["label"] for b in votes] == ["1. Brussels", "2. Munich"]
        ws.send_json({"type": "button", "value": votes[1]["value"], "session": SESSION})
        assert ws.receive_json() == {"type": "typing"}
        counted = ws.receive_json()
        assert "Voted for **Munich**" in counted["text"]
