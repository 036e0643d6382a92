"""What operators see of Roadie: Prometheus metrics, JSON log lines and the worker's name.

Metrics for other parts of Roadie to increment (import the object, call `.labels(...).inc()`):
- `RATE_LIMITED` — `roadie_rate_limited_total{channel, scope}`: a message refused by a rate limit
  (`scope` is the limit's: "person", "channel"); the conversation service counts each refusal.
- `WEBHOOK_REJECTS` — `roadie_webhook_rejects_total{channel, reason}`: counted by `WebhookRejects`
  (an ASGI middleware in main.py) from the status of every refused webhook request.

With several worker processes (uvicorn --workers N), set `PROMETHEUS_MULTIPROC_DIR` to an empty
directory before they start: prometheus-client then keeps each process's values in files there, and
`/metrics` on any worker adds them up (`render_metrics`). `make stack` and compose.yaml do so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TURN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 90.0)

TURNS = Counter(
    "roadie_turns", "Conversation turns handled, by channel and outcome (ok, failed)", ["channel", "outcome"]
)
TURN_SECONDS = Histogram(
    "roadie_turn_seconds", "Time to answer one turn, by channel", ["channel"], buckets=TURN_BUCKETS
)
TURNS_IN_FLIGHT = Gauge("roadie_turns_in_flight", "Turns being answered right now", multiprocess_mode="livesum")
TOOL_CALLS = Counter(
    "roadie_tool_calls", "Tool calls made by the agent, by tool and outcome (ok, refused)", ["tool", "outcome"]
)
TOOL_ERRORS = Counter("roadie_tool_errors", "Tool calls that raised (the person got an apology), by tool", ["tool"])
WEBHOOK_REJECTS = Counter(
    "roadie_webhook_rejects", "Webhook requests refused, by channel and reason", ["channel", "reason"]
)
RATE_LIMITED = Counter("roadie_rate_limited", "Messages or requests refused by a rate limit", ["channel", "scope"])

# The conversation a log line belongs to, as a short hash: never the chat id or phone number itself.
CONVERSATION: ContextVar[str] = ContextVar("roadie_conversation", default="")


def conversation_key(thread: str) -> str:
    """A stable, anonymous name for a conversation (the same on every worker): 16 hex digits of SHA-256."""
    return hashlib.sha256(thread.encode()).hexdigest()[:16]


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def observe_turn(channel: str, seconds: float, ok: bool, messages: Sequence[Any] = ()) -> None:
    """Count one answered turn and the tool calls in it (`messages`: the turn's LangChain messages)."""
    TURNS.labels(channel=channel, outcome="ok" if ok else "failed").inc()
    TURN_SECONDS.labels(channel=channel).observe(seconds)
    for message in messages:
        if getattr(message, "type", "") != "tool":
            continue
        artifact = getattr(message, "artifact", None)
        refused = isinstance(artifact, dict) and artifact.get("ok") is False
        TOOL_CALLS.labels(
            tool=getattr(message, "name", None) or "unknown", outcome="refused" if refused else "ok"
        ).inc()


class OutboxCollector(Collector):
    """Outbox depth and the age of its oldest due message, read from the database at each scrape.

    `read` returns {status: (count, oldest due_at or None)}; it runs on every scrape, so it must be one
    indexed query. The values are the database's, so every worker reports the same ones.
    """

    def __init__(self, read: Callable[[], dict[str, tuple[int, datetime | None]]], now: Callable[[], datetime]) -> None:
        self._read = read
        self._now = now

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily("roadie_outbox_depth", "Outbox messages by status", labels=["status"])
        age = GaugeMetricFamily(
            "roadie_outbox_oldest_due_age_seconds",
            "How long the oldest due, unsent message has waited",
            labels=["status"],
        )
        try:
            rows = self._read()
        except Exception:
            logging.getLogger(__name__).warning("outbox metrics unavailable: the database did not answer")
            return
        now = self._now()
        for status, (count, oldest) in sorted(rows.items()):
            depth.add_metric([status], count)
            if oldest is not None and status in ("queued", "sending"):
                age.add_metric([status], max(0.0, (now - oldest).total_seconds()))
        yield depth
        yield age


def render_metrics(extra: Sequence[Collector] = ()) -> bytes:
    """The Prometheus text for this process, or for all worker processes in multiprocess mode, plus `extra`."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if extra:
        own = CollectorRegistry()
        for collector in extra:
            own.register(collector)
        body += generate_latest(own)
    return body


def process_exited(pid: int | None = None) -> None:
    """Tell multiprocess mode that a worker is gone, so its live gauges stop counting (no-op otherwise)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message, worker and the anonymous conversation key.

    It adds nothing personal of its own (the conversation is a hash); scrubbing what a message itself
    contains is a logging.Filter's job, installed beside this formatter.
    """

    def __init__(self, worker: str) -> None:
        super().__init__()
        self._worker = worker

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "worker": self._worker,
        }
        conversation = getattr(record, "conversation", None) or CONVERSATION.get()
        if conversation:
            line["conversation"] = conversation
        if record.exc_info:
            line["error"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: int, log_format: str, worker: str, filters: Sequence[logging.Filter] = ()) -> None:
    """Log to stderr as text or JSON lines; `filters` (such as PII redaction) go on the same handler."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(worker))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for found in filters:
        handler.addFilter(found)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Per-request chatter stays out: httpx logs every URL it calls (Telegram's carry the bot token).
    for chatty in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
    if log_format == "json":  # uvicorn's own loggers print through the root handler too, as JSON
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True


WEBHOOK_PATHS = {"/telegram/webhook": "telegram", "/slack/events": "slack", "/whatsapp/webhook": "whatsapp"}
REASONS = {
    400: "malformed",
    401: "unauthenticated",
    403: "signature",
    404: "unknown",
    413: "too_large",
    429: "rate_limited",
}


ACCESS = logging.getLogger("roadie.access")


class WorkerHeader:
    """ASGI middleware: `X-Roadie-Worker` on every HTTP response names the process that answered, and
    refused webhook requests are counted in `roadie_webhook_rejects_total` by channel and reason.

    It also writes the access log (method, path without its query, status, milliseconds) in place of
    uvicorn's, which names the client's address: `serve` turns uvicorn's off.
    """

    def __init__(self, app: ASGIApp, worker: str) -> None:
        self.app = app
        self._worker = worker.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        channel = WEBHOOK_PATHS.get(scope.get("path", ""))
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                ACCESS.info(
                    "%s %s %s %.0f ms",
                    scope.get("method", ""),
                    scope.get("path", ""),
                    message["status"],
                    (time.perf_counter() - started) * 1000,
                )
                message["headers"] = [*message.get("headers", []), (b"x-roadie-worker", self._worker)]
                status = int(message["status"])
                if channel and status in REASONS:
                    WEBHOOK_REJECTS.labels(channel=channel, reason=REASONS.get(status, str(status))).inc()
            await send(message)

        await self.app(scope, receive, sending)
