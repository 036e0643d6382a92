"""Benchmark: Telegram webhook updates into the real app, 20 concurrent; ack latency, duplicates, lost turns.

Roadie runs in its own process on a fresh seeded database, its aiogram Bot pointed at the fake Bot API from
the tests. 1,000 updates (with the secret-token header Telegram sends) come from 200 private chats and about
10% are redeliveries of a recent update_id; every unique update must get exactly one answer.

Run: .venv/bin/python bench/webhook_telegram.py [--requests 1000 --users 200 --concurrency 20]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Platform, Request, main
from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123456789:AAE-roadie-bench-token_abcdefghijk"
SECRET = "bench-webhook-secret_1"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
FIRST_CHAT = 700_000_000


def update(n: int, sender: int, text: str) -> tuple[str, Request]:
    """Update number `n + 1`: a private message from chat FIRST_CHAT + `sender`."""
    chat = FIRST_CHAT + sender
    person = {"first_name": f"Traveller {sender}"}
    body: dict[str, Any] = {
        "update_id": n + 1,
        "message": {
            "message_id": n + 1,
            "date": 1_790_000_000 + n,
            "chat": {"id": chat, "type": "private", **person},
            "from": {"id": chat, "is_bot": False, **person},
            "text": text,
        },
    }
    headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
    return str(chat), Request("/telegram/webhook", headers, json.dumps(body).encode())


def telegram() -> Platform:
    fake = FakeTelegram(TOKEN)
    return Platform(
        name="telegram webhook",
        senders="chats",
        fake=fake.app,
        settings=lambda url: {
            "telegram_bot_token": TOKEN,
            "telegram_webhook_secret": SECRET,
            "telegram_api_base": url,
        },
        message=update,
        answers=lambda: [(str(c["chat_id"]), str(c["text"])) for c in fake.called("sendMessage")],
        forged=lambda r: Request(r.path, {**r.headers, SECRET_HEADER: "forged"}, r.body),
    )


if __name__ == "__main__":
    main(telegram())
