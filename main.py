"""Roadie's entry point: builds settings → database → agent → channels, and runs the CLI commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from assistant.agent import build_agent, choose_model, open_checkpointer
from assistant.clock import Clock, SystemClock
from assistant.context import Services
from assistant.db import Database, Pool
from assistant.entities import EntityCache
from assistant.locks import RedisDeliveries, RedisLocks
from assistant.observability import (
    OutboxCollector,
    WorkerHeader,
    configure_logging,
    default_worker_id,
    process_exited,
    render_metrics,
)
from assistant.outbox import Sender, deliver_due
from assistant.planner.core import PlannerCore
from assistant.ratelimit import RedisRateLimiter
from assistant.redaction import redaction_filter
from assistant.redis_client import key, open_async_redis
from assistant.scheduler import Job, Scheduler
from assistant.seed import is_seeded, reset, seed
from assistant.service import TURN_TIMEOUT_S, ConversationService
from assistant.settings import Settings
from knowledge.embeddings import Embedder
from knowledge.library import Library
from knowledge.store import MemoryStore, open_store
from tools import tools_for

log = logging.getLogger("roadie")


@dataclass
class Roadie:
    """Everything one Roadie process runs on, wired together."""

    settings: Settings
    services: Services
    service: ConversationService
    embedder: Embedder
    redis: Any = None  # the asyncio Redis client shared by this process's features, when configured


def open_database(settings: Settings) -> Database:
    """The configured database with the configured connection pool (not migrated)."""
    pool = Pool(
        size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        timeout_s=settings.database_pool_timeout_s,
        recycle_s=settings.database_pool_recycle_s,
    )
    return Database(settings.resolved_database_url, pool)


def prepare_database(settings: Settings, clock: Clock) -> Database:
    """Open the database, migrate it to the newest schema (unless `migrate_on_start` is off) and seed it if empty.

    Processes starting together take turns (a PostgreSQL advisory lock), so only the first migrates and seeds.
    """
    db = open_database(settings)
    with db.exclusively():
        if settings.migrate_on_start:
            db.migrate()
        if not is_seeded(db):
            counts = seed(db, clock.now())
            log.info("seeded the demo catalogue: %s", counts)
    return db


def chroma_server(settings: Settings) -> tuple[str, int]:
    """(host, port) of the configured chromadb server: ROADIE_CHROMA_URL, else chroma_host/port; ("", 0) if none."""
    if settings.chroma_url:
        from urllib.parse import urlsplit

        parts = urlsplit(settings.chroma_url if "//" in settings.chroma_url else f"http://{settings.chroma_url}")
        return parts.hostname or "127.0.0.1", parts.port or 8000
    return (settings.chroma_host, settings.chroma_port) if settings.chroma_host else ("", 0)


def open_library(settings: Settings, embedder: Embedder) -> Library:
    """Roadie's documents over the store the settings choose (indexed on first use, or by `ingest`), searched with
    the int8 copy of the model."""
    embedder = embedder.quantized()
    if settings.knowledge_store == "memory":
        return Library(MemoryStore(), embedder)
    host, port = chroma_server(settings)
    return Library(
        open_store(
            embedder,
            {
                "data_dir": settings.data_dir,
                "chroma_host": host,
                "chroma_port": port,
                "timeout_s": settings.platform_timeout_s,
            },
        ),
        embedder,
    )


@asynccontextmanager
async def start_roadie(
    settings: Settings, clock: Clock | None = None, embedder: Embedder | None = None
) -> AsyncIterator[Roadie]:
    """Build a running Roadie: database, embeddings, planner or LLM, agents with memory, service."""
    clock = clock or SystemClock()
    db = await asyncio.to_thread(prepare_database, settings, clock)
    embedder = embedder or Embedder()
    await asyncio.to_thread(embedder.warm_up)
    entities = EntityCache(db)
    services = Services(
        db=db, clock=clock, settings=settings, entities=entities, library=open_library(settings, embedder)
    )
    planner = PlannerCore(embedder, entities, clock)
    model = choose_model(settings, planner)
    async with open_checkpointer(settings, db.url) as checkpointer:
        agents = {role: build_agent(model, tools_for(role), checkpointer) for role in ("traveller", "staff")}
        if not settings.uses_llm:
            await asyncio.to_thread(lambda: [planner.router(tools_for(r)) for r in ("traveller", "staff")])
        redis = open_async_redis(settings)
        shared: dict[str, Any] = {}
        if redis is not None:  # several workers: conversation locks and message ids live in Redis
            wait = TURN_TIMEOUT_S + 30
            shared = {  # a lock renewed while its turn runs: a crashed worker's frees within 15 s
                "locks": RedisLocks(redis, settings.redis_prefix, expire_s=15, wait_s=wait),
                "deliveries": RedisDeliveries(redis, settings.redis_prefix),
                "limiter": RedisRateLimiter(redis, key(settings, "rl", "")),
            }
        service = ConversationService(services, agents, **shared)  # type: ignore[arg-type]  # roles are literal keys
        try:
            yield Roadie(settings=settings, services=services, service=service, embedder=embedder, redis=redis)
        finally:
            if redis is not None:
                await redis.aclose()
            db.dispose()


@asynccontextmanager
async def outbox_delivery(
    settings: Settings, db: Database, clock: Clock, channels: Mapping[str, Sender]
) -> AsyncIterator[None]:
    """Deliver due outbox messages every `outbox_interval_s` seconds through `channels` while the block runs.

    0 turns delivery off (another process, such as the scheduler, calls `deliver_due` instead). On the
    way out, a delivery under way finishes its sends first (it is cancelled after 30 s).
    """
    from channels.base import SendRefused

    if settings.outbox_interval_s <= 0:
        log.info("outbox delivery off in this process (outbox_interval_s is 0)")
        yield
        return
    stopping = asyncio.Event()

    async def deliver_until_stopped() -> None:
        while not stopping.is_set():
            try:
                await deliver_due(db, channels, clock.now(), refusal=SendRefused)
            except Exception:
                log.exception("outbox delivery failed; trying again in %s s", settings.outbox_interval_s)
            with suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), settings.outbox_interval_s)

    task = asyncio.create_task(deliver_until_stopped(), name="roadie-outbox")
    try:
        yield
    finally:
        stopping.set()
        try:
            await asyncio.wait_for(task, timeout=30)
        except TimeoutError:
            log.warning("outbox delivery did not finish within 30 s of shutdown and was cancelled")


JOB_INTERVALS = {  # tour alerts need no job: they are queued with the tour change itself
    "poll_deadlines": timedelta(minutes=1),
    "trip_reminders": timedelta(minutes=15),
    "group_payment_reminders": timedelta(hours=6),
    "shows_near_you": timedelta(hours=6),
    "staff_digest": timedelta(hours=1),  # sends once a day, from 08:00 UTC
}


def proactive_jobs(services: Services) -> list[Job]:
    """The scheduler's jobs over this Roadie's services (each queues messages in the outbox, once)."""
    from tools.alerts import run_job
    from tools.price_watches import price_watch_job
    from tools.pricing import dynamic_pricing_job

    jobs = [Job(name, every, partial(run_job, services, name)) for name, every in JOB_INTERVALS.items()]
    jobs.append(Job("price_watches", timedelta(hours=1), partial(price_watch_job, services.db)))
    pricing = partial(dynamic_pricing_job, services.db, services.settings.data_dir)  # moves a price once a day at most
    jobs.append(Job("dynamic_pricing", timedelta(hours=6), pricing))
    return jobs


def outbox_stats(db: Database, now: datetime) -> dict[str, tuple[int, datetime | None]]:
    """Unsent outbox messages by status, with the oldest due time among those already due (one indexed query)."""
    from sqlalchemy import func, select

    from assistant.models import OutboxMessage

    due = func.min(OutboxMessage.due_at).filter(OutboxMessage.due_at <= now)
    query = (
        select(OutboxMessage.status, func.count(), due)
        .where(OutboxMessage.status.in_(("queued", "sending")))
        .group_by(OutboxMessage.status)
    )
    with db.session() as session:
        rows = {status: (int(count), oldest) for status, count, oldest in session.execute(query)}
    return {status: rows.get(status, (0, None)) for status in ("queued", "sending")}


READY_TIMEOUT_S = 3.0


async def readiness(roadie: Roadie) -> dict[str, str]:
    """Each part a turn needs — database, Redis (when configured), vector store, embedding model — as "ok" or why not."""

    def database() -> None:
        from sqlalchemy import text

        with roadie.services.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    checks: dict[str, Any] = {
        "database": asyncio.to_thread(database),
        "vector_store": asyncio.to_thread(lambda: library.store.count() if (library := roadie.services.library) else 0),
        "model": asyncio.to_thread(roadie.embedder.embed_one, "is Roadie ready?"),
    }
    if roadie.redis is not None:
        checks["redis"] = roadie.redis.ping()
    found: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, READY_TIMEOUT_S)
            found[name] = "ok"
        except TimeoutError:
            found[name] = f"no answer within {READY_TIMEOUT_S:.0f} s"
        except Exception as error:
            found[name] = f"{type(error).__name__}: {str(error)[:200]}"
    return found


def create_app(settings: Settings, clock: Clock | None = None, embedder: Embedder | None = None) -> FastAPI:
    """The ASGI app: web chat, channel webhooks, media, health and metrics; Roadie starts with the app."""
    from fastapi.staticfiles import StaticFiles

    from channels.registry import configured
    from channels.web import WebChannel

    web = WebChannel()
    messaging, off = configured(settings)
    worker = settings.worker_id or default_worker_id()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with start_roadie(settings, clock, embedder) as roadie:
            app.state.roadie = roadie
            web.attach(roadie.service.handle)
            for channel in messaging:
                channel.attach(roadie.service.handle, roadie.service)
                await channel.start()
            app.state.channels = {"web": web, **{c.name: c for c in messaging}}
            log.info("channels on: %s", ", ".join(["web chat", *(c.name for c in messaging)]))
            for name, reason in off.items():
                log.info("channel %s off: %s", name, reason)
            scheduler = Scheduler(roadie.services.db, roadie.services.clock, proactive_jobs(roadie.services))
            if settings.scheduler_in_process:
                await scheduler.start()
            else:
                log.info("scheduler off in this worker: `python main.py scheduler` runs the proactive jobs")
            app.state.outbox_metrics = OutboxCollector(
                partial(lambda db, c: outbox_stats(db, c.now()), roadie.services.db, roadie.services.clock),
                roadie.services.clock.now,
            )
            log.info("worker %s ready", worker)
            try:
                async with outbox_delivery(settings, roadie.services.db, roadie.services.clock, app.state.channels):
                    yield
            finally:
                log.info(
                    "worker %s stopping: finishing turns in flight (at most %.0f s)", worker, settings.shutdown_grace_s
                )
                await scheduler.stop()
                for channel in messaging:  # each channel drains its background turns before it stops
                    await channel.stop()
                process_exited()

    app = FastAPI(title="Roadie", lifespan=lifespan)
    app.add_middleware(WorkerHeader, worker=worker)
    web.install(app)
    for channel in messaging:
        channel.install(app)
    media = settings.data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    app.mount("/media", StaticFiles(directory=media), name="media")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive: this process answers (it says which worker it is)."""
        return {"status": "ok", "worker": worker}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready for turns: 200 when every part answers, else 503 naming the parts that failed."""
        checks = await readiness(app.state.roadie)
        failed = sorted(name for name, state in checks.items() if state != "ok")
        body = {"status": "unready" if failed else "ready", "worker": worker, "checks": checks, "failed": failed}
        return JSONResponse(body, status_code=503 if failed else 200)

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics: this worker's, or every worker's when PROMETHEUS_MULTIPROC_DIR is set."""
        from prometheus_client import CONTENT_TYPE_LATEST

        body = await asyncio.to_thread(render_metrics, [app.state.outbox_metrics])
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings.resolved_database_url)
    db.migrate()
    if args.reset:
        reset(db)
    elif is_seeded(db):
        print("The database already holds the demo catalogue (use --reset to start over).")
        return 0
    counts = seed(db, SystemClock().now())
    print("Seeded the demo catalogue: " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()))
    from tools.pricing import forecasters

    trained = forecasters(db, settings.data_dir)  # kept on disk, so the first "book now or wait?" is instant
    if trained is not None:
        print(f"Trained price forecasts ({', '.join(trained.models)}) in {trained.seconds:.1f} s.")
    return cmd_ingest(settings, args)


def cmd_forecast_eval(settings: Settings, args: argparse.Namespace) -> int:
    """The forecasting engine against baselines on real airfares (--csv), and/or the demo database backtest."""
    from evals.forecast import evaluate, format_backtest, format_report, run_backtest

    if not args.csv and not args.backtest:
        print("Give --csv FILE (real airfares, e.g. ../shared/data/airfares/airfares_train.csv.gz) and/or --backtest.")
        return 2
    report: dict[str, dict[str, Any]] = {}
    if args.csv:
        report["airfares"] = evaluate(Path(args.csv), Path(args.train) if args.train else None)
    if args.backtest:
        report["backtest"] = run_backtest()
    if args.json:
        print(json.dumps(report if len(report) > 1 else next(iter(report.values())), indent=2, ensure_ascii=False))
    else:
        if "airfares" in report:
            print(format_report(report["airfares"]))
        if "backtest" in report:
            print(format_backtest(report["backtest"]))
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Index Roadie's documents; unchanged ones are skipped, so running it again is cheap."""
    report = open_library(settings, Embedder()).ingest()
    print(f"Indexed Roadie's documents: {report.summary()} ({report.chunks_per_second:.0f} chunks/s).")
    return 0


def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    from channels.terminal import run_terminal_chat

    async def go() -> None:
        async with start_roadie(settings) as roadie:
            await run_terminal_chat(roadie.service.handle, user=args.user, role=args.role)

    asyncio.run(go())
    return 0


WORKER_PING_TIMEOUT_S = 120


def app_from_environment() -> FastAPI:
    """The app as each uvicorn worker process builds it (`serve --workers N`): settings from the environment."""
    settings = Settings()
    configure_logging(
        logging.INFO, settings.log_format, settings.worker_id or default_worker_id(), log_filters(settings)
    )
    return create_app(settings)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """One process, or `--workers N` uvicorn worker processes sharing the port (set ROADIE_REDIS_URL for N > 1)."""
    import uvicorn

    from channels.web import MAX_WS_MESSAGE_BYTES

    grace = int(settings.shutdown_grace_s) + 5
    if args.workers > 1:
        if not settings.redis_url or settings.database_url.startswith("sqlite") or not settings.database_url:
            log.warning("several workers need PostgreSQL and Redis to share conversations, locks and dedupe keys")
        uvicorn.run(
            "main:app_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,
            ws_max_size=MAX_WS_MESSAGE_BYTES,
            timeout_graceful_shutdown=grace,
            access_log=False,  # the app's own access log leaves out client addresses
            # uvicorn kills a worker that misses a 5 s ping; a cold start (torch, the model) on a busy host
            # can stall longer than that, so each restart starts over — /readyz is the health that matters
            timeout_worker_healthcheck=WORKER_PING_TIMEOUT_S,
        )
        return 0
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_config=None,
        timeout_graceful_shutdown=grace,
        access_log=False,
        ws_max_size=MAX_WS_MESSAGE_BYTES,  # a bigger WebSocket frame closes the socket before it is read
    )
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Alembic `upgrade head` and the conversation-memory tables, once, before the workers start."""
    db = open_database(settings)
    try:
        with db.exclusively():
            db.migrate()

            async def memory_tables() -> None:
                async with open_checkpointer(settings, db.url):
                    pass

            asyncio.run(memory_tables())
    finally:
        db.dispose()
    print(f"The database is at the newest schema ({db.engine.dialect.name}).")
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    from evals.retrieval import is_retrieval_dataset, run_retrieval_eval
    from evals.runner import run_eval

    if not args.dataset:  # every dataset, CLINC150's requests Roadie does not serve, and the scenarios
        from evals.suite import print_suite

        return print_suite(settings, as_json=args.json, failures=args.failures)
    if is_retrieval_dataset(Path(args.dataset)):  # questions for the guides: recall@3 and "I don't know"
        found = run_retrieval_eval(Path(args.dataset))
        if not args.json:
            found = {k: v for k, v in found.items() if k != "failures"} | {"failures": len(found["failures"])}
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return 0
    report = asyncio.run(run_eval(Path(args.dataset), settings))
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        from evals.runner import format_report

        print(format_report(report))
    return 0


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> int:
    """The proactive scheduler as its own process: it fires jobs while it holds the lease, else stands by."""

    async def go() -> None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):  # stop cleanly: hand the lease back
            loop.add_signal_handler(signum, stopped.set)
        async with start_roadie(settings) as roadie:
            scheduler = Scheduler(roadie.services.db, roadie.services.clock, proactive_jobs(roadie.services))
            if args.once:
                ran = await asyncio.to_thread(scheduler.run_once)
                print(f"Ran {', '.join(ran)}." if ran else "Another scheduler holds the lease; nothing ran.")
                return
            await scheduler.start(run_at_start=True)
            try:
                await stopped.wait()
            finally:
                await scheduler.stop()

    with suppress(KeyboardInterrupt):
        asyncio.run(go())
    return 0


def cmd_telegram_poll(settings: Settings, args: argparse.Namespace) -> int:
    """Telegram by long polling (development): no public URL or webhook secret needed, the webhook is removed."""
    from aiogram.utils.token import TokenValidationError

    from channels.telegram import TelegramChannel

    try:
        channel = TelegramChannel.from_settings(settings.model_copy(update={"public_base_url": ""}))
    except TokenValidationError:
        print("Set ROADIE_TELEGRAM_BOT_TOKEN to the token @BotFather gave you.", file=sys.stderr)
        return 2

    async def go() -> None:
        async with start_roadie(settings) as roadie:
            channel.attach(roadie.service.handle, roadie.service)
            try:
                await channel.poll()
            finally:
                await channel.stop()

    asyncio.run(go())
    return 0


def log_filters(settings: Settings) -> list[logging.Filter]:
    """Filters every log line passes through before it is formatted: secrets and personal data redacted."""
    return [redaction_filter(settings)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py", description="Roadie, the concert-travel assistant")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the web chat and the channel webhooks")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes on the one port (needs PG + Redis)")
    serve.set_defaults(run=cmd_serve)
    run = sub.add_parser("run", help="same as serve")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--workers", type=int, default=1, help="worker processes on the one port (needs PG + Redis)")
    run.set_defaults(run=cmd_serve)
    migrate = sub.add_parser("migrate", help="bring the database to the newest schema (before starting workers)")
    migrate.set_defaults(run=cmd_migrate)
    chat = sub.add_parser("chat", help="talk to Roadie in the terminal (one message per line when piped)")
    chat.add_argument("--user", default="you")
    chat.add_argument("--role", choices=("traveller", "staff"), default="traveller")
    chat.set_defaults(run=cmd_chat)
    seed_cmd = sub.add_parser("seed", help="load the demo catalogue and history")
    seed_cmd.add_argument("--reset", action="store_true", help="delete everything first")
    seed_cmd.set_defaults(run=cmd_seed)
    ingest = sub.add_parser("ingest", help="index Roadie's documents for answers (only changed ones)")
    ingest.set_defaults(run=cmd_ingest)
    ev = sub.add_parser("eval", help="score the agent on an eval dataset")
    ev.add_argument("--dataset", help="one dataset; without it, every dataset and the scenarios as one table")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--failures", action="store_true", help="with the whole suite: list every failing case")
    ev.set_defaults(run=cmd_eval)
    sched = sub.add_parser("scheduler", help="run the proactive scheduler (alerts, reminders) as its own process")
    sched.add_argument("--once", action="store_true", help="run every job once now and exit")
    sched.set_defaults(run=cmd_scheduler)
    fe = sub.add_parser("forecast-eval", help="measure the price forecasts on real airfares and on the demo history")
    fe.add_argument("--csv", help="airfares CSV (or .csv.gz) to score; trained on its own rows by a documented split")
    fe.add_argument("--train", help="a second airfares CSV to train on instead (then every --csv row is held out)")
    fe.add_argument("--backtest", action="store_true", help="also backtest book-now-or-wait on the demo database")
    fe.add_argument("--json", action="store_true")
    fe.set_defaults(run=cmd_forecast_eval)
    poll = sub.add_parser("telegram-poll", help="run the Telegram bot by long polling (development, no webhook)")
    poll.set_defaults(run=cmd_telegram_poll)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    configure_logging(
        logging.WARNING if args.command in ("chat", "eval", "forecast-eval") else logging.INFO,
        settings.log_format,
        settings.worker_id or default_worker_id(),
        log_filters(settings),
    )
    result: int = args.run(settings, args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
