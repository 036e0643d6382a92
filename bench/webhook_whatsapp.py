"""Benchmark: Twilio-signed WhatsApp webhooks into the real app, 20 concurrent; ack latency, duplicates, lost turns.

Roadie runs with main.create_app on a fresh seeded database, its twilio Client pointed at the fake Twilio REST API
from the tests. 1,000 requests come from 200 numbers and about 10% are redeliveries of an earlier MessageSid; every
unique message must get exactly one answer.

Run: .venv/bin/python bench/webhook_whatsapp.py [--requests 1000 --users 200 --concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from twilio.request_validator import RequestValidator

from assistant.clock import FixedClock
from assistant.settings import Settings
from bench.harness import AckReport, Request, fire, wait_for
from evals.runner import EVAL_NOW
from knowledge.embeddings import Embedder
from main import create_app
from tests.fakes.twilio_api import FakeTwilio
from tests.servers import serve_in_thread

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token"
SENDER = "whatsapp:+14155238886"
PUBLIC = "https://roadie.example.com"
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


def signed_requests(count: int, users: int, redelivered: float, seed: int = 7) -> tuple[list[Request], Counter[str]]:
    """`count` webhook requests signed like Twilio's, and how many unique messages each number sent."""
    rng = random.Random(seed)
    validator = RequestValidator(AUTH_TOKEN)
    numbers = [f"+4477009{n:05d}" for n in range(users)]
    requests: list[Request] = []
    unique: Counter[str] = Counter()
    for i in range(count):
        if requests and rng.random() < redelivered:
            requests.append(rng.choice(requests))  # Twilio posting the same MessageSid again
            continue
        number, sid = rng.choice(numbers), f"SM{i:032x}"
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{number}",
            "To": SENDER,
            "Body": rng.choice(MESSAGES),
            "NumMedia": "0",
            "ProfileName": f"Traveller {number[-5:]}",
            "WaId": number[1:],
            "ApiVersion": "2010-04-01",
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(f"{PUBLIC}/whatsapp/webhook", params),
        }
        requests.append(Request("/whatsapp/webhook", headers, urlencode(params).encode()))
        unique[number] += 1
    return requests, unique


def _fire(base_url: str, requests: list[Request], concurrency: int) -> AckReport:
    return asyncio.run(fire(base_url, requests, concurrency))


def turn_failures(base_url: str) -> int:
    metrics = httpx.get(f"{base_url}/metrics").text
    line = next(x for x in metrics.splitlines() if x.startswith("roadie_turn_failures_total "))
    return int(line.split()[1])


def run(count: int, users: int, concurrency: int) -> None:
    requests, unique = signed_requests(count, users, redelivered=0.1)
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    with tempfile.TemporaryDirectory(prefix="roadie-bench-") as tmp, serve_in_thread(fake.app) as twilio_url:
        settings = Settings(  # type: ignore[arg-type]
            data_dir=Path(tmp),
            database_url="",
            memory_url="",
            llm_base_url="",
            openai_api_key="",
            public_base_url=PUBLIC,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_whatsapp_from=SENDER,
            twilio_api_base=twilio_url,
        )
        app = create_app(settings, FixedClock(EVAL_NOW), Embedder())
        # The load comes from a process of its own: like Twilio, it does not share Roadie's interpreter lock.
        load = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        with load, serve_in_thread(app) as base_url:
            load.submit(int).result()  # the load process is up and has imported this module
            started = time.monotonic()
            acks = load.submit(_fire, base_url, requests, concurrency).result()
            expected = sum(unique.values())
            asyncio.run(wait_for(lambda: len(fake.messages) >= expected, timeout_s=600))
            settled = time.monotonic() - started
            asyncio.run(asyncio.sleep(3))  # late duplicates would arrive now
            failures = turn_failures(base_url)
    got = Counter(m.to.removeprefix("whatsapp:") for m in fake.messages)
    sorry = sum(m.body.startswith("Sorry, something went wrong") for m in fake.messages)
    duplicates = sum(max(got[n] - unique[n], 0) for n in got)
    lost = sum(max(unique[n] - got[n], 0) for n in unique)
    print(
        f"whatsapp webhook: {len(requests):,} signed requests from {users} numbers, {concurrency} concurrent "
        f"({len(requests) - expected} redeliveries): ack p50 {acks.p50:.1f} ms, p95 {acks.p95:.1f} ms "
        f"({', '.join(f'{code}×{n}' for code, n in sorted(acks.statuses.items()))}); "
        f"{expected} unique requests, {sum(got.values())} answers sent: {duplicates} duplicates, {lost} lost, "
        f"{failures} failed turns, {sorry} sorry-answers; all answered {settled:.1f} s after the first request"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run(args.requests, args.users, args.concurrency)
