"""Every routing dataset, CLINC150's requests Roadie does not serve, and the scenarios, run on one app build."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from assistant.clock import FixedClock
from assistant.settings import Settings
from evals.retrieval import CLINC, is_retrieval_dataset, run_retrieval_eval
from evals.runner import EVAL_NOW, Case, load_cases, percentile, run_cases
from evals.scenarios import SCENARIOS, load_scenarios, run_scenarios
from knowledge.embeddings import Embedder

DATASETS = Path(__file__).resolve().parent / "datasets"
GUIDES = DATASETS / "knowledge.jsonl"  # questions for the guides, scored by retrieval
# CLINC150's travel intents that are none of Roadie's business (booking flights or hotels alone is left out:
# Roadie plans those as part of a trip to a show, so they are neither clearly in scope nor clearly out).
CLINC_NOT_ROADIE = (
    "plug_type",
    "travel_notification",
    "translate",
    "flight_status",
    "international_visa",
    "timezone",
    "exchange_rate",
    "travel_suggestion",
    "travel_alert",
    "vaccines",
    "lost_luggage",
    "carry_on",
    "car_rental",
)
CLINC_NAME = "clinc150-oos"


def routing_datasets(folder: Path = DATASETS) -> list[Path]:
    """The tool-routing datasets in `folder` (the guides' retrieval dataset is scored on its own)."""
    return [p for p in sorted(folder.glob("*.jsonl")) if p != SCENARIOS and not is_retrieval_dataset(p)]


def clinc_cases(per_intent: int = 30, source: Path = CLINC) -> list[Case]:
    """CLINC150's out-of-scope requests and a share of its travel intents Roadie does not serve, all out of scope."""
    if not source.exists():
        return []
    raw = json.loads(source.read_text(encoding="utf-8"))
    cases = [Case(id=f"clinc-oos-{i:03d}", message=text, expect_tool=None) for i, text in enumerate(raw["oos"], 1)]
    for intent in CLINC_NOT_ROADIE:
        for i, text in enumerate(raw["travel_intents"].get(intent, [])[:per_intent], 1):
            cases.append(Case(id=f"clinc-{intent}-{i:03d}", message=text, expect_tool=None))
    return cases


def combine(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One row over several reports: accuracies weighted by their cases, latency over every turn."""
    every = [ms for r in reports for ms in r.get("latencies", [])]
    in_scope = sum(r["in_scope"] for r in reports)
    out_scope = sum(r["out_of_scope"] for r in reports)

    def weighted(key: str, weight: str) -> float:
        total = sum(r[weight] for r in reports)
        return round(sum(r[key] * r[weight] for r in reports) / total, 4) if total else 1.0

    return {
        "dataset": "all",
        "cases": sum(r["cases"] for r in reports),
        "in_scope": in_scope,
        "out_of_scope": out_scope,
        "tool_accuracy": weighted("tool_accuracy", "in_scope"),
        "args_accuracy": weighted("args_accuracy", "in_scope"),
        "out_of_scope_accuracy": weighted("out_of_scope_accuracy", "out_of_scope"),
        "write_false_rate": weighted("write_false_rate", "out_of_scope"),
        "latency_ms": {"p50": round(percentile(every, 0.5), 1), "p95": round(percentile(every, 0.95), 1)},
        "failures": [f for r in reports for f in r["failures"]],
    }


async def run_suite(
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    *,
    datasets: list[Path] | None = None,
    clinc_per_intent: int = 30,
    scenarios: bool = True,
) -> dict[str, Any]:
    """Score every dataset, CLINC150 (when ../shared/data holds it) and the scenarios on one fresh demo database."""
    from main import start_roadie

    named = [(p.stem, load_cases(p)) for p in (datasets if datasets is not None else routing_datasets())]
    clinc = clinc_cases(clinc_per_intent)
    if clinc:
        named.append((CLINC_NAME, clinc))
    base = settings or Settings()
    reports: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="roadie-eval-") as tmp:
        update = {"data_dir": Path(tmp), "database_url": "", "memory_url": "", "knowledge_store": "memory"}
        async with start_roadie(base.model_copy(update=update), FixedClock(EVAL_NOW), embedder) as roadie:
            for name, cases in named:
                report = await run_cases(cases, roadie.service.handle, keep_latencies=True)
                reports.append({"dataset": name, **report})
            played = await run_scenarios(load_scenarios(), roadie) if scenarios else None
    own = [r for r in reports if r["dataset"] != CLINC_NAME]
    project, everything = combine(own), combine(reports)
    for report in reports:
        report.pop("latencies", None)
    return {
        "datasets": reports,
        "project": project,
        "all": everything,
        "clinc": "" if clinc else f"CLINC150 skipped: {CLINC} is not there (../shared/data beside the checkout)",
        "scenarios": played,
    }


def format_table(suite: dict[str, Any]) -> str:
    """The suite as one table: a row per dataset, the project's datasets together, everything, then scenarios."""
    head = f"{'dataset':<16}{'cases':>6}{'tool':>8}{'args':>8}{'oos':>8}{'n oos':>6}{'write!':>8}{'p50 ms':>8}{'p95 ms':>8}"
    lines = [head, "-" * len(head)]
    project = {**suite["project"], "dataset": "project (all)"}
    everything = {**suite["all"], "dataset": "with CLINC150"}
    for row in [*suite["datasets"], project, everything]:
        if row is project or row is everything:
            lines.append("-" * len(head))
        lines.append(
            f"{row['dataset']:<16}{row['cases']:>6}{row['tool_accuracy']:>8.1%}{row['args_accuracy']:>8.1%}"
            f"{row['out_of_scope_accuracy']:>8.1%}{row['out_of_scope']:>6}{row['write_false_rate']:>8.1%}"
            f"{row['latency_ms']['p50']:>8.1f}{row['latency_ms']['p95']:>8.1f}"
        )
    if suite["clinc"]:
        lines.append(suite["clinc"])
    played = suite.get("scenarios")
    if played:
        lines.append(
            f"scenarios       {played['scenarios']} scenarios × {played['k']} variants ({played['runs']} runs): "
            f"pass^1 {played['pass_1']:.1%}, pass^{played['k']} {played['pass_k']:.1%}"
        )
    return "\n".join(lines)


def format_failures(suite: dict[str, Any]) -> str:
    """Every failing case and scenario variant, one line each."""
    lines = [f"  ✗ {f['id']}: {f['message']!r} — {f['why']}" for f in suite["all"]["failures"]]
    played = suite.get("scenarios") or {}
    lines += [f"  ✗ {f['id']}: {f['why']}" for f in played.get("failures", [])]
    guides = (suite.get("guides") or {}).get("failures", [])
    lines += [f"  ✗ {f['id']}: {f['question']!r} — wanted {f['expected']}, found {f['got']}" for f in guides]
    return "\n".join(lines)


def print_suite(settings: Settings, as_json: bool = False, failures: bool = False, clinc_per_intent: int = 30) -> int:
    """`python main.py eval` without a dataset: the whole suite as one table (or JSON), failures on request."""
    import asyncio

    embedder = Embedder()
    suite = asyncio.run(run_suite(settings, embedder, clinc_per_intent=clinc_per_intent))
    suite["guides"] = run_retrieval_eval(GUIDES, embedder)
    if as_json:
        print(json.dumps(suite, indent=2, ensure_ascii=False))
        return 0
    model = (
        f"LLM {settings.llm_model} at {settings.llm_base_url or 'api.openai.com'}"
        if settings.uses_llm
        else "offline planner"
    )
    print(f"Roadie eval · {model} · now fixed at {EVAL_NOW:%Y-%m-%d %H:%M} UTC")
    print(format_table(suite))
    print(format_guides(suite["guides"]))
    if failures:
        print(format_failures(suite))
    return 0


def format_guides(report: dict[str, Any]) -> str:
    """The guides' retrieval eval in one line: the right document in the top 3, and "I don't know" for the rest."""
    return (
        f"guides          {report['questions']} questions: recall@3 {report['recall_at_3']:.1%}; "
        f'{report["unanswerable"]} unanswerable: "I don\'t know" {report["dont_know_rate"]:.1%}; '
        f"search p50 {report['latency_ms']['p50']:.1f} ms"
    )
