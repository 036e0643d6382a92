"""Scores Roadie's guides: does the right document come back for a question, and "I don't know" for the rest."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.embeddings import Embedder
from knowledge.library import Library
from knowledge.store import MemoryStore
from tools.knowledge import answer_from


def _shared_data() -> Path:
    """The team's shared evaluation data: `../shared/data` beside the checkout (or above it), if present."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    return Path(__file__).resolve().parents[2] / "shared" / "data"


CLINC = _shared_data() / "clinc150" / "clinc150_dev.json"


@dataclass(frozen=True)
class Question:
    """A question and the document that answers it (None: no document does, Roadie should say so)."""

    id: str
    question: str
    doc: str | None


def load_questions(path: Path) -> list[Question]:
    """Read a JSONL file of {"id", "question", "doc"} (doc null for unanswerable), skipping blanks and // lines."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        raw = json.loads(line)
        if "question" not in raw:
            raise ValueError(f"{path}:{number}: a retrieval case needs a question")
        found.append(Question(raw.get("id", f"line-{number}"), raw["question"], raw.get("doc")))
    return found


def clinc_unanswerable(count: int = 50) -> list[Question]:
    """Real requests that fit no intent (CLINC150's out-of-scope split): none of Roadie's guides answers them."""
    requests = json.loads(CLINC.read_text(encoding="utf-8"))["oos"]
    return [Question(f"clinc-oos-{i:03d}", text, None) for i, text in enumerate(requests[:count], start=1)]


def is_retrieval_dataset(path: Path) -> bool:
    """True for a retrieval dataset (questions with the document that answers them)."""
    first = next(
        (line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("//")),
        "",
    )
    return bool(first) and "question" in json.loads(first) and "message" not in json.loads(first)


def score(library: Library, questions: list[Question], k: int = 3) -> dict[str, Any]:
    """recall@k on answerable questions, the "I don't know" rate on the rest, and search latency."""
    latencies: list[float] = []
    hits = known = declined = unknown = 0
    failures: list[dict[str, Any]] = []
    library.ensure_indexed()
    for q in questions:
        started = time.perf_counter()
        found = library.search(q.question, k=k)
        latencies.append((time.perf_counter() - started) * 1000)
        answer = answer_from(found)
        docs = [h.chunk.metadata.get("doc") for h in found]
        if q.doc is None:
            unknown += 1
            declined += not answer.data.get("answered")
            if answer.data.get("answered"):
                failures.append({"id": q.id, "question": q.question, "expected": None, "got": docs[:1]})
        else:
            known += 1
            hits += q.doc in docs
            if q.doc not in docs:
                failures.append({"id": q.id, "question": q.question, "expected": q.doc, "got": docs})
    ordered = sorted(latencies)
    return {
        "questions": known,
        "unanswerable": unknown,
        f"recall_at_{k}": round(hits / known, 4) if known else 0.0,
        "dont_know_rate": round(declined / unknown, 4) if unknown else 0.0,
        "latency_ms": {
            "p50": round(statistics.median(ordered), 1) if ordered else 0.0,
            "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1) if ordered else 0.0,
        },
        "failures": failures,
    }


def run_retrieval_eval(dataset: Path, embedder: Embedder | None = None, with_clinc: bool = True) -> dict[str, Any]:
    """Index the guides in memory, as Roadie searches them, and score `dataset` (plus 50 CLINC150 out-of-scope)."""
    library = Library(MemoryStore(), (embedder or Embedder()).quantized())
    questions = load_questions(dataset) + (clinc_unanswerable() if with_clinc and CLINC.exists() else [])
    return {"dataset": str(dataset), **score(library, questions)}
