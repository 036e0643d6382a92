"""Benchmark: one offline turn through the whole service, p50 and p95 over N turns in one process.

Run: .venv/bin/python bench/turn_latency.py [--turns 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.clock import FixedClock
from assistant.messages import ConversationKey, Inbound
from assistant.settings import Settings
from bench.harness import MESSAGES
from evals.runner import EVAL_NOW
from knowledge.embeddings import Embedder
from main import start_roadie


async def run(turns: int) -> None:
    with tempfile.TemporaryDirectory(prefix="roadie-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url="", memory_url="", llm_base_url="", openai_api_key="")  # type: ignore[arg-type]
        # No embedding cache: every turn embeds its message, as a stream of new messages would.
        async with start_roadie(settings, FixedClock(EVAL_NOW), Embedder(cache_size=0)) as roadie:
            for warm in MESSAGES:  # first-use costs (SQL compilation, lazy imports) are not per-turn costs
                await roadie.service.handle(Inbound(ConversationKey("bench", "warm"), warm))
            latencies = []
            for i in range(turns):
                conversation = ConversationKey("bench", f"c{i // len(MESSAGES)}")
                text = MESSAGES[i % len(MESSAGES)]
                started = time.perf_counter()
                await roadie.service.handle(Inbound(conversation, text))
                latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(
        f"offline turn latency over {turns} turns: p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    asyncio.run(run(parser.parse_args().turns))
