"""Benchmark: 1,000 signed Slack event deliveries to /slack/events, 20 at a time, against the real app.

About 10% are Slack's redeliveries (same event_id, X-Slack-Retry-Num) of an earlier event. Reports
how fast Roadie acknowledged, and whether every unique event got exactly one answer at the fake Slack.

Run: .venv/bin/python bench/webhook_slack.py [--requests 1000] [--users 200] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from pydantic import SecretStr

from assistant.clock import FixedClock
from assistant.settings import Settings
from bench.harness import Request, fire, wait_for
from evals.runner import EVAL_NOW
from knowledge.embeddings import Embedder
from main import create_app
from tests.fakes.slack_api import SIGNING_SECRET, TEAM, TOKEN, Delivery, FakeSlackApi, dm, section_text
from tests.servers import serve_in_thread

MESSAGES = (
    "any Coldplay shows in Europe?",
    "what about in May?",
    "find Metallica concerts",
    "what about Berlin?",
    "show me the Taylor Swift tour",
    "concerts in Lisbon next month",
    "hi",
    "beyonce in paris??",
    "rock concerts in germany",
    "thanks",
)


def deliveries(total: int, users: int, redelivered: float, seed: int = 7) -> tuple[list[Request], int]:
    """`total` signed requests from `users` people, a share of them redeliveries; and how many are unique."""
    rng = random.Random(seed)
    sent: list[Delivery] = []
    requests: list[Request] = []
    for n in range(total):
        if sent and rng.random() < redelivered:
            again = rng.choice(sent[-50:])  # Slack retries soon after the first attempt
            headers = again.headers(retry=rng.choice((1, 2)))
            requests.append(Request("/slack/events", headers, again.body))
            continue
        user = f"UB{n % users:04d}"
        delivery = dm(user, MESSAGES[(n // users) % len(MESSAGES)])
        sent.append(delivery)
        requests.append(Request("/slack/events", delivery.headers(), delivery.body))
    return requests, len(sent)


async def run(total: int, users: int, concurrency: int) -> None:
    slack = FakeSlackApi()
    with tempfile.TemporaryDirectory(prefix="roadie-bench-slack-") as tmp, serve_in_thread(slack.app) as slack_url:
        settings = Settings(
            data_dir=Path(tmp),
            database_url="",
            memory_url="",
            llm_base_url="",
            openai_api_key=SecretStr(""),
            slack_bot_token=SecretStr(TOKEN),
            slack_signing_secret=SecretStr(SIGNING_SECRET),
            slack_api_base=f"{slack_url}/api/",
            slack_team_id=TEAM,
        )
        app = create_app(settings, FixedClock(EVAL_NOW), Embedder())
        with serve_in_thread(app) as roadie_url:
            async with httpx.AsyncClient(base_url=roadie_url) as client:
                for n, warm in enumerate(MESSAGES[:3], start=1):  # first-use costs (auth.test, SQL, imports)
                    delivery = dm("UWARMUP", warm)
                    await client.post("/slack/events", content=delivery.body, headers=delivery.headers())
                    await wait_for(lambda n=n: len(slack.to("chat.postMessage", "DUWARMUP")) >= n, timeout_s=60)

            def answers() -> int:
                return sum(1 for a in slack.to("chat.postMessage") if str(a.get("channel", "")).startswith("DUB"))

            requests, unique = deliveries(total, users, redelivered=0.10)
            started = time.monotonic()
            report = await fire(roadie_url, requests, concurrency)
            await wait_for(lambda: answers() >= unique, timeout_s=600)
            settled = time.monotonic() - started
            await asyncio.sleep(3.0)  # anything still arriving now would be a duplicate
            async with httpx.AsyncClient(base_url=roadie_url) as client:
                metrics = (await client.get("/metrics")).text
    failures = re.search(r"roadie_turn_failures_total (\d+)", metrics)
    sent = answers()
    sorry = sum(
        1
        for a in slack.to("chat.postMessage")
        if str(a.get("channel", "")).startswith("DUB") and "went wrong" in section_text(a)
    )
    print(
        f"slack webhook: {report.summary()}, concurrency {concurrency}, {users} users; "
        f"{unique} unique events, {total - unique} redeliveries; {sent} answers sent "
        f"({max(0, sent - unique)} duplicates, {max(0, unique - sent)} lost); "
        f"{failures.group(1) if failures else '?'} failed turns, {sorry} answers were apologies; "
        f"all answered {settled:.1f} s after the first request"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.users, args.concurrency))
