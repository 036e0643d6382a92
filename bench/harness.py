"""Shared harness for the webhook benchmarks: Roadie in a process of its own, load from another, acks timed.

Three processes, as in production: Roadie (main.create_app under uvicorn, nothing else in its interpreter),
the load (`--concurrency` workers, each on one keep-alive connection), and this one (the fake platform Roadie answers
through, and the bookkeeping). A request's latency is the time from sending it to receiving its ack.
Not timed: one GET /healthz per connection (opens it), and warm-up turns from other senders, answered
before the timed requests start (first-use costs: imports, caches, the platform's first API call).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from assistant.settings import Settings
from tests.servers import free_port, serve_in_thread

SPAWN = multiprocessing.get_context("spawn")
SORRY = "Sorry, something went wrong"
MESSAGES = (
    "any Coldplay shows in Europe?",
    "what about in May?",
    "find Metallica concerts",
    "what about Berlin?",
    "show me the Taylor Swift tour",
    "concerts in Lisbon next month",
    "hi",
    "what's the weather tomorrow?",
    "beyonce in paris??",
    "rock concerts in germany",
    "find Adele concerts",
    "thanks",
)


@dataclass(frozen=True)
class Request:
    """One prepared webhook request: path on the app, headers (signed) and the raw body."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class AckReport:
    """How the app acknowledged a batch of requests."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    def summary(self) -> str:
        codes = ", ".join(f"{code}×{n}" for code, n in sorted(self.statuses.items()))
        return f"p50 {self.p50:.1f} ms, p95 {self.p95:.1f} ms, max {max(self.latencies_ms):.1f} ms ({codes})"


@dataclass(frozen=True)
class Traffic:
    """What a benchmark sends: timed requests, warm-up requests, and the unique messages per address of each."""

    requests: list[Request]
    unique: Counter[str]
    warmup: list[Request]
    warm_unique: Counter[str]

    @property
    def redeliveries(self) -> int:
        return len(self.requests) - sum(self.unique.values())


@dataclass(frozen=True)
class Outcome:
    """Acks of the timed requests and of the same requests refused unsigned, and the answers the platform got."""

    acks: AckReport
    baseline: AckReport
    busy: AckReport
    """The refused requests again, right after the timed ones, while the turns they started still run."""
    busy_backlog: int
    """Answers still to come when `busy` ended."""
    answers: list[tuple[str, str]]
    settled_s: float
    failed_turns: int


def bench_settings(data_dir: Path, **channel: Any) -> Settings:
    """Offline Roadie (no LLM) on a fresh SQLite database under `data_dir`, with one channel's settings."""
    return Settings(
        data_dir=data_dir,
        database_url="",
        memory_url="",
        llm_base_url="",
        openai_api_key=SecretStr(""),
        **channel,
    )


def _serve_roadie(settings: Settings, port: int) -> None:
    """Child process: Roadie seeded at the eval clock, served by uvicorn until SIGTERM."""
    import uvicorn

    from assistant.clock import FixedClock
    from evals.runner import EVAL_NOW
    from knowledge.embeddings import Embedder
    from main import create_app

    logging.basicConfig(level=logging.WARNING)
    # uvicorn stops gracefully on SIGTERM, then raises it again: exit cleanly then, so the process's finalizers run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = create_app(settings, FixedClock(EVAL_NOW), Embedder())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


@contextmanager
def roadie_in_process(settings: Settings, startup_timeout_s: float = 180.0) -> Iterator[str]:
    """Serve Roadie from a process of its own until the block ends (graceful stop: turns drain); yields its URL."""
    port = free_port()
    process = SPAWN.Process(target=_serve_roadie, args=(settings, port), name="roadie")
    process.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_timeout_s
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if not process.is_alive() or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("Roadie did not start")
        time.sleep(0.2)
    try:
        yield url
    finally:
        process.terminate()
        process.join(60)
        if process.is_alive():
            process.kill()
            process.join()


async def fire(base_url: str, requests: Sequence[Request], concurrency: int = 20) -> AckReport:
    """Send every request with `concurrency` workers, each on one keep-alive connection opened before timing."""
    report = AckReport()
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:
            (await client.get("/healthz")).raise_for_status()  # opens the connection; not timed
            while not queue.empty():
                request = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(request.path, content=request.body, headers=request.headers)
                report.latencies_ms.append((time.perf_counter() - started) * 1000)
                report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return report


def _fire(base_url: str, requests: list[Request], concurrency: int) -> AckReport:
    return asyncio.run(fire(base_url, requests, concurrency))


def wait_until(condition: Callable[[], bool], timeout_s: float = 600.0) -> bool:
    """Poll `condition` until it is true or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def failed_turns(base_url: str) -> int:
    """Roadie's count of turns that ended in an error answer (from /metrics)."""
    metrics = httpx.get(f"{base_url}/metrics").text
    failed = [x for x in metrics.splitlines() if x.startswith("roadie_turns_total{") and 'outcome="failed"' in x]
    return sum(int(float(x.split()[-1])) for x in failed)


def measure(
    base_url: str,
    traffic: Traffic,
    forged: list[Request],
    answers: Callable[[], list[tuple[str, str]]],
    concurrency: int,
) -> Outcome:
    """Warm up, time the refused `forged` requests (the baseline), then the real ones, then the refused ones again
    while the turns run (does turn work slow the acks?); wait for every answer.

    `answers` reads the fake platform: (address, text) of every message Roadie sent, warm-up ones included.
    """

    def count(addresses: Counter[str]) -> int:
        return sum(1 for address, _ in answers() if address in addresses)

    with ProcessPoolExecutor(1, mp_context=SPAWN) as load:
        load.submit(int).result()  # the load process is up and has imported the benchmark
        load.submit(_fire, base_url, traffic.warmup, concurrency).result()
        if not wait_until(lambda: count(traffic.warm_unique) >= sum(traffic.warm_unique.values()), 120):
            raise RuntimeError("the warm-up turns were not answered")
        baseline = load.submit(_fire, base_url, forged, concurrency).result()
        started = time.monotonic()
        acks = load.submit(_fire, base_url, traffic.requests, concurrency).result()
        busy = load.submit(_fire, base_url, forged, concurrency).result()
        backlog = sum(traffic.unique.values()) - count(traffic.unique)
    wait_until(lambda: count(traffic.unique) >= sum(traffic.unique.values()))
    settled = time.monotonic() - started
    time.sleep(3.0)  # late duplicates would arrive now
    timed = [(address, text) for address, text in answers() if address not in traffic.warm_unique]
    return Outcome(acks, baseline, busy, backlog, timed, settled, failed_turns(base_url))


def report(name: str, senders: str, traffic: Traffic, outcome: Outcome, concurrency: int) -> str:
    """The benchmark's result: ack latency, the baseline, and duplicates / lost answers per address."""
    got = Counter(address for address, _ in outcome.answers)
    duplicates = sum(max(n - traffic.unique[address], 0) for address, n in got.items())
    lost = sum(max(n - got[address], 0) for address, n in traffic.unique.items())
    sorry = sum(text.startswith(SORRY) for _, text in outcome.answers)
    unique = sum(traffic.unique.values())
    return "\n".join(
        (
            f"{name}: {len(traffic.requests):,} signed requests from {senders}, {concurrency} concurrent, "
            f"{traffic.redeliveries} redeliveries; Roadie in its own process, load from another",
            f"  ack (send → response): {outcome.acks.summary()}",
            f"  baseline, the same requests refused unsigned (no turn), Roadie idle: {outcome.baseline.summary()}",
            f"  the same refused requests right after, with {outcome.busy_backlog} turns still to answer: "
            f"{outcome.busy.summary()}",
            f"  answers: {unique} unique messages, {len(outcome.answers)} answers sent: {duplicates} duplicates, "
            f"{lost} lost, {outcome.failed_turns} failed turns, {sorry} apologies; "
            f"all answered {outcome.settled_s:.1f} s after the first timed request",
            f"  not timed: {len(traffic.warmup)} warm-up requests ({sum(traffic.warm_unique.values())} turns, "
            f"answered before timing) and one GET /healthz per connection",
        )
    )


@dataclass(frozen=True)
class Platform:
    """How one channel's benchmark talks to Roadie: its fake platform, settings, and how requests are made."""

    name: str
    senders: str
    fake: Any
    settings: Callable[[str], dict[str, Any]]
    """Roadie's settings for this channel, given the fake platform's base URL."""
    message: Callable[[int, int, str], tuple[str, Request]]
    """The `n`th message, from sender number `sender`, saying `text`: its reply address and its signed request."""
    answers: Callable[[], list[tuple[str, str]]]
    """(address, text) of every message Roadie sent through the fake platform."""
    forged: Callable[[Request], Request]
    """The same request with a signature the channel must refuse."""
    redelivered: Callable[[Request], Request] = lambda request: request
    """The platform delivering the same request again (same id)."""


def traffic(
    platform: Platform, count: int, senders: int, redelivered: float = 0.1, warmup: int = 20, seed: int = 7
) -> Traffic:
    """`count` requests from `senders` senders, a share of them redeliveries of a recent one, and `warmup` more."""
    rng = random.Random(seed)
    requests: list[Request] = []
    unique: Counter[str] = Counter()
    for n in range(count):
        if requests and rng.random() < redelivered:
            requests.append(platform.redelivered(rng.choice(requests[-50:])))  # platforms retry soon
            continue
        address, request = platform.message(n, rng.randrange(senders), rng.choice(MESSAGES))
        requests.append(request)
        unique[address] += 1
    warm: list[Request] = []
    warm_unique: Counter[str] = Counter()
    for n in range(count, count + warmup):
        address, request = platform.message(n, senders + n - count, MESSAGES[n % len(MESSAGES)])
        warm.append(request)
        warm_unique[address] += 1
    return Traffic(requests, unique, warm, warm_unique)


def main(platform: Platform) -> None:
    """Command line of a webhook benchmark: run it once and print the result."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with (
        tempfile.TemporaryDirectory(prefix="roadie-bench-") as tmp,
        serve_in_thread(platform.fake) as fake_url,
        roadie_in_process(bench_settings(Path(tmp), **platform.settings(fake_url))) as url,
    ):
        sent = traffic(platform, args.requests, args.users)  # signed now: Slack refuses stale timestamps
        forged = [platform.forged(r) for r in sent.requests]
        outcome = measure(url, sent, forged, platform.answers, args.concurrency)
    print(report(platform.name, f"{args.users} {platform.senders}", sent, outcome, args.concurrency))
