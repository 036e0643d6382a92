"""Export and delete on every channel: the real app with Telegram (aiogram), Slack (bolt), WhatsApp (twilio)
and the web chat, each against its fake platform, through the one core; another person's data stays."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from assistant.clock import FixedClock
from assistant.models import ChannelIdentity, Follow
from assistant.settings import Settings
from knowledge.embeddings import Embedder
from main import Roadie, create_app
from tests.conftest import NOW
from tests.fakes.slack_api import SIGNING_SECRET, TEAM, FakeSlackApi, dm
from tests.fakes.slack_api import TOKEN as SLACK_TOKEN
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.servers import serve_in_thread

T = TypeVar("T")
BOT_TOKEN = "123456789:AAE-roadie-test-token_abcdefghijk"
SECRET = "webhook-secret-for-tests_1"
ACCOUNT_SID = "AC" + "5" * 32
TWILIO_TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://roadie.example.com"


def eventually(probe: Callable[[], T], timeout_s: float = 60.0) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.05)
    raise AssertionError("nothing arrived in time")


@dataclass
class Platforms:
    app: TestClient
    telegram: FakeTelegram
    slack: FakeSlackApi
    twilio: FakeTwilio

    @property
    def roadie(self) -> Roadie:
        roadie: Roadie = self.app.app.state.roadie  # type: ignore[attr-defined]
        return roadie

    def known(self, channel: str, external_id: str) -> int | None:
        with self.roadie.services.db.session() as session:
            return session.scalars(
                select(ChannelIdentity.person_id).where(
                    ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
                )
            ).first()


@pytest.fixture(scope="module")
def platforms(
    tmp_path_factory: pytest.TempPathFactory, seeded_template: Path, embedder: Embedder
) -> Iterator[Platforms]:
    data = tmp_path_factory.mktemp("privacy-channels")
    for suffix in ("", "-wal", "-shm"):
        source = seeded_template.with_name(seeded_template.name + suffix)
        if source.exists():
            shutil.copy(source, data / source.name)
    telegram, slack, twilio = FakeTelegram(BOT_TOKEN), FakeSlackApi(), FakeTwilio(ACCOUNT_SID, TWILIO_TOKEN)
    with serve_in_thread(telegram.app) as tg, serve_in_thread(slack.app) as sl, serve_in_thread(twilio.app) as tw:
        slack.base = sl  # type: ignore[attr-defined]
        settings = Settings(  # type: ignore[call-arg]
            data_dir=data,
            database_url="",
            memory_url="",
            llm_base_url="",
            openai_api_key="",
            knowledge_store="memory",
            outbox_interval_s=0,
            scheduler_in_process=False,
            public_base_url=PUBLIC,
            telegram_bot_token=SecretStr(BOT_TOKEN),
            telegram_webhook_secret=SecretStr(SECRET),
            telegram_api_base=tg,
            slack_bot_token=SecretStr(SLACK_TOKEN),
            slack_signing_secret=SecretStr(SIGNING_SECRET),
            slack_api_base=f"{sl}/api/",
            slack_team_id=TEAM,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=SecretStr(TWILIO_TOKEN),
            twilio_whatsapp_from="+14155238886",
            twilio_api_base=tw,
        )
        with TestClient(create_app(settings, FixedClock(NOW), embedder)) as client:
            yield Platforms(client, telegram, slack, twilio)


def telegram_says(platforms: Platforms, user_id: int, text: str) -> None:
    update_id = int(uuid.uuid4().int % 1_000_000_000)
    message = {
        "message_id": update_id % 100_000,
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "Ana"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Ana", "username": "ana_tg"},
        "text": text,
    }
    response = platforms.app.post(
        "/telegram/webhook",
        json={"update_id": update_id, "message": message},
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert response.status_code == 200


def slack_says(platforms: Platforms, user: str, text: str) -> None:
    delivery = dm(user, text)
    assert platforms.app.post("/slack/events", content=delivery.body, headers=delivery.headers()).status_code == 200


def whatsapp_says(platforms: Platforms, number: str, text: str) -> None:
    params = {
        "Body": text,
        "From": f"whatsapp:{number}",
        "To": "whatsapp:+14155238886",
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": ACCOUNT_SID,
        "NumMedia": "0",
        "ProfileName": "Ana",
    }
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{PUBLIC}/whatsapp/webhook", params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    assert platforms.app.post("/whatsapp/webhook", content=urlencode(params), headers=headers).status_code == 200


def exported_file(platforms: Platforms, text: str) -> dict[str, Any]:
    start = text.index("/media/exports/")
    path = text[start:].split()[0].rstrip(".,)")
    data: dict[str, Any] = json.loads(
        (platforms.roadie.settings.data_dir / "media" / path.removeprefix("/media/")).read_text(encoding="utf-8")
    )
    return data


def test_on_telegram_export_arrives_as_a_document_and_delete_forgets_the_chat(platforms: Platforms) -> None:
    user = 7_100_001
    telegram_says(platforms, user, "follow Coldplay")
    eventually(lambda: platforms.telegram.called("sendMessage", chat_id=user))
    telegram_says(platforms, user, "/export")
    [document] = eventually(lambda: platforms.telegram.called("sendDocument", chat_id=user))
    name, data = next(iter(document.files.values()))
    assert name.startswith("roadie-my-data-")
    assert name.endswith(".json")
    mine = json.loads(data)
    assert [i["external_id"] for i in mine["channel_identities"]] == [str(user)]
    assert len(mine["follows"]) == 1

    telegram_says(platforms, user, "/delete_my_data")
    eventually(
        lambda: any("can't be undone" in c["text"] for c in platforms.telegram.called("sendMessage", chat_id=user))
    )
    telegram_says(platforms, user, "yes")
    eventually(
        lambda: any("deleted your data" in c["text"] for c in platforms.telegram.called("sendMessage", chat_id=user))
    )
    assert platforms.known("telegram", str(user)) is None


def test_on_slack_export_is_uploaded_and_delete_leaves_the_others(platforms: Platforms) -> None:
    slack_says(platforms, "U0OTHER01", "follow Metallica")
    eventually(lambda: platforms.slack.to("chat.postMessage", "DU0OTHER01"))
    other = platforms.known("slack", "U0OTHER01")
    slack_says(platforms, "U0ANA0001", "export my data")
    asked = eventually(lambda: platforms.slack.to("files.getUploadURLExternal"))
    assert asked[-1]["filename"].startswith("roadie-my-data-")

    slack_says(platforms, "U0ANA0001", "delete my data")
    eventually(lambda: len(platforms.slack.to("chat.postMessage", "DU0ANA0001")) >= 2)
    slack_says(platforms, "U0ANA0001", "yes")
    eventually(lambda: platforms.known("slack", "U0ANA0001") is None or None)
    assert platforms.known("slack", "U0OTHER01") == other
    with platforms.roadie.services.db.session() as session:
        assert session.scalars(select(Follow).where(Follow.person_id == other)).all()


def test_on_whatsapp_export_is_a_link_and_delete_needs_a_yes(platforms: Platforms) -> None:
    number = "+447700900555"
    whatsapp_says(platforms, number, "export my data")
    [answer] = eventually(lambda: platforms.twilio.to(number))
    assert f"{PUBLIC}/media/exports/" in answer.body
    assert exported_file(platforms, answer.body.replace(PUBLIC, ""))["channel_identities"][0]["external_id"] == number

    whatsapp_says(platforms, number, "delete my data")
    eventually(lambda: len(platforms.twilio.to(number)) >= 2)
    assert platforms.known("whatsapp", number) is not None  # asked, not done
    whatsapp_says(platforms, number, "yes")
    eventually(lambda: len(platforms.twilio.to(number)) >= 3)
    assert "deleted your data" in platforms.twilio.to(number)[-1].body
    assert platforms.known("whatsapp", number) is None


def test_on_the_web_chat_export_is_a_download_and_delete_starts_over(platforms: Platforms) -> None:
    session = "privacy-web-session-1"
    with platforms.app.websocket_connect("/ws/chat") as socket:

        def say(text: str) -> dict[str, Any]:
            socket.send_text(json.dumps({"type": "message", "text": text, "session": session}))
            assert socket.receive_json()["type"] == "typing"
            frame: dict[str, Any] = socket.receive_json()
            return frame

        say("I live in Lisbon")
        exported = say("export my data")
        assert exported["document"].startswith("/media/exports/")
        download = platforms.app.get(exported["document"])
        assert download.status_code == 200
        assert download.json()["profile"]["home_city"] == "Lisbon"
        assert "deleted" not in say("delete my data")["text"]
        done = say("yes")
        assert "deleted your data" in done["text"]
        assert platforms.app.get(exported["document"]).status_code == 404  # the export went with the rest
        assert platforms.known("web", session) is None
        say("hi")
        assert platforms.known("web", session) is not None
