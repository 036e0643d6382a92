"""Benchmark: what the rate limits cost per message, in memory and in Redis (one Lua script per message).

Run: .venv/bin/python bench/rate_limits.py [--redis redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.ratelimit import Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter


async def timed(limiter: RateLimiter, checks: int) -> tuple[float, float]:
    """p50 and p95 of one check (µs): 500 people on one channel, 20 messages a minute each."""
    took = []
    for i in range(checks):
        limits = [Limit("person", f"p:{i % 500}", 20, 60), Limit("channel", "c:web", 3000, 60)]
        started = time.perf_counter()
        await limiter.check(limits)
        took.append((time.perf_counter() - started) * 1e6)
    took.sort()
    return statistics.median(took), took[int(0.95 * (len(took) - 1))]


async def run(redis_url: str) -> None:
    print("in memory: p50 %.1f µs, p95 %.1f µs" % await timed(MemoryRateLimiter(), 20_000))
    import redis.asyncio as redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    prefix = f"roadie-bench:{uuid.uuid4().hex[:6]}:"
    try:
        await client.ping()
    except Exception as error:
        print(f"Redis at {redis_url} not reachable ({type(error).__name__}); skipped")
        await client.aclose()
        return
    try:
        print("in Redis:  p50 %.1f µs, p95 %.1f µs" % await timed(RedisRateLimiter(client, prefix), 5_000))
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    asyncio.run(run(parser.parse_args().redis))
