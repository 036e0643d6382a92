"""Benchmark: web-chat turns per second and p95 with 1 and 2 workers on PostgreSQL + Redis, and SQLite alone.

Each configuration is a stack from assistant/stack.py (the code `make stack` runs) without the scheduler or
chromadb, so only the web workers differ: `serve` on SQLite in one process; `serve` on PostgreSQL + Redis in one
process; `serve --workers 2` on one port. All three run side by side and are loaded in turn, round after round
(who goes first rotates), so a busy moment on a shared host hits every configuration alike. The load comes from
another process on loopback: `--sessions` browser sessions at once, each on its own WebSocket, each sending
`--turns` messages one after another (a turn is timed from sending the message to receiving the reply). Two
warm-up turns per session on each configuration come first, untimed. Each round is bounded by `--timeout-s`.

    .venv/bin/python bench/scaling.py [--sessions 8 --turns 15 --rounds 3]
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
from bench.harness import MESSAGES
from tests.servers import free_port

SPAWN = multiprocessing.get_context("spawn")
POSTGRES = os.environ.get("ROADIE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("ROADIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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


def summarise(name: str, runs: list[tuple[list[float], list[str], float]]) -> Result:
    """One configuration over its rounds: turns/s is the median round's; p50/p95 over every timed turn."""
    rates = sorted((len(lat) / secs if secs else 0.0, secs, len(lat)) for lat, _, secs in runs)
    _, seconds, turns = rates[len(rates) // 2]
    ordered = sorted(x for lat, _, _ in runs for x in lat)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else 0.0
    failed = sum(len(f) for _, f, _ in runs)
    return Result(name, turns, failed, seconds, statistics.median(ordered) * 1000 if ordered else 0.0, p95 * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8, help="concurrent web-chat sessions")
    parser.add_argument("--turns", type=int, default=15, help="messages per session in each round (timed)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each round loads every configuration once")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="bound for one round of one configuration")
    parser.add_argument("--only", choices=("sqlite", "pg1", "pg2"), action="append")
    args = parser.parse_args()
    only = list(dict.fromkeys(args.only or ("sqlite", "pg1", "pg2")))
    load_before = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    if {"pg1", "pg2"} & set(only):
        try:
            check_postgres(POSTGRES)
            check_redis(REDIS)
        except StackError as error:
            print(f"PostgreSQL/Redis runs skipped: {error}")
            only = [o for o in only if o == "sqlite"]
    names = {
        "sqlite": "SQLite, 1 process",
        "pg1": "PostgreSQL + Redis, 1 worker",
        "pg2": "PostgreSQL + Redis, 2 workers",
    }
    stacks: dict[str, Stack] = {}
    databases: list[str] = []
    runs: dict[str, list[tuple[list[float], list[str], float]]] = {key: [] for key in only}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="roadie-scaling-") as tmp:
        root = Path(tmp)
        try:
            for key in only:  # all configurations run side by side, so every round sees the same host
                if key == "sqlite":
                    database, redis_url, prefix = f"sqlite:///{root / key / 'data' / 'roadie.sqlite'}", "", "roadie:"
                else:
                    prefix = f"roadie_bench_{uuid.uuid4().hex[:8]}"
                    database, redis_url = POSTGRES.rsplit("/", 1)[0] + f"/{prefix}", REDIS
                    ensure_database(database)
                    databases.append(database)
                    prefix += ":"
                stacks[key] = Stack(
                    run_dir=root / key,
                    database_url=database,
                    redis_url=redis_url,
                    redis_prefix=prefix,
                    chroma_port=None,
                    workers=[Worker(key, free_port(), processes=2 if key == "pg2" else 1)],
                    scheduler=False,
                )
                stacks[key].start()
            urls = {k: st.urls()[k].replace("http://", "ws://") + "/ws/chat" for k, st in stacks.items()}
            with SPAWN.Pool(1) as pool:
                for key in only:  # warm-up, untimed: imports, caches, first queries on every worker
                    pool.apply_async(load, (urls[key], args.sessions, 2)).get(timeout=args.timeout_s)
                for n in range(args.rounds):
                    order = only[n % len(only) :] + only[: n % len(only)]  # who goes first rotates
                    for key in order:
                        loads.append(os.getloadavg()[0])
                        runs[key].append(
                            pool.apply_async(load, (urls[key], args.sessions, args.turns)).get(timeout=args.timeout_s)
                        )
        finally:
            for st in stacks.values():
                st.stop()
            for database in databases:
                drop_database(database)
                forget_keys(database.rsplit("/", 1)[1] + ":")
    results = [summarise(names[key], runs[key]) for key in only if runs[key]]
    load_after = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    print(
        f"{args.rounds} rounds x {args.sessions} sessions x {args.turns} turns, configurations alternating; "
        f"load from another process on loopback; {os.cpu_count()} cores"
    )
    print(
        f"{'configuration':34} {'turns/s (median round)':>22} {'rounds':>24} {'failed':>6} {'p50 ms':>8} {'p95 ms':>8}"
    )
    for key, r in zip([k for k in only if runs[k]], results, strict=True):
        each = ", ".join(f"{len(lat) / secs:.1f}" for lat, _, secs in runs[key])
        print(f"{r.name:34} {r.per_second:22.1f} {each:>24} {r.failed:6d} {r.p50_ms:8.1f} {r.p95_ms:8.1f}")
    by = {r.name: r for r in results}
    one, two = by.get(names["pg1"]), by.get(names["pg2"])
    if one and two and one.per_second:
        ratios = [
            (len(b[0]) / b[2]) / (len(a[0]) / a[2])
            for a, b in zip(runs["pg1"], runs["pg2"], strict=True)
            if a[2] and b[2]
        ]
        print(
            f"scaling 1 → 2 workers: {two.per_second / one.per_second:.2f}x turns/s "
            f"(round by round: {', '.join(f'{x:.2f}x' for x in ratios)})"
        )
    print(f"1-minute load when each round started: {min(loads):.1f}–{max(loads):.1f}")
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
