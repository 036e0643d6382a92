"""Fuzzing, bounded: the HTTP endpoints from the OpenAPI schema and the three webhooks never answer 500,
and the parsers that read what people and platforms send never crash.

One Roadie (create_app on a copy of the demo database, every channel on, their platforms faked on
127.0.0.1) serves a real uvicorn. schemathesis generates requests from the app's own OpenAPI schema,
with the webhooks (which FastAPI leaves out of it) described by hand; hypothesis sends signed and
unsigned garbage to the webhooks, and throws text at the planner's date parser, money amounts,
references and yes/no.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from assistant.clock import FixedClock
from assistant.planner.dates import DateParser
from assistant.settings import Settings
from assistant.yesno import is_affirmative, is_negative
from knowledge.embeddings import Embedder
from main import create_app
from tests.conftest import NOW
from tests.fakes.slack_api import SIGNING_SECRET, TEAM, FakeSlackApi
from tests.fakes.slack_api import TOKEN as SLACK_TOKEN
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.servers import serve_in_thread
from tools.common import normal_reference
from tools.expenses import to_minor
from tools.group_members import normal_code

TELEGRAM_TOKEN = "123456789:AAE-roadie-fuzz-token_abcdefghijk"
TELEGRAM_SECRET = "webhook-secret-for-fuzzing_1"
TWILIO_SID = "AC" + "7" * 32
TWILIO_TOKEN = "twilio-auth-token-for-fuzzing"
PUBLIC = "https://roadie.example.com"
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
# twilio's AsyncTwilioHttpClient passes aiohttp's deprecated BasicAuth; the SDK's to fix, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")


@pytest.fixture(scope="module")
def platforms() -> Iterator[dict[str, str]]:
    telegram, slack, twilio = FakeTelegram(TELEGRAM_TOKEN), FakeSlackApi(), FakeTwilio(TWILIO_SID, TWILIO_TOKEN)
    with serve_in_thread(telegram.app) as tg, serve_in_thread(slack.app) as sl, serve_in_thread(twilio.app) as tw:
        yield {"telegram": tg, "slack": f"{sl}/api/", "twilio": tw}


@pytest.fixture(scope="module")
def base_url(
    platforms: dict[str, str], tmp_path_factory: pytest.TempPathFactory, seeded_template: Path, embedder: Embedder
) -> Iterator[str]:
    data = tmp_path_factory.mktemp("fuzz")
    for suffix in ("", "-wal", "-shm"):
        source = seeded_template.with_name(seeded_template.name + suffix)
        if source.exists():
            shutil.copy(source, data / source.name)
    app_settings = Settings(
        data_dir=data,
        database_url="",
        memory_url="",
        llm_base_url="",
        openai_api_key=SecretStr(""),
        knowledge_store="memory",
        public_base_url=PUBLIC,
        outbox_interval_s=0,
        scheduler_in_process=False,
        telegram_bot_token=SecretStr(TELEGRAM_TOKEN),
        telegram_webhook_secret=SecretStr(TELEGRAM_SECRET),
        telegram_api_base=platforms["telegram"],
        slack_bot_token=SecretStr(SLACK_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_base=platforms["slack"],
        slack_team_id=TEAM,
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        twilio_whatsapp_from="whatsapp:+14155238886",
        twilio_api_base=platforms["twilio"],
    )
    with serve_in_thread(create_app(app_settings, FixedClock(NOW), embedder)) as url:
        yield url


WEBHOOKS: dict[str, Any] = {  # the webhooks as their platforms call them (FastAPI keeps them out of the schema)
    "/telegram/webhook": {
        "post": {
            "parameters": [
                {
                    "name": "X-Telegram-Bot-Api-Secret-Token",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "acknowledged"}},
        }
    },
    "/slack/events": {
        "post": {
            "parameters": [
                {"name": "X-Slack-Signature", "in": "header", "required": False, "schema": {"type": "string"}},
                {"name": "X-Slack-Request-Timestamp", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "acknowledged"}},
        }
    },
    "/whatsapp/webhook": {
        "post": {
            "parameters": [
                {"name": "X-Twilio-Signature", "in": "header", "required": False, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "From": {"type": "string"},
                                "Body": {"type": "string"},
                                "MessageSid": {"type": "string"},
                                "NumMedia": {"type": "string"},
                            },
                        }
                    }
                }
            },
            "responses": {"200": {"description": "acknowledged"}},
        }
    },
}


def test_no_endpoint_answers_500_to_generated_requests(base_url: str) -> None:
    raw = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
    raw["paths"] = {**raw.get("paths", {}), **WEBHOOKS}
    schema = schemathesis.openapi.from_dict(raw)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"/healthz", "/telegram/webhook", "/slack/events", "/whatsapp/webhook"} <= {op.path for op in operations}
    seen: dict[str, set[int]] = {}
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, timeout=30)
            seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            assert response.status_code < 500, (
                f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
            )

        fuzz()
    for path in ("/telegram/webhook", "/slack/events", "/whatsapp/webhook"):
        assert seen[f"POST {path}"] <= {200, 400, 401, 403, 404, 413, 415, 422}, seen  # unsigned: refused, never let in


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
telegram_updates = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=-(2**40), max_value=2**40)},
    optional={
        "message": st.dictionaries(
            st.sampled_from(["message_id", "date", "chat", "from", "text", "caption", "photo", "reply_to_message"]),
            json_values,
            max_size=6,
        ),
        "callback_query": st.dictionaries(st.sampled_from(["id", "from", "data", "message"]), json_values, max_size=4),
        "poll_answer": st.dictionaries(st.sampled_from(["poll_id", "user", "option_ids"]), json_values, max_size=3),
    },
)


@FUZZ
@given(update=telegram_updates | st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_signed_telegram_updates_never_crash_the_webhook(base_url: str, update: dict[str, Any]) -> None:
    response = httpx.post(
        f"{base_url}/telegram/webhook",
        content=json.dumps(update),
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code < 500, response.text[:300]


def slack_headers(body: bytes, content_type: str) -> dict[str, str]:
    import time

    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


slack_events = st.fixed_dictionaries(
    {"type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited", "block_actions", "nonsense"])},
    optional={
        "team_id": st.sampled_from([TEAM, "TOTHER", ""]),
        "event_id": st.text(max_size=12),
        "challenge": st.text(max_size=20),
        "event": st.dictionaries(
            st.sampled_from(
                ["type", "user", "text", "channel", "ts", "thread_ts", "bot_id", "channel_type", "subtype"]
            ),
            json_values,
            max_size=6,
        ),
    },
)


@FUZZ
@given(event=slack_events, form=st.booleans())
def test_signed_slack_requests_never_crash_the_endpoint(base_url: str, event: dict[str, Any], form: bool) -> None:
    if form:  # interactions and slash commands arrive as forms
        body = httpx.QueryParams({"payload": json.dumps(event), "command": "/roadie", "text": "hi"}).__str__().encode()
        headers = slack_headers(body, "application/x-www-form-urlencoded")
    else:
        body = json.dumps(event).encode()
        headers = slack_headers(body, "application/json")
    response = httpx.post(f"{base_url}/slack/events", content=body, headers=headers, timeout=30)
    assert response.status_code < 500, response.text[:300]


def twilio_signature(url: str, params: dict[str, str]) -> str:
    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(TWILIO_TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


twilio_forms = st.dictionaries(
    st.sampled_from(
        ["From", "To", "Body", "MessageSid", "NumMedia", "MediaUrl0", "ProfileName", "ButtonPayload", "Extra"]
    ),
    st.text(max_size=40),
    max_size=7,
)


@FUZZ
@given(form=twilio_forms)
def test_signed_whatsapp_forms_never_crash_the_webhook(base_url: str, form: dict[str, str]) -> None:
    response = httpx.post(
        f"{base_url}/whatsapp/webhook",
        data=form,
        headers={"X-Twilio-Signature": twilio_signature(f"{PUBLIC}/whatsapp/webhook", form)},
        timeout=30,
    )
    assert response.status_code < 500, response.text[:300]


PARSER = settings(max_examples=300, deadline=None, derandomize=True)
date_words = st.lists(
    st.sampled_from(
        [
            "next",
            "this",
            "weekend",
            "friday",
            "may",
            "31",
            "feb",
            "29",
            "2027",
            "in",
            "between",
            "and",
            "to",
            "tomorrow",
            "week",
            "month",
            "after",
            "before",
            "de",
            "mayo",
            "März",
            "août",
            "-",
            "/",
            "13/13",
            "0",
            "99999",
            "1st",
            "end",
            "of",
            "early",
            "late",
            "summer",
            "xmas",
            "el",
            "am",
        ]
    ),
    max_size=8,
).map(" ".join)


@PARSER
@given(text=st.text(max_size=80) | date_words, today=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_the_date_parser_never_crashes(text: str, today: date) -> None:
    parser = DateParser()
    found = parser.parse(text, today)
    if found is not None:
        assert found.start <= found.end
    parser.impossible(text)


@PARSER
@given(amount=st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20) | st.decimals())
def test_money_amounts_are_read_or_refused_never_crashed(amount: float | str | Decimal) -> None:
    from assistant.toolkit import UserFacingError

    try:
        minor = to_minor(amount)
    except UserFacingError:  # "I couldn't read … as an amount": the person is told, nothing crashes
        return
    assert isinstance(minor, int)


@PARSER
@given(text=st.text(max_size=40))
def test_references_and_yes_no_never_crash(text: str) -> None:
    assert isinstance(normal_reference(text), str)
    assert isinstance(normal_code(text), str)
    assert not (is_affirmative(text) and is_negative(text))
