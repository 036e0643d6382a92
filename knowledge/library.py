"""Roadie's documents: chunked by section, indexed incrementally (only changed ones re-embedded), searched with filters."""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from knowledge.embeddings import Embedder
from knowledge.store import PUBLIC, Chunk, Hit, Metadata, VectorStore

DOCS = Path(__file__).resolve().parent / "docs"
MAX_CHUNK_CHARS = 900
SECTION = re.compile(r"^##\s+(.+)$", re.M)
CANDIDATES = 15  # passages fetched by meaning before the question's own words reorder them
WORD_WEIGHT = 0.03  # what a word found in only a few of those candidates adds to a passage's rank, per unit of idf
WORD = re.compile(r"[^\W_]+")


@dataclass
class IngestReport:
    """What an ingest did."""

    documents: int = 0
    changed: int = 0
    removed: int = 0
    chunks: int = 0
    seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (
            f"{self.documents} documents: {self.changed} indexed, {self.documents - self.changed} unchanged, "
            f"{self.removed} removed; {self.chunks} chunks in {self.seconds:.1f} s"
        )


def chunk_document(doc: str, text: str, group: int = PUBLIC, kind: str = "doc") -> list[Chunk]:
    """One chunk per `## ` section (long ones split at paragraphs), each carrying its document's title."""
    lines = text.strip().splitlines()
    title = lines[0].lstrip("# ").strip() if lines and lines[0].startswith("#") else Path(doc).stem
    body = "\n".join(lines[1:]) if lines and lines[0].startswith("#") else text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    starts = [(m.start(), m.group(1).strip()) for m in SECTION.finditer(body)]
    sections = [("", body[: starts[0][0]] if starts else body)]
    sections += [
        (name, body[pos : starts[i + 1][0] if i + 1 < len(starts) else len(body)])
        for i, (pos, name) in enumerate(starts)
    ]
    chunks: list[Chunk] = []
    for name, raw in sections:
        content = SECTION.sub("", raw, count=1).strip()
        if not content:
            continue
        for part in _pieces(content):
            heading = f"{title} — {name}" if name else title
            chunks.append(
                Chunk(
                    id=f"{doc}#{len(chunks)}",
                    text=f"{heading}\n{part}",
                    metadata={
                        "doc": doc,
                        "title": title,
                        "section": name,
                        "hash": digest,
                        "group": group,
                        "kind": kind,
                    },
                )
            )
    return chunks


def _pieces(content: str) -> list[str]:
    if len(content) <= MAX_CHUNK_CHARS:
        return [content]
    pieces, current = [], ""
    for paragraph in content.split("\n\n"):
        if current and len(current) + len(paragraph) > MAX_CHUNK_CHARS:
            pieces.append(current.strip())
            current = ""
        current += paragraph + "\n\n"
    return [*pieces, current.strip()] if current.strip() else pieces


def _words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def rerank(question: str, hits: list[Hit]) -> list[Hit]:
    """`hits` reordered by meaning plus the question's words that set a passage apart from the other candidates.

    Sentence embeddings blur rarer words ("log", "browser", "price drops") and let a named place outweigh the rest of
    a question. A word counts here by how few candidates contain it, so "the", or a city every candidate names, counts
    for nothing. Each hit keeps its cosine score, so thresholds on it keep their meaning.
    """
    asked = _words(question)
    found = [asked & _words(h.chunk.text) for h in hits]
    among = Counter(w for words in found for w in words)
    idf = {w: math.log((len(hits) + 1) / (n + 1)) for w, n in among.items()}
    ranked = sorted(
        range(len(hits)), key=lambda i: hits[i].score + WORD_WEIGHT * sum(idf[w] for w in found[i]), reverse=True
    )
    return [hits[i] for i in ranked]


class Library:
    """The documents Roadie answers from, over a vector store and the bundled embedding model."""

    def __init__(self, store: VectorStore, embedder: Embedder, docs_dir: Path = DOCS) -> None:
        self.store = store
        self._embedder = embedder
        self._docs_dir = docs_dir
        self._first_use = threading.Lock()
        self._ready = False

    def ensure_indexed(self) -> None:
        """Index the documents once if this store has never seen them (`ingest` does it ahead of time)."""
        if self._ready:
            return
        with self._first_use:
            if not self._ready and not any(not d.startswith(("group/", "event/")) for d in self.store.docs()):
                self.ingest()
            self._ready = True

    def ingest(self) -> IngestReport:
        """Index every Markdown document under the docs folder; unchanged ones are skipped, deleted ones removed."""
        started = time.perf_counter()
        report = IngestReport()
        seen: set[str] = set()
        changed: list[Chunk] = []
        for path in sorted(self._docs_dir.rglob("*.md")):
            doc = path.relative_to(self._docs_dir).as_posix()
            seen.add(doc)
            report.documents += 1
            chunks = chunk_document(doc, path.read_text(encoding="utf-8"))
            if chunks and self.store.doc_hash(doc) != chunks[0].metadata["hash"]:
                self.store.delete(doc)
                changed += chunks
                report.changed += 1
        if changed:  # embedded and stored together: one model run and one store write for the lot
            self.store.upsert(changed, self._embedder.embed([c.text for c in changed]))
            report.chunks = len(changed)
        for gone in sorted(d for d in self.store.docs() if d not in seen and not d.startswith(("group/", "event/"))):
            self.store.delete(gone)
            report.removed += 1
        report.seconds = time.perf_counter() - started
        return report

    def put(self, doc: str, text: str, group: int = PUBLIC, kind: str = "doc", extra: Metadata | None = None) -> int:
        """Index one document unless it is unchanged; the number of chunks embedded. `extra` is filterable metadata."""
        chunks = chunk_document(doc, text, group, kind)
        if extra:
            chunks = [Chunk(c.id, c.text, {**c.metadata, **extra}) for c in chunks]
        if chunks and self.store.doc_hash(doc) == chunks[0].metadata["hash"]:
            return 0
        self.store.delete(doc)
        if chunks:
            self.store.upsert(chunks, self._embedder.embed([c.text for c in chunks]))
        return len(chunks)

    def embed(self, text: str) -> NDArray[np.float32]:
        """The vector of a text, from the same model the documents were indexed with."""
        return self._embedder.embed_one(text)

    def search(
        self, question: str, k: int = 3, groups: Sequence[int] = (PUBLIC,), kind: str | None = "doc"
    ) -> list[Hit]:
        """The `k` passages that best answer `question` among those the asker may read (see `rerank`)."""
        self.ensure_indexed()
        candidates = self.store.query(self._embedder.embed_one(question), max(k, CANDIDATES), groups=groups, kind=kind)
        return rerank(question, candidates)[:k]
