"""Roadie's outbound pacing: never faster than a platform allows, and not slower either when the host is busy."""

from __future__ import annotations

import asyncio
import itertools
import time

from channels.pacing import Pacer


async def test_a_burst_for_many_chats_never_passes_the_overall_rate() -> None:
    pacer = Pacer(interval=1.0, overall_per_s=30)
    left: list[float] = []

    async def send(chat: str) -> None:
        await pacer.wait(chat)
        left.append(time.monotonic())

    await asyncio.gather(*(send(f"chat-{i}") for i in range(75)))
    assert len(left) == 75
    busiest = max(sum(1 for t in left if start <= t < start + 1.0) for start in left)
    assert busiest <= 30


async def test_one_chat_gets_one_message_per_interval() -> None:
    pacer = Pacer(interval=0.2, overall_per_s=30)
    left: list[float] = []
    for _ in range(4):
        await pacer.wait("ana")
        left.append(time.monotonic())
    assert all(later - earlier >= 0.2 - 1e-3 for earlier, later in itertools.pairwise(left))


async def test_a_stalled_host_does_not_lose_the_sends_it_was_owed() -> None:
    """After the event loop is blocked for a moment, the next sends go at once instead of waiting their old turn."""
    pacer = Pacer(interval=1.0, overall_per_s=10)
    for i in range(10):
        await pacer.wait(f"warm-{i}")
    time.sleep(1.0)  # noqa: ASYNC251 - the host was busy for a whole window: nothing was sent in it
    started = time.monotonic()
    for i in range(10):
        await pacer.wait(f"chat-{i}")
    assert time.monotonic() - started < 0.5, "a whole window's allowance was free again"
