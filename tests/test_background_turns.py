"""Turns after the ack: a burst of webhooks is acknowledged before its turns take the CPU, and none is starved."""

from __future__ import annotations

import asyncio
import time

from assistant.messages import ConversationKey, Inbound, Reply
from channels.base import BackgroundTurns


def inbound(n: int) -> Inbound:
    return Inbound(ConversationKey("bench", f"chat{n}"), f"message {n}", message_id=str(n))


async def test_turns_wait_while_webhooks_keep_arriving_then_run_in_arrival_order() -> None:
    turns = BackgroundTurns(turns_at_once=1, quiet_s=0.05, wait_at_most_s=5.0)
    started: dict[str, float] = {}

    async def handle(message: Inbound) -> Reply:
        started[message.text] = time.monotonic()
        return Reply("ok")

    async def deliver(reply: Reply) -> None:
        return None

    for n in range(5):  # a burst: a webhook every 20 ms, closer together than the quiet gap
        turns.run(handle, inbound(n), deliver)
        await asyncio.sleep(0.02)
    burst_ended = time.monotonic()
    assert not started, "no turn may start while the burst is still being acknowledged"
    await turns.drain()
    assert list(started) == [f"message {n}" for n in range(5)]
    assert min(started.values()) >= burst_ended + 0.02


async def test_a_steady_stream_still_gets_answers_at_most_wait_at_most_s_late() -> None:
    turns = BackgroundTurns(turns_at_once=1, quiet_s=0.05, wait_at_most_s=0.2)
    started: list[float] = []
    first = time.monotonic()

    async def handle(message: Inbound) -> Reply | None:
        started.append(time.monotonic())
        return None

    async def deliver(reply: Reply) -> None:
        return None

    for n in range(20):  # 0.4 s of webhooks 20 ms apart: never quiet for 50 ms
        turns.run(handle, inbound(n), deliver)
        await asyncio.sleep(0.02)
    assert started, "the first turn starts once its webhook is wait_at_most_s old, though webhooks keep coming"
    assert started[0] - first < 0.3
    await turns.drain()
    assert len(started) == 20


async def test_stopping_gives_a_stuck_turn_the_shutdown_grace_and_no_more() -> None:
    turns = BackgroundTurns(turns_at_once=1, quiet_s=0.0, grace_s=0.3)
    cancelled = asyncio.Event()

    async def handle(message: Inbound) -> Reply:
        try:
            await asyncio.sleep(60)  # a turn stuck on a dead upstream
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Reply("never")

    async def deliver(reply: Reply) -> None:
        return None

    turns.run(handle, inbound(1), deliver)
    await asyncio.sleep(0.05)
    stopping = time.monotonic()
    await turns.drain()
    assert time.monotonic() - stopping < 5, "the worker stops after its grace, not after the turn's minute"
    await asyncio.wait_for(cancelled.wait(), 1)
