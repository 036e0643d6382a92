"""Logs without personal data or secrets: a logging.Filter that rewrites each record before any formatter sees it.

What it removes from the message, its arguments, exception text and stack:
- platform tokens wherever they appear, above all in URLs that HTTP clients log (`…/bot123456:AA…/sendMessage`
  from aiogram or httpx becomes `…/bot<token>/sendMessage`), Slack `xox…-` tokens, OpenAI-style `sk-…` keys,
  passwords in URLs (`redis://:pw@host`, `postgresql://user:pw@host`), and the exact values of every secret
  setting (bot tokens, signing secrets, the Twilio auth token, the LLM key, the webhook secret);
- people's contact details: e-mail addresses, phone numbers written with a leading + (WhatsApp's
  `whatsapp:+447700900123` included), @handles, Slack user ids (U…/W…), and the capability part of
  data-export links (`/media/exports/<token>/…`).
Numbers without a + are left alone (they are ids, prices and times far more often than phone numbers), so a
bare Telegram user id in a log line is not caught; Roadie's own log lines name conversations by a hash.

The filter is independent of the formatter (text or JSON): `install_redaction(settings)` puts it on every
handler of the root logger (and of uvicorn's loggers when they have their own), and `redaction_filter(settings)`
builds one for a handler configured elsewhere. A filter on a handler sees records from every logger that
propagates to it, which is why it goes on handlers and not on loggers.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

from assistant.settings import Settings

PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"bot\d{3,}:[A-Za-z0-9_-]{20,}"), "bot<token>"),  # Telegram Bot API URLs
    (re.compile(r"\b\d{6,}:AA[A-Za-z0-9_-]{20,}"), "<telegram-token>"),  # a bare bot token
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{8,}"), "xox-<token>"),  # Slack tokens
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), "sk-<key>"),  # OpenAI-style API keys
    (re.compile(r"(?<=://)[^/\s:@]*:[^/\s@]+@"), "<credentials>@"),  # user:password@ in URLs
    (re.compile(r"(/media/exports/)[A-Za-z0-9_-]{8,}"), r"\1<token>"),  # data export links
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "<email>"),
    (re.compile(r"(?<![\w+])\+\d[\d ()-]{6,18}\d"), "<phone>"),  # +44 7700 900123, whatsapp:+4477…
    (re.compile(r"(?<![\w.@/>])@[A-Za-z][A-Za-z0-9_]{3,31}\b"), "@<handle>"),  # Telegram / Slack handles
    (re.compile(r"\b[UW](?=[A-Z0-9]*\d)[A-Z0-9]{8,11}\b"), "<slack-user>"),  # Slack user ids (with a digit)
)
SECRET_FIELDS = (
    "telegram_bot_token",
    "telegram_webhook_secret",
    "slack_bot_token",
    "slack_signing_secret",
    "twilio_auth_token",
    "openai_api_key",
)
MIN_SECRET_CHARS = 6  # shorter "secrets" would redact ordinary words


def secrets_of(settings: Settings) -> list[str]:
    """The secret values in `settings` that must never be printed, longest first."""
    found = []
    for name in SECRET_FIELDS:
        value = getattr(settings, name, None)
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")
        if len(text) >= MIN_SECRET_CHARS:
            found.append(text)
    return sorted(set(found), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with secrets and personal details replaced by placeholders."""
    for pattern, placeholder in PATTERNS:
        text = pattern.sub(placeholder, text)
    for secret in secrets:  # what the patterns do not know the shape of
        text = text.replace(secret, "<secret>")
    return text


class RedactedTraceback(Exception):
    """Stands in for a logged exception: its message is the original traceback, already redacted."""


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged in), exception and stack text; never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_roadie_redacted", False):  # several handlers share a record: once is enough
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw parts, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
            if record.exc_info:  # a formatter that formats exc_info itself gets the redacted text too
                record.exc_info = (RedactedTraceback, RedactedTraceback(record.exc_text), None)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        for name, value in list(vars(record).items()):  # structured extras a JSON formatter would print
            if name not in STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, redact(value, self.secrets))
        record._roadie_redacted = True
        return True


STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redaction_filter(settings: Settings) -> RedactingFilter:
    """A filter that knows this deployment's secrets."""
    return RedactingFilter(secrets_of(settings))


def install_redaction(settings: Settings, logger: logging.Logger | None = None) -> RedactingFilter:
    """Put one redaction filter on every handler of the root logger (and of uvicorn's, if it has its own).

    Safe to call again (after uvicorn or a formatter replaced handlers): handlers that have one keep it.
    """
    found = redaction_filter(settings)
    loggers: list[Any] = [logger or logging.getLogger()]
    loggers += [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    for each in loggers:
        for handler in each.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(found)
    return found
