"""Benchmark: ingest throughput of Roadie's guides, and retrieval latency with the store grown to 100,000 chunks.

The guides are indexed into a fresh embedded chromadb store (chunks per second, embedding included). The store
is then filled with synthetic chunks (random unit vectors, public and private groups mixed) up to `--chunks`,
and real questions are asked: the figures are the whole search (embedding the question, then the filtered
HNSW query) and the store query alone.

Run: .venv/bin/python bench/knowledge_retrieval.py [--chunks 100000 --questions 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from knowledge.embeddings import Embedder
from knowledge.library import Library
from knowledge.store import PUBLIC, ChromaStore, Chunk

QUESTIONS = (
    "can I bring a backpack into {venue}?",
    "how do I get from the airport to {venue}?",
    "is {venue} wheelchair accessible?",
    "where should I stay near {venue}?",
    "how do I get to {venue} from the station?",
    "food and drink at {venue}",
    "late night transport after a show in {city}",
    "is {city} safe at night?",
    "what's the refund policy if I cancel {n} days before?",
    "how do group trips work for {n} friends?",
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def questions(count: int) -> list[str]:
    """Distinct real-looking questions (distinct so the embedding cache never answers for the model)."""
    from assistant.catalogue import VENUES

    asked = []
    for i in range(count):
        venue = VENUES[(i // len(QUESTIONS)) % len(VENUES)]  # every question about every venue
        asked.append(QUESTIONS[i % len(QUESTIONS)].format(venue=venue.name, city=venue.city, n=i % 40 + 2))
    return list(dict.fromkeys(asked))  # duplicates would be answered from the embedding cache


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=300)
    args = parser.parse_args()
    embedder = Embedder()
    embedder.warm_up()
    with tempfile.TemporaryDirectory() as folder:
        store = ChromaStore(embedder, path=Path(folder) / "chroma")
        library = Library(store, embedder)
        report = library.ingest()
        print(f"ingest: {report.summary()} → {report.chunks_per_second:.0f} chunks/s (embedding included)")

        rng = np.random.default_rng(7)
        started, added = time.perf_counter(), store.count()
        while added < args.chunks:
            n = min(5000, args.chunks - added)
            vectors = rng.normal(size=(n, Embedder.dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            chunks = [
                Chunk(
                    f"synthetic/{added + i}",
                    f"synthetic passage {added + i}",
                    {
                        "doc": f"synthetic/{(added + i) // 8}",
                        "hash": "x",
                        "group": PUBLIC if i % 10 else (added + i) % 500 + 1,
                        "kind": "doc",
                    },
                )
                for i in range(n)
            ]
            store.upsert(chunks, vectors)
            added += n
        print(f"store grown to {store.count():,} chunks in {time.perf_counter() - started:.0f} s")

        asked = questions(args.questions)
        vectors = embedder.embed(asked[:20])  # warm the query path
        for v in vectors:
            store.query(v, 3, groups=[PUBLIC, 3])
        embedder = Embedder()  # a cold cache: every question below is embedded by the model
        embedder.warm_up()
        library = Library(store, embedder)
        whole, query_only, members = [], [], []
        for i, question in enumerate(asked):
            member = i % 10 == 0  # one question in ten comes from someone in a trip group
            groups = [PUBLIC, i % 500 + 1] if member else [PUBLIC]
            t0 = time.perf_counter()
            vector = embedder.embed_one(question)
            t1 = time.perf_counter()
            store.query(vector, 3, groups=groups)
            t2 = time.perf_counter()
            whole.append((t2 - t0) * 1000)
            query_only.append((t2 - t1) * 1000)
            if member:
                members.append((t2 - t1) * 1000)
        print(
            f"{len(asked)} questions at {store.count():,} chunks: whole search p50 {statistics.median(whole):.1f} ms, "
            f"p95 {percentile(whole, 0.95):.1f} ms; store query alone p50 {statistics.median(query_only):.1f} ms, "
            f"p95 {percentile(query_only, 0.95):.1f} ms; for group members (their private chunks searched too) "
            f"p50 {statistics.median(members):.1f} ms, p95 {percentile(members, 0.95):.1f} ms"
        )


if __name__ == "__main__":
    main()
