"""Benchmark: 200 web-chat users for 2 minutes on two workers over PostgreSQL and Redis, with a worker killed
mid-run and the database unreachable for a few seconds.

The stack comes from assistant/stack.py (the code `make stack` runs): workers `a` and `b` on their own
ports, PostgreSQL reached through a TCP relay on loopback that this benchmark can cut, Redis shared. The
users run in another process: each keeps a WebSocket to its worker, sends a message, waits for the
answer to that message (`reply_to`), thinks for a few seconds, and so on. When its socket drops, a user
does what the web page does: reconnects — to the other worker, as a load balancer would — and sends its
unanswered message again with the same id.

Faults, on a timeline from the start of the timed run: worker `a` is killed with SIGKILL at `--kill-at`
and started again `--restart-after` seconds later; the relay to PostgreSQL is cut at `--outage-at` for
`--outage-s` seconds (live connections reset, new ones refused).

Reported: turns answered, turns/s, p50/p95 from first send to answer, error frames and generic
"something went wrong" answers, "try again" answers during the outage, messages never answered (lost),
messages answered twice with different answers (duplicated), and the database's own count of turns run
against the answers users got (a turn run twice shows up there).

    .venv/bin/python bench/load_faults.py [--users 200 --seconds 120 --think-s 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.engine import make_url

from assistant.outage import UNREACHABLE_ANSWER
from assistant.stack import Stack, StackError, Worker, check_postgres, check_redis, ensure_database
from bench.harness import MESSAGES
from bench.scaling import drop_database, forget_keys
from tests.servers import Relay, free_port

SPAWN = multiprocessing.get_context("spawn")
POSTGRES = os.environ.get("ROADIE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("ROADIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ANSWER_WAIT_S = 150.0  # longer than the longest turn (90 s) plus a dead worker's lock (15 s)
ATTEMPTS = 6  # sends of one message (first send plus resends after reconnecting) before it counts as lost
GRACE_S = 180.0  # after the run, unanswered messages have this long to be answered


@dataclass
class Tally:
    """What the users saw."""

    sent: int = 0
    answered: int = 0
    lost: int = 0
    duplicated: int = 0
    replayed: int = 0
    errors: int = 0
    sorry: int = 0
    try_again: int = 0
    reconnects: int = 0
    latencies_ms: list[float] = field(default_factory=list)


async def _wait_answer(socket: object, mid: str, answers: dict[str, str], tally: Tally) -> dict[str, object]:
    """Read frames until the answer to message `mid`; answers to earlier messages seen again are tallied."""
    while True:
        frame = json.loads(await socket.recv())  # type: ignore[attr-defined]
        if frame.get("type") == "error":
            tally.errors += 1
            return dict(frame)
        if frame.get("type") != "reply":
            continue
        to = str(frame.get("reply_to"))
        if to == mid:
            return dict(frame)
        if to in answers:
            if answers[to] == frame.get("text"):
                tally.replayed += 1
            else:
                tally.duplicated += 1


async def _user(n: int, urls: list[str], deadline: float, think_s: float, tally: Tally) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    session = f"load-{n}-{uuid.uuid4().hex[:10]}"
    home = n % len(urls)
    socket = None
    answers: dict[str, str] = {}
    count = 0
    while time.monotonic() < deadline:
        count += 1
        mid = str(count)
        frame = {"type": "message", "text": MESSAGES[(n + count) % len(MESSAGES)], "session": session, "id": mid}
        tally.sent += 1
        started = time.perf_counter()
        answer: dict[str, object] | None = None
        for _attempt in range(ATTEMPTS):
            try:
                if socket is None:
                    socket = await connect(urls[home], open_timeout=30, close_timeout=2, max_size=2**22)
                await socket.send(json.dumps(frame))
                answer = await asyncio.wait_for(_wait_answer(socket, mid, answers, tally), ANSWER_WAIT_S)
                break
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                socket = None
                home = (home + 1) % len(urls)  # the load balancer sends the new connection elsewhere
                tally.reconnects += 1
                await asyncio.sleep(0.5)
        if answer is None:
            tally.lost += 1
            continue
        if answer.get("type") == "reply":
            text = str(answer.get("text", ""))
            answers[mid] = text
            tally.answered += 1
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            if text == UNREACHABLE_ANSWER:
                tally.try_again += 1
            elif "Sorry, something went wrong" in text:
                tally.sorry += 1
        await asyncio.sleep(think_s * random.uniform(0.5, 1.5))
    if socket is not None:
        await socket.close()


async def _users(urls: list[str], users: int, seconds: float, think_s: float) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    tasks = []
    for n in range(users):  # users arrive over the first few seconds, not in one instant
        tasks.append(asyncio.create_task(_user(n, urls, deadline, think_s, tally)))
        await asyncio.sleep(min(0.02, seconds / max(users, 1) / 10))
    await asyncio.wait_for(asyncio.gather(*tasks), seconds + GRACE_S)
    return tally


def run_users(urls: list[str], users: int, seconds: float, think_s: float) -> dict[str, object]:
    """Runs in the load process."""
    return asdict(asyncio.run(_users(urls, users, seconds, think_s)))


def turns_in_database(url: str) -> int:
    """Turns the workers logged for the benchmark's users (their sessions start with `load-`)."""
    from sqlalchemy import create_engine, func, select

    from assistant.models import ConversationEvent

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).where(
                ConversationEvent.kind == "turn", ConversationEvent.conversation.like("%load-%")
            )
            return int(connection.execute(query).scalar() or 0)
    finally:
        engine.dispose()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else 0.0


def faults(
    stack: Stack, relay: Relay, args: argparse.Namespace, started: float, log: list[str]
) -> list[threading.Thread]:
    """The timeline of faults, in the benchmark's own process: each fault on its own thread, at its second."""

    def stamp() -> str:
        return f"{time.monotonic() - started:5.1f} s"

    def at(second: float) -> None:
        time.sleep(max(0.0, started + second - time.monotonic()))

    def kill_and_restart() -> None:
        at(args.kill_at)
        stack.kill("a")
        log.append(f"{stamp()}: worker a killed (SIGKILL)")
        at(args.kill_at + args.restart_after)
        log.append(f"{stamp()}: worker a starting again")
        stack.restart("a")
        log.append(f"{stamp()}: worker a ready again")

    def outage() -> None:
        at(args.outage_at)
        relay.cut()
        log.append(f"{stamp()}: PostgreSQL unreachable")
        time.sleep(args.outage_s)
        relay.restore()
        log.append(f"{stamp()}: PostgreSQL reachable again")

    threads = []
    for second, fault in ((args.kill_at, kill_and_restart), (args.outage_at, outage)):
        if second < args.seconds:
            threads.append(threading.Thread(target=fault, daemon=True))
            threads[-1].start()
    return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--think-s", type=float, default=15.0, help="mean pause between a user's messages")
    parser.add_argument("--kill-at", type=float, default=40.0)
    parser.add_argument("--restart-after", type=float, default=10.0)
    parser.add_argument("--outage-at", type=float, default=85.0)
    parser.add_argument("--outage-s", type=float, default=5.0)
    parser.add_argument("--no-seed", action="store_true", help="skip the demo catalogue (faster start)")
    args = parser.parse_args()
    try:
        check_postgres(POSTGRES)
        check_redis(REDIS)
    except StackError as error:
        print(f"skipped: {error}")
        return
    name = f"roadie_load_{uuid.uuid4().hex[:8]}"
    direct = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    ensure_database(direct)
    target = make_url(direct)
    relay = Relay(target.host or "127.0.0.1", target.port or 5432)
    through = target.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    load_before = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    log: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="roadie-load-") as tmp:
            stack = Stack(
                run_dir=Path(tmp),
                database_url=through,
                redis_url=REDIS,
                redis_prefix=f"{name}:",
                chroma_port=None,
                workers=[Worker("a", free_port()), Worker("b", free_port())],
                scheduler=False,
                seed=not args.no_seed,
                env={"ROADIE_DATABASE_POOL_TIMEOUT_S": "5"},
            )
            stack.start()
            try:
                urls = [u.replace("http://", "ws://") + "/ws/chat" for u in stack.urls().values()]
                with SPAWN.Pool(1) as pool:
                    pending = pool.apply_async(run_users, (urls, args.users, args.seconds, args.think_s))
                    started = time.monotonic()
                    timeline = faults(stack, relay, args, started, log)
                    tally = pending.get(timeout=args.seconds + GRACE_S + 60)
                    took = time.monotonic() - started
                    for fault in timeline:
                        fault.join(timeout=300)
            finally:
                stack.stop()
        ran = turns_in_database(direct)
    finally:
        relay.close()
        drop_database(direct)
        forget_keys(f"{name}:")
    load_after = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    latencies = list(tally["latencies_ms"])  # type: ignore[call-overload]
    normal = int(tally["answered"]) - int(tally["try_again"])  # type: ignore[call-overload]
    print(
        f"{args.users} users for {args.seconds:.0f} s (think {args.think_s:g} s) on workers a and b, PostgreSQL + Redis"
    )
    for line in log:
        print(f"  {line}")
    print(
        f"messages {tally['sent']:,}, answered {tally['answered']:,} in {took:.0f} s "
        f"({int(tally['answered']) / took:.1f} turns/s), p50 {statistics.median(latencies or [0]):.0f} ms, "  # type: ignore[call-overload]
        f"p95 {percentile(latencies, 0.95):.0f} ms"
    )
    print(
        f"lost {tally['lost']}, duplicated {tally['duplicated']}, error frames {tally['errors']}, "
        f"'something went wrong' {tally['sorry']}, 'try again' during the outage {tally['try_again']}, "
        f"reconnects {tally['reconnects']}, answers repeated after a reconnect {tally['replayed']}"
    )
    print(f"turns run by the workers (database log) {ran:,} for {normal:,} answers other than 'try again'")
    print(f"host load before: {load_before}\nhost load after:  {load_after}")


if __name__ == "__main__":
    main()
