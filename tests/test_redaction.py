"""Logs without secrets or personal data: the redaction filter on the handlers, whatever logger wrote the line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from assistant.messages import Reply
from assistant.redaction import RedactingFilter, install_redaction, redact
from assistant.settings import Settings
from channels.slack import SlackChannel
from tests.fakes.slack_api import TOKEN, FakeSlackApi
from tests.servers import serve_in_thread

BOT_TOKEN = "123456789:AAE-roadie-test-token_abcdefghijk"
SLACK_TOKEN = TOKEN  # the token the fake Slack accepts
SIGNING = "signing-secret-for-redaction"
PHONE = "+44 7700 900123"


def deployment(**more: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        telegram_bot_token=SecretStr(BOT_TOKEN),
        slack_bot_token=SecretStr(SLACK_TOKEN),
        slack_signing_secret=SecretStr(SIGNING),
        twilio_auth_token=SecretStr("twilio-auth-token-1234"),
        **more,
    )


@pytest.fixture
def redacted(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog with Roadie's redaction installed on the root handlers (caplog's among them), removed afterwards."""
    caplog.set_level(logging.DEBUG)
    for name in ("roadie", "aiohttp.client", "httpx", "slack_sdk"):  # whatever earlier tests left them at
        caplog.set_level(logging.DEBUG, logger=name)
    installed = install_redaction(deployment())
    try:
        yield caplog
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(installed)


def test_tokens_in_request_urls_and_settings_secrets_never_reach_the_log(redacted: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("aiohttp.client")
    log.info("POST https://api.telegram.org/bot%s/sendMessage -> 200", BOT_TOKEN)
    logging.getLogger("httpx").info('HTTP Request: GET https://api.telegram.org/bot%s/getMe "200 OK"', BOT_TOKEN)
    logging.getLogger("slack_sdk").debug("headers: {'Authorization': 'Bearer %s'}", SLACK_TOKEN)
    logging.getLogger("roadie").warning("signature check with %s failed", SIGNING)
    logging.getLogger("roadie").info("redis at redis://:hunter2pass@cache:6379/0 is down")
    text = redacted.text
    for secret in (BOT_TOKEN, SLACK_TOKEN, SIGNING, "hunter2pass"):
        assert secret not in text
    assert "/bot<token>/sendMessage" in text
    assert "/bot<token>/getMe" in text
    assert len(redacted.records) == 5


def test_contact_details_and_handles_are_replaced(redacted: pytest.LogCaptureFixture) -> None:
    logging.getLogger("roadie").info(
        "from whatsapp:%s (ana.lima@example.com), @ana_lima in Slack as %s; export /media/exports/%s/x.json",
        "+447700900123",
        "U0ANA12345",
        "k3Y-abcdefghijklmnop",
    )
    [record] = redacted.records
    message = record.getMessage()
    for personal in ("447700900123", "ana.lima@example.com", "@ana_lima", "U0ANA12345", "k3Y-abcdefghijklmnop"):
        assert personal not in message
    assert "<phone>" in message
    assert "<email>" in message
    assert "@<handle>" in message
    assert "<slack-user>" in message
    assert redact("Coldplay, 2 tickets at €141 on 2027-03-19T21:00:00+00:00, booking 42") == (
        "Coldplay, 2 tickets at €141 on 2027-03-19T21:00:00+00:00, booking 42"
    )


def test_an_exception_is_logged_without_the_token_it_carried(redacted: pytest.LogCaptureFixture) -> None:
    try:
        raise ConnectionError(f"Cannot connect to https://api.telegram.org/bot{BOT_TOKEN}/sendMessage for {PHONE}")
    except ConnectionError:
        logging.getLogger("aiogram.dispatcher").exception("update failed")
    [record] = redacted.records
    formatted = logging.Formatter("%(message)s").format(record)
    assert "update failed" in formatted
    assert "ConnectionError" in formatted
    assert BOT_TOKEN not in formatted
    assert PHONE not in formatted
    assert record.exc_info is not None
    assert BOT_TOKEN not in str(record.exc_info[1])


def test_installing_twice_adds_one_filter_per_handler() -> None:
    handler = logging.StreamHandler()
    root = logging.getLogger("roadie-redaction-test")
    root.addHandler(handler)
    try:
        install_redaction(deployment(), root)
        install_redaction(deployment(), root)
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    finally:
        root.removeHandler(handler)


async def test_a_real_slack_send_logs_no_user_id_phone_or_token(
    redacted: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    """slack_sdk logs each request at DEBUG (its body names the person): through the real client, redacted."""
    api = FakeSlackApi()
    with serve_in_thread(api.app) as base:
        api.base = base  # type: ignore[attr-defined]
        channel = SlackChannel(deployment(data_dir=tmp_path, slack_api_base=f"{base}/api/"))
        await channel.send("U0ANA12345", Reply(f"Your taxi driver will call you on {PHONE}."))
    assert api.to("chat.postMessage", "U0ANA12345"), "the message went out"
    sdk_lines = [r for r in redacted.records if r.name.startswith("slack_sdk")]
    assert sdk_lines, "slack_sdk logged the request"
    text = redacted.text
    assert "U0ANA12345" not in text
    assert PHONE not in text
    assert SLACK_TOKEN not in text
    assert "<slack-user>" in text
