"""What operators rely on: readiness that names the broken part, JSON logs without personal data, shared
locks and dedupe keys in Redis, migrations that several workers can start at once, metrics per worker."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import inspect

from assistant.clock import FixedClock
from assistant.db import Database
from assistant.locks import RedisDeliveries, RedisLocks
from assistant.observability import CONVERSATION, JsonFormatter, WorkerHeader, conversation_key
from assistant.scheduler import Job, Scheduler
from assistant.settings import Settings
from knowledge.embeddings import Embedder
from main import chroma_server, create_app
from tests.conftest import NOW
from tests.servers import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_readyz_names_the_part_that_is_down(settings: Settings, embedder: Embedder) -> None:
    nowhere = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "worker_id": "w1"})
    with TestClient(create_app(nowhere, FixedClock(NOW), embedder)) as client:
        assert client.get("/healthz").json() == {"status": "ok", "worker": "w1"}
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["redis"]
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["model"] == "ok"
        assert ready.headers["x-roadie-worker"] == "w1"


def test_readyz_is_200_when_every_part_answers(settings: Settings, embedder: Embedder) -> None:
    with TestClient(create_app(settings, FixedClock(NOW), embedder)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"database", "vector_store", "model"}, "no Redis configured, none checked"
        metrics = client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'roadie_outbox_depth{status="queued"}' in metrics.text


def test_json_log_lines_carry_a_conversation_hash_not_the_chat_id() -> None:
    phone = "whatsapp:+447700900123"
    record = logging.LogRecord("roadie", logging.WARNING, __file__, 1, "turn timed out for %s", ("whatsapp",), None)
    token = CONVERSATION.set(conversation_key(phone))
    try:
        line = json.loads(JsonFormatter("w1").format(record))
    finally:
        CONVERSATION.reset(token)
    assert line["message"] == "turn timed out for whatsapp"
    assert line["conversation"] == conversation_key(phone)
    assert line["worker"] == "w1"
    assert "+447700900123" not in json.dumps(line)


def test_a_refused_webhook_is_counted_by_channel_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()

    @app.post("/telegram/webhook")
    async def refuse() -> PlainTextResponse:
        return PlainTextResponse("bad secret", status_code=403)

    labels = {"channel": "telegram", "reason": "signature"}
    before = REGISTRY.get_sample_value("roadie_webhook_rejects_total", labels) or 0.0
    with caplog.at_level(logging.INFO, logger="roadie.access"), TestClient(WorkerHeader(app, worker="w9")) as client:
        refused = client.post("/telegram/webhook?from=+447700900123", json={})
    assert refused.headers["x-roadie-worker"] == "w9"
    assert REGISTRY.get_sample_value("roadie_webhook_rejects_total", labels) == before + 1
    assert "POST /telegram/webhook 403" in caplog.text, "the access log names the request and its answer"
    assert "447700900123" not in caplog.text, "but not the query string"
    assert "testclient" not in caplog.text, "nor the client's address"


def test_a_chromadb_url_becomes_host_and_port(settings: Settings) -> None:
    assert chroma_server(settings) == ("", 0)
    assert chroma_server(settings.model_copy(update={"chroma_url": "http://10.0.0.5:8001"})) == ("10.0.0.5", 8001)
    assert chroma_server(settings.model_copy(update={"chroma_host": "chroma", "chroma_port": 9000})) == ("chroma", 9000)


async def test_the_scheduler_process_runs_its_jobs_as_soon_as_it_leads(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'roadie.sqlite'}")
    db.migrate()
    fired: list[str] = []
    scheduler = Scheduler(db, FixedClock(NOW), [Job("weekly", timedelta(days=7), lambda now: fired.append("weekly"))])
    await scheduler.start(run_at_start=True)
    try:
        for _ in range(100):
            if fired:
                break
            await asyncio.sleep(0.05)
    finally:
        await scheduler.stop()
        db.dispose()
    assert fired == ["weekly"], "a weekly job does not wait a week after a restart"


def test_workers_migrating_at_once_take_turns(postgres_database: str) -> None:
    errors: list[BaseException] = []

    def migrate() -> None:
        db = Database(postgres_database)
        try:
            with db.exclusively():
                db.migrate()
        except BaseException as error:
            errors.append(error)
        finally:
            db.dispose()

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    db = Database(postgres_database)
    assert "outbox" in " ".join(inspect(db.engine).get_table_names())
    db.dispose()


@pytest_asyncio.fixture
async def redis_client() -> AsyncIterator[object]:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as error:
        await client.aclose()
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {type(error).__name__}")
    prefix = f"roadie-test-{uuid.uuid4().hex[:8]}:"
    client.prefix = prefix  # type: ignore[attr-defined]
    yield client
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_a_conversation_lock_in_redis_is_held_by_one_worker_at_a_time(redis_client: object) -> None:
    prefix: str = redis_client.prefix  # type: ignore[attr-defined]
    worker_a = RedisLocks(redis_client, prefix, expire_s=10, wait_s=10)  # type: ignore[arg-type]
    worker_b = RedisLocks(redis_client, prefix, expire_s=10, wait_s=10)  # type: ignore[arg-type]
    order: list[str] = []

    async def turn(locks: RedisLocks, name: str) -> None:
        async with locks.hold("telegram:42"):
            order.append(f"{name} in")
            await asyncio.sleep(0.2)
            order.append(f"{name} out")

    await asyncio.gather(turn(worker_a, "a"), turn(worker_b, "b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    keys = [key async for key in redis_client.scan_iter(match=f"{prefix}*")]  # type: ignore[attr-defined]
    assert not keys, "released locks leave nothing behind"


async def test_a_long_turn_keeps_its_lock_and_a_crashed_workers_lock_frees_soon(redis_client: object) -> None:
    prefix: str = redis_client.prefix  # type: ignore[attr-defined]
    worker_a = RedisLocks(redis_client, prefix, expire_s=0.6, wait_s=10)  # type: ignore[arg-type]
    worker_b = RedisLocks(redis_client, prefix, expire_s=0.6, wait_s=10)  # type: ignore[arg-type]
    order: list[str] = []

    async def turn(locks: RedisLocks, name: str, seconds: float) -> None:
        async with locks.hold("web:long"):
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")

    first = asyncio.create_task(turn(worker_a, "a", 2.0))  # lasts three times the lock's life
    await asyncio.sleep(0.1)
    await turn(worker_b, "b", 0.0)
    await first
    assert order == ["a in", "a out", "b in", "b out"], "the renewed lock kept b out for the whole turn"

    crashed = redis_client.lock(f"{prefix}lock:{conversation_key('web:gone')}", timeout=0.6)  # type: ignore[attr-defined]
    assert await crashed.acquire()  # a worker took the lock and died: nobody renews or releases it
    started = time.monotonic()
    await turn(worker_b, "b", 0.0)
    assert time.monotonic() - started < 5, "the conversation is free again soon after its worker died"


async def test_a_platform_message_id_is_first_only_once_across_workers(redis_client: object) -> None:
    prefix: str = redis_client.prefix  # type: ignore[attr-defined]
    a = RedisDeliveries(redis_client, prefix)  # type: ignore[arg-type]
    b = RedisDeliveries(redis_client, prefix)  # type: ignore[arg-type]
    firsts = await asyncio.gather(*(seen.first("telegram", "update-7") for seen in (a, b, a, b)))
    assert sorted(firsts) == [False, False, False, True]
    assert await a.first("whatsapp", "update-7"), "the same id on another channel is another message"
    keys = [key.decode() async for key in redis_client.scan_iter(match=f"{prefix}*")]  # type: ignore[attr-defined]
    assert all("update-7" not in key for key in keys), "keys hold a hash, not the id"


async def test_with_redis_down_a_worker_still_answers_in_order(caplog: pytest.LogCaptureFixture) -> None:
    import redis.asyncio

    down = redis.asyncio.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    locks = RedisLocks(down, "roadie-test:", expire_s=10, wait_s=10)
    order: list[str] = []

    async def turn(name: str) -> None:
        async with locks.hold("web:abc"):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    with caplog.at_level(logging.WARNING, logger="assistant.locks"):
        await asyncio.gather(turn("a"), turn("b"))
    await down.aclose()
    assert order == ["a in", "a out", "b in", "b out"], "this worker's own lock still orders the turns"
    assert "serialised in this worker only" in caplog.text
