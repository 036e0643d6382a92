"""Vector stores for Roadie's knowledge: chromadb (embedded or client/server) and an in-memory one for tests."""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from knowledge.embeddings import Embedder

Metadata = dict[str, str | int | float | bool]
PUBLIC = 0  # the `group` of a chunk anyone may read; a trip group's private chunks carry its id


@dataclass(frozen=True)
class Chunk:
    """A passage to retrieve: its id, its text and where it came from (doc, title, section, hash, group)."""

    id: str
    text: str
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk and its cosine similarity to the question."""

    chunk: Chunk
    score: float


class VectorStore(Protocol):
    """Where chunks and their vectors live; every filter is applied inside the query."""

    def upsert(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None: ...

    def delete(self, doc: str) -> None: ...

    def doc_hash(self, doc: str) -> str | None: ...

    def docs(self) -> set[str]: ...

    def query(
        self,
        vector: NDArray[np.float32],
        k: int,
        groups: Sequence[int] = (PUBLIC,),
        kind: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> list[Hit]: ...

    def count(self) -> int: ...


class MemoryStore:
    """All vectors in one matrix, searched exactly; filters mask rows before scoring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[Chunk] = []
        self._vectors = np.zeros((0, Embedder.dimension), dtype=np.float32)
        self._index: dict[str, int] = {}

    def upsert(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        with self._lock:
            fresh = [(c, v) for c, v in zip(chunks, vectors, strict=True) if c.id not in self._index]
            for chunk, vector in zip(chunks, vectors, strict=True):
                if chunk.id in self._index:
                    row = self._index[chunk.id]
                    self._chunks[row] = chunk
                    self._vectors[row] = vector
            if fresh:
                start = len(self._chunks)
                self._chunks += [c for c, _ in fresh]
                self._vectors = np.vstack([self._vectors, np.vstack([v for _, v in fresh]).astype(np.float32)])
                self._index.update({c.id: start + i for i, (c, _) in enumerate(fresh)})

    def delete(self, doc: str) -> None:
        with self._lock:
            keep = [i for i, c in enumerate(self._chunks) if c.metadata.get("doc") != doc]
            self._chunks = [self._chunks[i] for i in keep]
            self._vectors = self._vectors[keep] if keep else np.zeros((0, Embedder.dimension), dtype=np.float32)
            self._index = {c.id: i for i, c in enumerate(self._chunks)}

    def doc_hash(self, doc: str) -> str | None:
        return next((str(c.metadata.get("hash")) for c in self._chunks if c.metadata.get("doc") == doc), None)

    def docs(self) -> set[str]:
        return {str(c.metadata["doc"]) for c in self._chunks if "doc" in c.metadata}

    def query(
        self,
        vector: NDArray[np.float32],
        k: int,
        groups: Sequence[int] = (PUBLIC,),
        kind: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        with self._lock:
            allowed = set(groups)
            rows = [
                i
                for i, c in enumerate(self._chunks)
                if c.metadata.get("group", PUBLIC) in allowed
                and (kind is None or c.metadata.get("kind") == kind)
                and all(_matches(c.metadata.get(key), test) for key, test in (where or {}).items())
            ]
            if not rows:
                return []
            scores = self._vectors[rows] @ vector
            best = np.argsort(-scores)[:k]
            return [Hit(self._chunks[rows[i]], float(scores[i])) for i in best]

    def count(self) -> int:
        return len(self._chunks)


BOUNDS: dict[str, Callable[[Any, Any], bool]] = {
    "$gte": operator.ge,
    "$gt": operator.gt,
    "$lte": operator.le,
    "$lt": operator.lt,
    "$ne": operator.ne,
}


def _matches(value: Any, test: Any) -> bool:
    """The filters both stores understand: equality, or tests such as {"$gte": a, "$lt": b} and {"$ne": c}."""
    if not isinstance(test, Mapping):
        return bool(value == test)
    return value is not None and all(BOUNDS[op](value, bound) for op, bound in test.items())


class RoadieEmbeddingFunction:
    """chromadb's embedding-function interface over Roadie's bundled model (chromadb's default downloads one)."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def __call__(self, input: Sequence[str]) -> list[NDArray[np.float32]]:
        return list(self._embedder.embed(list(input)))

    def embed_query(self, input: Sequence[str]) -> list[NDArray[np.float32]]:
        return self(input)

    @staticmethod
    def name() -> str:
        return "roadie-all-minilm-l6-v2"

    def is_legacy(self) -> bool:
        return False

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> RoadieEmbeddingFunction:
        return RoadieEmbeddingFunction(Embedder())

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        return None

    def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
        return None


class ChromaStore:
    """A chromadb collection: embedded and persistent under a path, or a chromadb server when `host` is set."""

    def __init__(
        self, embedder: Embedder, path: Path | None = None, host: str = "", port: int = 8000, name: str = "roadie"
    ) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        quiet = ChromaSettings(anonymized_telemetry=False)
        if host:
            client: Any = chromadb.HttpClient(host=host, port=port, settings=quiet)
        else:
            assert path is not None, "an embedded store needs a path"
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=quiet)
        self._collection = client.get_or_create_collection(
            name,
            embedding_function=RoadieEmbeddingFunction(embedder),
            metadata={"hnsw:space": "cosine"},
        )

    def upsert(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        for start in range(0, len(chunks), 5000):  # chromadb caps one call's batch size
            part = chunks[start : start + 5000]
            self._collection.upsert(
                ids=[c.id for c in part],
                documents=[c.text for c in part],
                metadatas=[c.metadata for c in part],
                embeddings=vectors[start : start + 5000],
            )

    def delete(self, doc: str) -> None:
        self._collection.delete(where={"doc": doc})

    def doc_hash(self, doc: str) -> str | None:
        found = self._collection.get(where={"doc": doc}, limit=1, include=["metadatas"])
        metadatas = found.get("metadatas") or []
        return str(metadatas[0].get("hash")) if metadatas else None

    def docs(self) -> set[str]:
        found = self._collection.get(include=["metadatas"])
        return {str(m["doc"]) for m in (found.get("metadatas") or []) if m and "doc" in m}

    def query(
        self,
        vector: NDArray[np.float32],
        k: int,
        groups: Sequence[int] = (PUBLIC,),
        kind: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        tests: list[dict[str, Any]] = [{"group": {"$in": list(groups)}}]
        if kind is not None:
            tests.append({"kind": kind})
        for key, test in (where or {}).items():
            if isinstance(test, Mapping):
                tests += [{key: {op: value}} for op, value in test.items()]
            else:
                tests.append({key: test})
        found = self._collection.query(
            query_embeddings=[vector],
            n_results=k,
            where=tests[0] if len(tests) == 1 else {"$and": tests},
            include=["documents", "metadatas", "distances"],
        )
        ids = (found.get("ids") or [[]])[0]
        texts = (found.get("documents") or [[]])[0]
        metadatas = (found.get("metadatas") or [[]])[0]
        distances = (found.get("distances") or [[]])[0]
        return [
            Hit(Chunk(i, t or "", dict(m or {})), 1.0 - float(d))
            for i, t, m, d in zip(ids, texts, metadatas, distances, strict=True)
        ]

    def count(self) -> int:
        return int(self._collection.count())


def open_store(embedder: Embedder, settings: Mapping[str, Any]) -> VectorStore:
    """The store the settings ask for: a chromadb server by host, else embedded under the data dir."""
    host = str(settings.get("chroma_host") or "")
    if host:
        return ChromaStore(embedder, host=host, port=int(settings.get("chroma_port") or 8000))
    return ChromaStore(embedder, path=Path(settings["data_dir"]) / "knowledge")
