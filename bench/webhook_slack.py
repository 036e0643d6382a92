"""Benchmark: signed Slack event deliveries to /slack/events, 20 at a time; ack latency, duplicates, lost turns.

Roadie runs in its own process on a fresh seeded database, its Slack client pointed at the fake Web API from
the tests. 1,000 direct messages from 200 users, about 10% of them Slack's redeliveries (same event_id,
X-Slack-Retry-Num) of a recent event; every unique event must get exactly one answer.

Run: .venv/bin/python bench/webhook_slack.py [--requests 1000 --users 200 --concurrency 20]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Platform, Request, main
from tests.fakes.slack_api import SIGNING_SECRET, TEAM, TOKEN, FakeSlackApi, dm, section_text

RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


def direct_message(n: int, sender: int, text: str) -> tuple[str, Request]:
    """A direct message from user UB<sender>, signed now; Roadie answers in channel D<user>."""
    user = f"UB{sender:04d}"
    delivery = dm(user, text)
    return f"D{user}", Request("/slack/events", delivery.headers(), delivery.body)


def slack() -> Platform:
    fake = FakeSlackApi()
    return Platform(
        name="slack /slack/events",
        senders="users",
        fake=fake.app,
        settings=lambda url: {
            "slack_bot_token": TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_base": f"{url}/api/",
            "slack_team_id": TEAM,
        },
        message=direct_message,
        answers=lambda: [(str(a.get("channel", "")), section_text(a)) for a in fake.to("chat.postMessage")],
        forged=lambda r: Request(r.path, {**r.headers, "X-Slack-Signature": "v0=" + "0" * 64}, r.body),
        redelivered=lambda r: Request(r.path, r.headers | RETRY, r.body),
    )


if __name__ == "__main__":
    main(slack())
