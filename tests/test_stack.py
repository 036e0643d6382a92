"""Roadie beyond one machine: two `serve` workers and a scheduler on PostgreSQL, Redis and a chromadb server.

The stack is the one `make stack` runs (assistant/stack.py), with each worker on its own port so the
test can send each turn to the worker it chooses. Telegram is the fake Bot API in this process.
Skips with the reason when PostgreSQL or Redis is not reachable.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from assistant.models import ChannelIdentity, Person
from assistant.stack import Stack, StackError, Worker, check_postgres, check_redis
from tests.conftest import POSTGRES_URL
from tests.fakes.telegram_api import FakeTelegram
from tests.servers import free_port, serve_in_thread

REDIS_URL = "redis://127.0.0.1:6379/0"
TOKEN = "123456789:AAE-roadie-stack-token_abcdefghijk"
SECRET = "webhook-secret-for-the-stack_1"
SESSION = f"stack-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this run, dropped afterwards."""
    try:
        check_postgres(POSTGRES_URL)
    except StackError as error:
        pytest.skip(str(error))
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"roadie_stack_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix for this run; its keys are deleted afterwards."""
    try:
        check_redis(REDIS_URL)
    except StackError as error:
        pytest.skip(str(error))
    import redis

    prefix = f"roadie-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def telegram() -> Iterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram(TOKEN, username="roadie_stack_bot")
    with serve_in_thread(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="module")
def stack(
    database: str, redis_prefix: str, telegram: tuple[FakeTelegram, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Workers a and b on their own ports, chromadb, no scheduler yet (the alert test starts two)."""
    running = Stack(
        run_dir=tmp_path_factory.mktemp("stack"),
        database_url=database,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        chroma_port=free_port(),
        workers=[Worker("a", free_port()), Worker("b", free_port())],
        scheduler=False,
        env={
            "ROADIE_TELEGRAM_BOT_TOKEN": TOKEN,
            "ROADIE_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "ROADIE_TELEGRAM_API_BASE": telegram[1],
            "ROADIE_OUTBOX_INTERVAL_S": "1",
        },
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()


def say(url: str, words: str) -> dict[str, Any]:
    """One web-chat turn on the worker at `url`, in this test's browser session; the reply frame."""
    from websockets.sync.client import connect

    with connect(url.replace("http://", "ws://") + "/ws/chat", open_timeout=30, close_timeout=5) as socket:
        socket.send(json.dumps({"type": "message", "text": words, "session": SESSION, "id": uuid.uuid4().hex}))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            frame = json.loads(socket.recv(timeout=max(1.0, deadline - time.monotonic())))
            if frame["type"] != "typing":
                assert frame["type"] == "reply", frame
                return dict(frame)
    raise AssertionError(f"no reply to {words!r} within 120 s")


def test_the_workers_are_two_processes_that_are_both_ready(stack: Stack) -> None:
    urls = stack.urls()
    names = {httpx.get(f"{url}/healthz").json()["worker"] for url in urls.values()}
    assert names == {"a", "b"}
    for url in urls.values():
        ready = httpx.get(f"{url}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "vector_store": "ok", "model": "ok", "redis": "ok"}
        assert ready.headers["x-roadie-worker"] in names


def test_a_booking_planned_on_one_worker_is_confirmed_on_the_other(stack: Stack) -> None:
    a, b = stack.urls()["a"], stack.urls()["b"]
    plan = say(a, "plan a trip to Taylor Swift in Lisbon for 2 from London")
    assert "Quote **Q-" in plan["text"], plan["text"]
    ask = say(b, "book it")
    assert "Reply **yes** to book" in ask["text"], "worker b remembers the quote worker a made"
    booked = say(a, "yes")
    assert "Reference **RD-" in booked["text"], booked["text"]
    reference = booked["text"].split("Reference **", 1)[1].split("**", 1)[0]
    listed = say(b, "my bookings")
    assert reference in listed["text"], "the booking confirmed on a is listed on b"


def update(chat_id: int, words: str, update_id: int) -> dict[str, Any]:
    sender = {"id": chat_id, "is_bot": False, "first_name": "Ana"}
    message = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private", "first_name": "Ana"},
        "from": sender,
        "text": words,
    }
    return {"update_id": update_id, "message": message}


def post_to_both(stack: Stack, body: dict[str, Any]) -> list[int]:
    """The same webhook delivered to both workers at the same moment (a retry that crossed a balancer)."""
    statuses: list[int] = []
    start = threading.Barrier(2)

    def post(url: str) -> None:
        start.wait(timeout=10)
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        statuses.append(httpx.post(f"{url}/telegram/webhook", json=body, headers=headers, timeout=30).status_code)

    threads = [threading.Thread(target=post, args=(url,)) for url in stack.urls().values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=40)
    return statuses


def test_a_webhook_delivered_to_both_workers_is_answered_once(stack: Stack, telegram: tuple[FakeTelegram, str]) -> None:
    fake, _ = telegram
    chat_id = 700_000_000 + int(uuid.uuid4().int % 1_000_000)
    assert post_to_both(stack, update(chat_id, "any Coldplay shows in Europe?", 910_001)) == [200, 200]
    answers = fake.wait_for("sendMessage", chat_id=chat_id, timeout_s=120)
    assert answers, "one of the workers answers"
    time.sleep(3)  # the other worker, had it answered too, would have done so by now
    assert len(fake.called("sendMessage", chat_id=chat_id)) == 1
    assert "Coldplay" in fake.called("sendMessage", chat_id=chat_id)[0]["text"]


def test_a_scheduled_alert_fires_once_with_two_schedulers_running(
    stack: Stack, database: str, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    chat_id = 800_000_000 + int(uuid.uuid4().int % 1_000_000)
    for n, words in enumerate(("set my home to London",), start=920_001):
        assert post_to_both(stack, update(chat_id, words, n)) == [200, 200]
    saved = fake.wait_for("sendMessage", chat_id=chat_id, timeout_s=120)
    assert saved, "worker a or b answered"
    assert "London" in saved[0]["text"], saved
    engine = create_engine(database)
    with Session(engine) as session, session.begin():  # Ana asks for "shows near you", at any hour
        person = session.scalars(
            select(Person)
            .join(ChannelIdentity, ChannelIdentity.person_id == Person.id)
            .where(ChannelIdentity.channel == "telegram", ChannelIdentity.external_id == str(chat_id))
        ).one()
        person.notify = {**(person.notify or {}), "weekly": True, "quiet_hours": [0, 0]}
    engine.dispose()
    scheduler = [Path(stack.python).as_posix(), "main.py", "scheduler"]
    for name in ("scheduler-1", "scheduler-2"):  # both start; the one holding the lease runs the jobs
        stack._spawn(name, scheduler, {"ROADIE_WORKER_ID": name})
    alerts = fake.wait_for("sendMessage", count=2, chat_id=chat_id, timeout_s=240)
    time.sleep(5)  # the outbox polls every second on each worker: a second copy would be here by now
    weekly = [c for c in fake.called("sendMessage", chat_id=chat_id) if "next 30 days" in c["text"]]
    assert len(alerts) >= 2
    assert len(weekly) == 1, [c["text"][:80] for c in fake.called("sendMessage", chat_id=chat_id)]
    leading = [
        name
        for name in ("scheduler-1", "scheduler-2")
        if "leading — jobs fire here" in (stack.run_dir / f"{name}.log").read_text()
    ]
    assert len(leading) == 1, "one scheduler leads; the other stands by"


def test_metrics_add_up_both_workers(stack: Stack) -> None:
    body = httpx.get(f"{stack.urls()['a']}/metrics", timeout=30).text
    turns = sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("roadie_turns_total{") and 'channel="web"' in line
    )
    assert turns >= 4, "the web turns answered by a and by b are all counted on a"
    assert "roadie_outbox_depth" in body
    assert 'roadie_tool_calls_total{outcome="ok",tool="plan_trip"}' in body


def test_a_worker_told_to_stop_finishes_the_turn_it_acknowledged(
    stack: Stack, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    chat_id = 900_000_000 + int(uuid.uuid4().int % 1_000_000)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    body = update(chat_id, "find Metallica concerts", 930_001)
    acked = httpx.post(f"{stack.urls()['b']}/telegram/webhook", json=body, headers=headers, timeout=30)
    assert acked.status_code == 200
    stack.kill("b", signal.SIGTERM)  # a deploy stops worker b right after the ack, before the answer went out
    answers = fake.wait_for("sendMessage", chat_id=chat_id, timeout_s=60)
    assert len(answers) == 1, "the acknowledged turn is answered before the worker exits"
    assert "Metallica" in answers[0]["text"]
    deadline = time.monotonic() + 60
    while "b" in stack.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "b" not in stack.running(), "and then it exits"
