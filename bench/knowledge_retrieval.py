"""Benchmark: ingest throughput of Roadie's guides, and retrieval latency with the store grown to 100,000 chunks.

The guides are indexed into a fresh embedded chromadb store (chunks per second, embedding included) with the int8
encoder Roadie searches with. The store is then filled with synthetic chunks (random unit vectors, public and
private groups mixed) up to `--chunks`, and real questions are asked as `ask_knowledge` asks them: the whole search
(embedding the question, the filtered HNSW query for the candidates, reranking them), then its parts alone, and
the float model's embedding for comparison.

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
from knowledge.library import CANDIDATES, Library
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
    float_model = Embedder(cache_size=0)  # no cache: every question below is embedded by the model
    embedder = float_model.quantized()
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
        for question in asked[:20]:  # warm the query path
            library.search(question, groups=[PUBLIC, 3])
        whole, members, embedding, query, floats = [], [], [], [], []
        for i, question in enumerate(asked):
            member = i % 10 == 0  # one question in ten comes from someone in a trip group
            groups = [PUBLIC, i % 500 + 1] if member else [PUBLIC]
            t0 = time.perf_counter()
            library.search(question, k=3, groups=groups)
            t1 = time.perf_counter()
            vector = embedder.embed_one(question)
            t2 = time.perf_counter()
            store.query(vector, CANDIDATES, groups=groups, kind="doc")
            t3 = time.perf_counter()
            float_model.embed_one(question)
            t4 = time.perf_counter()
            (members if member else whole).append((t1 - t0) * 1000)
            embedding.append((t2 - t1) * 1000)
            query.append((t3 - t2) * 1000)
            floats.append((t4 - t3) * 1000)

        def spread(values: list[float]) -> str:
            return f"p50 {statistics.median(values):.1f} ms, p95 {percentile(values, 0.95):.1f} ms"

        print(f"{len(asked)} questions at {store.count():,} chunks, {CANDIDATES} candidates each:")
        print(
            f"  whole search: {spread(whole + members)}; for group members (their private chunks too) {spread(members)}"
        )
        print(f"  embedding the question (int8): {spread(embedding)}; with the float model: {spread(floats)}")
        print(f"  store query alone: {spread(query)}")


if __name__ == "__main__":
    main()
