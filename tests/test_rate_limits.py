"""Rate limits: a flood from one person is answered once, in their language, and counted; others go on.

The in-memory limiter runs everywhere; the Redis one runs when Redis answers at ROADIE_TEST_REDIS_URL
(default redis://127.0.0.1:6379/15) and is skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from assistant.clock import FixedClock
from assistant.ratelimit import (
    SLOW_DOWN,
    Limit,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    limits_for,
    slow_down_answer,
)
from assistant.settings import Settings
from channels.fake import FakeChannel
from knowledge.embeddings import Embedder
from main import Roadie, start_roadie
from tests.conftest import NOW

REDIS_URL = os.environ.get("ROADIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class Ticking:
    """A clock for the limiter that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def person(key: str = "p:ana", count: int = 3, window_s: float = 60.0) -> Limit:
    return Limit("person", key, count, window_s)


async def test_a_flood_is_refused_after_the_limit_and_answered_once_per_window() -> None:
    clock = Ticking()
    limiter = MemoryRateLimiter(now=clock)
    verdicts = [await limiter.check([person()]) for _ in range(6)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False, False]
    assert [v.answer for v in verdicts[3:]] == [True, False, False]
    assert verdicts[3].scope == "person"
    assert 59 <= verdicts[3].retry_after_s <= 60
    assert limiter.refused == {"person": 3}
    assert (await limiter.check([person("p:ben")])).allowed  # someone else is not held up

    clock.now += 61  # the window has moved on: welcome back, and a new flood is answered once again
    assert all([(await limiter.check([person()])).allowed for _ in range(3)])
    again = await limiter.check([person()])
    assert not again.allowed
    assert again.answer


async def test_the_channel_ceiling_holds_everyone_on_that_channel() -> None:
    limiter = MemoryRateLimiter(now=Ticking())
    channel = Limit("channel", "c:web", 4, 60)
    allowed = [(await limiter.check([person(f"p:{n}"), channel])).allowed for n in range(6)]
    assert allowed == [True, True, True, True, False, False]
    assert limiter.refused == {"channel": 2}
    other = Limit("channel", "c:telegram", 4, 60)
    assert (await limiter.check([person("p:zoe"), other])).allowed


def test_limits_come_from_settings_and_never_carry_the_handle() -> None:
    settings = Settings(rate_limit_per_person=20, rate_limit_per_channel=3000)  # type: ignore[call-arg]
    limits = limits_for(settings, "whatsapp", "+447700900123")
    assert [(limit.scope, limit.count) for limit in limits] == [("person", 20), ("channel", 3000)]
    assert all("447700900123" not in limit.key for limit in limits)
    off = Settings(rate_limit_per_person=0, rate_limit_per_channel=0)  # type: ignore[call-arg]
    assert limits_for(off, "web", "abc") == []


def test_the_answer_follows_the_language_of_the_message() -> None:
    assert slow_down_answer("any Coldplay shows?") == SLOW_DOWN["en"]
    assert slow_down_answer("hola, quiero ver conciertos de Coldplay") == SLOW_DOWN["es"]
    assert slow_down_answer("ich will bitte Konzerte sehen") == SLOW_DOWN["de"]
    assert slow_down_answer("bonjour, je veux aller avec vous") == SLOW_DOWN["fr"]
    assert slow_down_answer("olá, quero concertos") == SLOW_DOWN["pt"]


# Redis: the same behaviour, shared by every worker.


@pytest_asyncio.fixture
async def redis_limiters() -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    import redis.asyncio as redis

    prefix = f"roadie-test:{uuid.uuid4().hex[:8]}:rl:"
    first = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        await first.ping()
    except Exception as error:
        await first.aclose()
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {type(error).__name__}")
    second = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        yield RedisRateLimiter(first, prefix), RedisRateLimiter(second, prefix)
    finally:
        keys = [key async for key in first.scan_iter(match=prefix + "*")]
        if keys:
            await first.delete(*keys)
        await first.aclose()
        await second.aclose()


async def test_two_workers_share_one_window_in_redis(redis_limiters: tuple[RateLimiter, RateLimiter]) -> None:
    one, two = redis_limiters
    verdicts = [await (one if n % 2 else two).check([person(window_s=30)]) for n in range(6)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False, False]
    assert [v.answer for v in verdicts[3:]] == [True, False, False]  # answered once, whichever worker saw it
    assert 0 < verdicts[3].retry_after_s <= 30
    assert one.refused.get("person", 0) + two.refused.get("person", 0) == 3
    assert (await one.check([person("p:ben", window_s=30)])).allowed


async def test_a_short_window_in_redis_lets_the_person_back_in(
    redis_limiters: tuple[RateLimiter, RateLimiter],
) -> None:
    import asyncio

    one, _ = redis_limiters
    quick = person("p:quick", count=2, window_s=0.3)
    assert [(await one.check([quick])).allowed for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.4)
    assert (await one.check([quick])).allowed


async def test_a_redis_that_does_not_answer_lets_messages_through() -> None:
    import redis.asyncio as redis

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
    limiter = RedisRateLimiter(client)
    try:
        assert (await limiter.check([person()])).allowed
    finally:
        await client.aclose()


# Through the conversation service, as every channel reaches it.


@pytest_asyncio.fixture
async def strict_roadie(settings: Settings, embedder: Embedder) -> AsyncIterator[Roadie]:
    strict = settings.model_copy(update={"rate_limit_per_person": 3, "rate_limit_per_channel": 100})
    async with start_roadie(strict, FixedClock(NOW), embedder) as running:
        yield running


async def test_a_flooding_traveller_gets_one_friendly_answer_and_the_refusals_are_counted(
    strict_roadie: Roadie,
) -> None:
    chat = FakeChannel(strict_roadie.service.handle)
    replies = [await chat.say("any Coldplay shows?", user="ana") for _ in range(6)]
    assert all(r is not None and r.tool_calls for r in replies[:3])
    limited = replies[3]
    assert limited is not None
    assert limited.text == SLOW_DOWN["en"]
    assert not limited.tool_calls
    assert replies[4:] == [None, None]  # the rest of the flood gets no answer at all
    assert strict_roadie.service.rate_limited == 3
    assert strict_roadie.service.limiter.refused == {"person": 3}
    other = await chat.say("any Coldplay shows?", user="ben")
    assert other is not None
    assert other.tool_calls


async def test_people_who_went_quiet_are_forgotten_by_the_memory_limiter() -> None:
    from assistant.ratelimit import FORGET_ABOVE

    clock = Ticking()
    limiter = MemoryRateLimiter(now=clock)
    for n in range(FORGET_ABOVE):
        await limiter.check([person(f"p:{n}")])
    clock.now += 61
    await limiter.check([person("p:late")])
    await limiter.check([person("p:later")])
    assert len(limiter._seen) <= 2
