"""Benchmark: Telegram webhook updates into the real app, 20 concurrent; ack latency, duplicates, lost turns.

Roadie runs with main.create_app on a fresh seeded database, its aiogram Bot pointed at the fake Bot API from
the tests. 1,000 updates (with the secret-token header Telegram sends) come from 200 private chats and about
10% are redeliveries of an earlier update_id; every unique update must get exactly one answer.

Run: .venv/bin/python bench/webhook_telegram.py [--requests 1000 --users 200 --concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from assistant.clock import FixedClock
from assistant.settings import Settings
from bench.harness import AckReport, Request, fire, wait_for
from evals.runner import EVAL_NOW
from knowledge.embeddings import Embedder
from main import create_app
from tests.fakes.telegram_api import FakeTelegram
from tests.servers import serve_in_thread

TOKEN = "123456789:AAE-roadie-bench-token_abcdefghijk"
SECRET = "bench-webhook-secret_1"
FIRST_USER = 700_000_000
MESSAGES = (
    "any Coldplay shows in Europe?",
    "find Metallica concerts",
    "show me the Taylor Swift tour",
    "concerts in Lisbon next month",
    "hi",
    "what's the weather tomorrow?",
    "beyonce in paris??",
    "rock concerts in germany",
    "find Adele concerts",
    "thanks",
)


def signed_requests(count: int, users: int, redelivered: float, seed: int = 7) -> tuple[list[Request], Counter[int]]:
    """`count` webhook requests carrying Telegram's secret header, and how many unique updates each chat sent."""
    rng = random.Random(seed)
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    requests: list[Request] = []
    unique: Counter[int] = Counter()
    for update_id in range(1, count + 1):
        if requests and rng.random() < redelivered:
            requests.append(rng.choice(requests))  # Telegram posting the same update_id again
            continue
        user = FIRST_USER + rng.randrange(users)
        update = {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_790_000_000 + update_id,
                "chat": {"id": user, "type": "private", "first_name": f"Traveller {user % 1000}"},
                "from": {"id": user, "is_bot": False, "first_name": f"Traveller {user % 1000}"},
                "text": rng.choice(MESSAGES),
            },
        }
        requests.append(Request("/telegram/webhook", headers, json.dumps(update).encode()))
        unique[user] += 1
    return requests, unique


def _fire(base_url: str, requests: list[Request], concurrency: int) -> AckReport:
    return asyncio.run(fire(base_url, requests, concurrency))


def turn_failures(base_url: str) -> int:
    metrics = httpx.get(f"{base_url}/metrics").text
    line = next(x for x in metrics.splitlines() if x.startswith("roadie_turn_failures_total "))
    return int(line.split()[1])


def run(count: int, users: int, concurrency: int) -> None:
    requests, unique = signed_requests(count, users, redelivered=0.1)
    fake = FakeTelegram(TOKEN)
    with tempfile.TemporaryDirectory(prefix="roadie-bench-") as tmp, serve_in_thread(fake.app) as telegram_url:
        settings = Settings(
            data_dir=Path(tmp),
            database_url="",
            memory_url="",
            llm_base_url="",
            openai_api_key="",
            telegram_bot_token=TOKEN,
            telegram_webhook_secret=SECRET,
            telegram_api_base=telegram_url,
        )
        app = create_app(settings, FixedClock(EVAL_NOW), Embedder())
        # The load comes from a process of its own: like Telegram, it does not share Roadie's interpreter lock.
        load = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        with load, serve_in_thread(app) as base_url:
            load.submit(int).result()  # the load process is up and has imported this module
            # The same host and server with no turns running: forged updates are refused at once (401).
            forged = [
                Request(r.path, {**r.headers, "X-Telegram-Bot-Api-Secret-Token": "forged"}, r.body) for r in requests
            ]
            baseline = load.submit(_fire, base_url, forged, concurrency).result()
            started = time.monotonic()
            acks = load.submit(_fire, base_url, requests, concurrency).result()
            expected = sum(unique.values())
            asyncio.run(wait_for(lambda: len(fake.called("sendMessage")) >= expected, timeout_s=600))
            settled = time.monotonic() - started
            asyncio.run(asyncio.sleep(3))  # late duplicates would arrive now
            failures = turn_failures(base_url)
    answers = fake.called("sendMessage")
    got = Counter(int(m["chat_id"]) for m in answers)
    sorry = sum(str(m["text"]).startswith("Sorry, something went wrong") for m in answers)
    duplicates = sum(max(got[chat] - unique[chat], 0) for chat in got)
    lost = sum(max(unique[chat] - got[chat], 0) for chat in unique)
    print(
        f"telegram webhook: {len(requests):,} updates from {users} chats, {concurrency} concurrent "
        f"({len(requests) - expected} redeliveries): ack p50 {acks.p50:.1f} ms, p95 {acks.p95:.1f} ms "
        f"({', '.join(f'{code}×{n}' for code, n in sorted(acks.statuses.items()))}); "
        f"{expected} unique requests, {len(answers)} answers sent: {duplicates} duplicates, {lost} lost, "
        f"{failures} failed turns, {sorry} sorry-answers; all answered {settled:.1f} s after the first request; "
        f"baseline without turns (forged updates, 401): ack p50 {baseline.p50:.1f} ms, p95 {baseline.p95:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run(args.requests, args.users, args.concurrency)
