"""Shared load harness for webhook benchmarks: fire signed requests concurrently and measure the acks."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx


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
        return f"{len(self.latencies_ms)} requests: ack p50 {self.p50:.1f} ms, p95 {self.p95:.1f} ms ({codes})"


async def fire(base_url: str, requests: Sequence[Request], concurrency: int = 20) -> AckReport:
    """Send every request with at most `concurrency` in flight; bounded by the length of `requests`."""
    report = AckReport()
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            request = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(request.path, content=request.body, headers=request.headers)
            report.latencies_ms.append((time.perf_counter() - started) * 1000)
            report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return report


async def wait_for(condition: object, timeout_s: float = 300.0) -> bool:
    """Poll a zero-argument callable until it returns true or `timeout_s` passes."""
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.2)
    return bool(condition())
