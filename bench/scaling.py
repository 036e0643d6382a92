"""Benchmark: web-chat turns per second and p95 with 1 and 2 workers on PostgreSQL + Redis, and SQLite alone.

Each configuration is a stack from assistant/stack.py (the code `make stack` runs) without the scheduler or
chromadb, so only the web workers differ: `serve` on SQLite in one process; `serve` on PostgreSQL + Redis in one
process; `serve --workers 2` on the same port. The load comes from another process on loopback:
`--sessions` browser sessions at once, each on its own WebSocket, each sending `--turns` messages one after
another (a turn is timed from sending the message to receiving the reply). Warm-up turns from other sessions
run first, untimed. Every run is bounded: `--timeout-s` per configuration.

    .venv/bin/python bench/scaling.py [--sessions 8 --turns 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.stack import Stack, StackError, Worker, check_postgres, check_redis, ensure_database
from tests.servers import free_port

SPAWN = multiprocessing.get_context("spawn")
POSTGRES = os.environ.get("ROADIE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("ROADIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MESSAGES = (
    "any Coldplay shows in Europe?",
    "what about in May?",
    "find Metallica concerts",
    "what about Berlin?",
    "show me the Taylor Swift tour",
    "concerts in Lisbon next month",
    "hi",
    "what's the weather tomorrow?",
    "rock concerts in germany",
    "thanks",
)


@dataclass(frozen=True)
class Result:
    name: str
    turns: int
    failed: int
    seconds: float
    p50_ms: float
    p95_ms: float

    @property
    def per_second(self) -> float:
        return self.turns / self.seconds if self.seconds else 0.0


async def _session(url: str, turns: int, latencies: list[float], failures: list[str]) -> None:
    from websockets.asyncio.client import connect

    session = f"bench-{uuid.uuid4().hex[:12]}"
    async with connect(url, open_timeout=60, close_timeout=5, max_size=2**22) as socket:
        for n in range(turns):
            started = time.perf_counter()
            frame = {"type": "message", "text": MESSAGES[n % len(MESSAGES)], "session": session, "id": f"m{n}"}
            await socket.send(json.dumps(frame))
            while True:
                answer = json.loads(await asyncio.wait_for(socket.recv(), timeout=120))
                if answer["type"] != "typing":
                    break
            latencies.append(time.perf_counter() - started)
            if answer["type"] != "reply" or "Sorry, something went wrong" in answer.get("text", ""):
                failures.append(str(answer)[:200])


async def _load(url: str, sessions: int, turns: int) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    failures: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(_session(url, turns, latencies, failures) for _ in range(sessions)))
    return latencies, failures, time.perf_counter() - started


def load(url: str, sessions: int, turns: int) -> tuple[list[float], list[str], float]:
    """Runs in the load process: `sessions` WebSockets at once, `turns` messages each; latencies in seconds."""
    return asyncio.run(_load(url, sessions, turns))


def measure(name: str, stack: Stack, sessions: int, turns: int, timeout_s: float) -> Result:
    started = time.monotonic()
    stack.start()
    try:
        url = stack.urls()[stack.workers[0].name].replace("http://", "ws://") + "/ws/chat"
        with SPAWN.Pool(1) as pool:
            pool.apply_async(load, (url, sessions, 2)).get(timeout=timeout_s)  # warm-up, untimed
            left = max(60.0, timeout_s - (time.monotonic() - started))
            latencies, failures, seconds = pool.apply_async(load, (url, sessions, turns)).get(timeout=left)
    finally:
        stack.stop()
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else 0.0
    return Result(name, len(latencies), len(failures), seconds, statistics.median(ordered) * 1000, p95 * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8, help="concurrent web-chat sessions")
    parser.add_argument("--turns", type=int, default=15, help="messages per session (timed)")
    parser.add_argument("--timeout-s", type=float, default=900.0, help="bound for each configuration")
    parser.add_argument("--only", choices=("sqlite", "pg1", "pg2"), action="append")
    args = parser.parse_args()
    only = set(args.only or ("sqlite", "pg1", "pg2"))
    load_before = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="roadie-scaling-") as tmp:
        root = Path(tmp)
        if "sqlite" in only:
            sqlite = Stack(
                run_dir=root / "sqlite",
                database_url=f"sqlite:///{root / 'sqlite' / 'data' / 'roadie.sqlite'}",
                redis_url="",
                chroma_port=None,
                workers=[Worker("sqlite", free_port())],
                scheduler=False,
            )
            results.append(measure("SQLite, 1 process", sqlite, args.sessions, args.turns, args.timeout_s))
        if only & {"pg1", "pg2"}:
            try:
                check_postgres(POSTGRES)
                check_redis(REDIS)
            except StackError as error:
                print(f"PostgreSQL/Redis runs skipped: {error}")
                only -= {"pg1", "pg2"}
        for key, processes in (("pg1", 1), ("pg2", 2)):
            if key not in only:
                continue
            name = f"roadie_bench_{uuid.uuid4().hex[:8]}"
            url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
            ensure_database(url)
            try:
                stack = Stack(
                    run_dir=root / key,
                    database_url=url,
                    redis_url=REDIS,
                    redis_prefix=f"{name}:",
                    chroma_port=None,
                    workers=[Worker(key, free_port(), processes=processes)],
                    scheduler=False,
                )
                label = f"PostgreSQL + Redis, {processes} worker{'s' if processes > 1 else ''}"
                results.append(measure(label, stack, args.sessions, args.turns, args.timeout_s))
            finally:
                drop_database(url)
                forget_keys(f"{name}:")
    load_after = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"{args.sessions} sessions x {args.turns} turns each, load from another process on loopback")
    print(f"{'configuration':34} {'turns':>6} {'failed':>6} {'turns/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for r in results:
        print(f"{r.name:34} {r.turns:6d} {r.failed:6d} {r.per_second:8.1f} {r.p50_ms:8.1f} {r.p95_ms:8.1f}")
    by = {r.name: r for r in results}
    one, two = by.get("PostgreSQL + Redis, 1 worker"), by.get("PostgreSQL + Redis, 2 workers")
    if one and two and one.per_second:
        print(f"scaling 1 → 2 workers: {two.per_second / one.per_second:.2f}x turns/s")
    print(f"host load before: {load_before}\nhost load after:  {load_after}")


def forget_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


if __name__ == "__main__":
    main()
