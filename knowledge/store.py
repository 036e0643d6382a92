"""Vector stores for Roadie's knowledge: chromadb (embedded or client/server) and an in-memory one for tests."""

from __future__ import annotations

import logging
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
log = logging.getLogger(__name__)
SERVER_TIMEOUT_S = 20.0  # one request to a chromadb server (its own client waits forever)
PAGE = 5000  # chunks read or written in one chromadb call (it caps a batch, and a read of too many fails)


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
    """chromadb, embedded and persistent under a path or a server when `host` is set.

    Public chunks live in one collection per kind (guides, shows) and every group's private chunks in
    another, so the common question — public guides only — is a plain HNSW search with no metadata
    filter, and the group filter runs inside the query over the small private collection. A collection's
    name carries the encoder its vectors came from (`roadie-doc.all-minilm-l6-v2-int8`); one made by
    another encoder is re-embedded from its stored texts when the store opens, so nothing is lost and
    no question is compared with vectors of another model.
    """

    def __init__(
        self,
        embedder: Embedder,
        path: Path | None = None,
        host: str = "",
        port: int = 8000,
        name: str = "roadie",
        timeout_s: float = SERVER_TIMEOUT_S,
    ) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        quiet = ChromaSettings(anonymized_telemetry=False)
        if host:
            self._client: Any = _http_client(host, port, quiet, timeout_s)
        else:
            assert path is not None, "an embedded store needs a path"
            path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(path), settings=quiet)
        self._name = name
        self._embedder = embedder
        self._function = RoadieEmbeddingFunction(embedder)
        self._collections: dict[str, Any] = {}
        for label, _, encoder in self._listed():
            if encoder != embedder.encoder:
                self._reembed(label)
        for _, part, encoder in self._listed():  # listed again: another worker may have moved a part
            if encoder == embedder.encoder:
                self._part(part)

    def _listed(self) -> list[tuple[str, str, str]]:
        """Roadie's collections as (name, part, encoder); the oldest names carry no encoder."""
        found = []
        for existing in self._client.list_collections():
            label = existing if isinstance(existing, str) else existing.name
            if label.startswith(f"{self._name}-"):
                part, _, encoder = label.removeprefix(f"{self._name}-").partition(".")
                found.append((label, part, encoder))
        return found

    def _part(self, part: str) -> Any:
        if part not in self._collections:
            self._collections[part] = self._client.get_or_create_collection(
                f"{self._name}-{part}.{self._embedder.encoder}",
                embedding_function=self._function,
                metadata={"hnsw:space": "cosine"},
            )
        return self._collections[part]

    def _reembed(self, label: str) -> None:
        """Move a collection indexed by another encoder into this encoder's, embedding its stored texts anew.

        Workers starting together against one chromadb server may all move it: writes are upserts of the same
        vectors, and whoever finds the old collection already gone leaves the move to the one that finished it.
        """
        from chromadb.errors import NotFoundError

        try:
            old = self._client.get_collection(label, embedding_function=None)
            total = int(old.count())
            log.info("re-embedding %d passages of %s with %s", total, label, self._embedder.encoder)
            for start in range(0, total, PAGE):
                found = old.get(include=["documents", "metadatas"], limit=PAGE, offset=start)
                chunks = [
                    Chunk(i, t or "", dict(m or {}))
                    for i, t, m in zip(found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True)
                ]
                self.upsert(chunks, self._embedder.embed([c.text for c in chunks]))
            self._client.delete_collection(label)
        except NotFoundError:
            log.info("%s was moved to %s by another worker", label, self._embedder.encoder)

    @staticmethod
    def _part_of(metadata: Metadata) -> str:
        return "private" if metadata.get("group", PUBLIC) != PUBLIC else str(metadata.get("kind", "doc"))

    def upsert(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        by_part: dict[str, list[int]] = {}
        for row, chunk in enumerate(chunks):
            by_part.setdefault(self._part_of(chunk.metadata), []).append(row)
        for part, rows in by_part.items():
            for start in range(0, len(rows), PAGE):
                batch = rows[start : start + PAGE]
                self._part(part).upsert(
                    ids=[chunks[r].id for r in batch],
                    documents=[chunks[r].text for r in batch],
                    metadatas=[chunks[r].metadata for r in batch],
                    embeddings=vectors[batch],
                )

    def delete(self, doc: str) -> None:
        for collection in self._collections.values():
            collection.delete(where={"doc": doc})

    def doc_hash(self, doc: str) -> str | None:
        for collection in self._collections.values():
            found = collection.get(where={"doc": doc}, limit=1, include=["metadatas"])
            metadatas = found.get("metadatas") or []
            if metadatas:
                return str(metadatas[0].get("hash"))
        return None

    def docs(self) -> set[str]:
        names: set[str] = set()
        for collection in self._collections.values():
            for start in range(0, int(collection.count()), PAGE):  # chromadb fails on one read of a large store
                found = collection.get(include=["metadatas"], limit=PAGE, offset=start)
                names |= {str(m["doc"]) for m in (found.get("metadatas") or []) if m and "doc" in m}
        return names

    def query(
        self,
        vector: NDArray[np.float32],
        k: int,
        groups: Sequence[int] = (PUBLIC,),
        kind: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        tests: list[dict[str, Any]] = []
        for key, test in (where or {}).items():
            if isinstance(test, Mapping):
                tests += [{key: {op: value}} for op, value in test.items()]
            else:
                tests.append({key: test})
        searches: list[tuple[Any, list[dict[str, Any]]]] = []
        if PUBLIC in groups:
            parts = [kind] if kind is not None else [p for p in self._collections if p != "private"]
            searches += [(self._collections[p], tests) for p in parts if p in self._collections]
        private = [g for g in groups if g != PUBLIC]
        if private and "private" in self._collections:
            mine: list[dict[str, Any]] = [{"group": {"$in": private}}, *([{"kind": kind}] if kind else []), *tests]
            searches.append((self._collections["private"], mine))
        hits: list[Hit] = []
        for collection, filters in searches:
            found = collection.query(
                query_embeddings=[vector],
                n_results=k,
                where=None if not filters else filters[0] if len(filters) == 1 else {"$and": filters},
                include=["documents", "metadatas", "distances"],
            )
            ids = (found.get("ids") or [[]])[0]
            texts = (found.get("documents") or [[]])[0]
            metadatas = (found.get("metadatas") or [[]])[0]
            distances = (found.get("distances") or [[]])[0]
            hits += [
                Hit(Chunk(i, t or "", dict(m or {})), 1.0 - float(d))
                for i, t, m, d in zip(ids, texts, metadatas, distances, strict=True)
            ]
        return sorted(hits, key=lambda h: -h.score)[:k]

    def count(self) -> int:
        return sum(int(c.count()) for c in self._collections.values())


def open_store(embedder: Embedder, settings: Mapping[str, Any]) -> VectorStore:
    """The store the settings ask for: a chromadb server by host, else embedded under the data dir."""
    host = str(settings.get("chroma_host") or "")
    if host:
        timeout_s = float(settings.get("timeout_s") or SERVER_TIMEOUT_S)
        return ChromaStore(embedder, host=host, port=int(settings.get("chroma_port") or 8000), timeout_s=timeout_s)
    return ChromaStore(embedder, path=Path(settings["data_dir"]) / "knowledge")


def _http_client(host: str, port: int, settings: Any, timeout_s: float) -> Any:
    """A chromadb HttpClient whose requests give up after `timeout_s` (chromadb's own client waits forever).

    The client talks to the server while it is built (tenant and database checks), before a timeout can be
    set on its session, so building it waits at most `timeout_s` too; the timeout then goes on the session.
    """
    import threading

    import chromadb
    import httpx

    built: list[Any] = []
    failed: list[BaseException] = []

    def build() -> None:
        try:
            built.append(chromadb.HttpClient(host=host, port=port, settings=settings))
        except BaseException as error:  # handed to the caller below
            failed.append(error)

    # A daemon thread: if the server never answers, it must not keep the process from exiting.
    worker = threading.Thread(target=build, name="roadie-chroma-connect", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if failed:
        raise failed[0]
    if not built:
        raise TimeoutError(f"chromadb server at {host}:{port} did not answer within {timeout_s:g} s")
    client = built[0]
    client._server._session.timeout = httpx.Timeout(timeout_s)
    return client
