"""Scores the agent on a JSONL dataset: tool routing, arguments, out-of-scope handling and latency."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.clock import FixedClock
from assistant.messages import ConversationKey, Inbound, Role, ToolCall
from assistant.settings import Settings
from knowledge.embeddings import Embedder

# Evals fix "now" so relative dates ("in May", "next month") always mean the same days.
EVAL_NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
WRITE_TOOLS = {
    "follow_artist",
    "unfollow_artist",
    "book_trip",
    "cancel_booking",
    "watch_price",
    "create_group",
    "join_group",
    "create_poll",
    "add_expense",
    "settle_up",
    "set_preferences",
    "cast_vote",
    "remove_member",
    "close_group",
}
OUT_OF_SCOPE_OK = {"ask_knowledge"}


@dataclass
class Case:
    """One eval case as in DESIGN.md."""

    id: str
    message: str
    expect_tool: str | None
    expect_args: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    role: Role = "traveller"


def load_cases(path: Path) -> list[Case]:
    """Read a JSONL dataset, skipping blank lines and lines starting with //."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            raw = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: not valid JSON ({error})") from None
        cases.append(
            Case(
                id=raw["id"],
                message=raw["message"],
                expect_tool=raw.get("expect_tool"),
                expect_args=raw.get("expect_args") or {},
                history=raw.get("history") or [],
                role=raw.get("role", "traveller"),
            )
        )
    return cases


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, str) and isinstance(got, str):
        return expected.strip().casefold() == got.strip().casefold()
    return bool(expected == got)


def score_case(case: Case, calls: list[ToolCall]) -> tuple[bool, bool, str]:
    """(tool right, args right, why) for the tool calls made in answer to the case's message."""
    names = [c.name for c in calls]
    if case.expect_tool is None:
        wrong = [n for n in names if n not in OUT_OF_SCOPE_OK]
        return not wrong, not wrong, f"called {wrong}" if wrong else ""
    other_writes = [n for n in names if n in WRITE_TOOLS and n != case.expect_tool]
    if case.expect_tool not in names:
        return False, False, f"expected {case.expect_tool}, got {names or 'no tool'}"
    if other_writes:
        return False, False, f"also called write tools {other_writes}"
    first = next(c for c in calls if c.name == case.expect_tool)
    wrong_args = {k: first.args.get(k) for k, v in case.expect_args.items() if not _same(v, first.args.get(k))}
    return True, not wrong_args, f"args {first.args} differ on {sorted(wrong_args)}" if wrong_args else ""


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run_cases(cases: list[Case], handle: Any, keep_latencies: bool = False) -> dict[str, Any]:
    """Run every case in a fresh conversation through `handle` and build the report (each turn's ms on request)."""
    results = []
    latencies: list[float] = []
    for case in cases:
        key = ConversationKey(channel="eval", chat_id=case.id, user_id=f"eval-{case.id}")
        for earlier in case.history:
            await handle(Inbound(key=key, text=earlier, role=case.role))
        started = time.perf_counter()
        reply = await handle(Inbound(key=key, text=case.message, role=case.role))
        latencies.append((time.perf_counter() - started) * 1000)
        calls = reply.tool_calls if reply is not None else []
        tool_ok, args_ok, why = score_case(case, calls)
        results.append((case, calls, tool_ok, args_ok, why))
    in_scope = [r for r in results if r[0].expect_tool is not None]
    out_scope = [r for r in results if r[0].expect_tool is None]
    kept = {"latencies": latencies} if keep_latencies else {}
    return kept | {
        "cases": len(results),
        "in_scope": len(in_scope),
        "out_of_scope": len(out_scope),
        "tool_accuracy": _share(sum(r[2] for r in in_scope), len(in_scope)),
        "args_accuracy": _share(sum(r[3] for r in in_scope), len(in_scope)),
        "out_of_scope_accuracy": _share(sum(r[2] for r in out_scope), len(out_scope)),
        "write_false_rate": _share(sum(any(c.name in WRITE_TOOLS for c in r[1]) for r in out_scope), len(out_scope))
        if out_scope
        else 0.0,
        "latency_ms": {
            "p50": round(statistics.median(latencies), 1) if latencies else 0.0,
            "p95": round(percentile(latencies, 0.95), 1),
        },
        "failures": [
            {
                "id": case.id,
                "message": case.message,
                "expected": {"tool": case.expect_tool, "args": case.expect_args},
                "got": [{"tool": c.name, "args": c.args} for c in calls],
                "why": why,
            }
            for case, calls, tool_ok, args_ok, why in results
            if not (tool_ok and args_ok)
        ],
    }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


async def run_eval(dataset: Path, settings: Settings | None = None, embedder: Embedder | None = None) -> dict[str, Any]:
    """Score a dataset against a fresh demo database seeded at EVAL_NOW (the configured model is used)."""
    from main import start_roadie

    cases = load_cases(dataset)
    base = settings or Settings()
    with tempfile.TemporaryDirectory(prefix="roadie-eval-") as tmp:
        eval_settings = base.model_copy(update={"data_dir": Path(tmp), "database_url": "", "memory_url": ""})
        async with start_roadie(eval_settings, FixedClock(EVAL_NOW), embedder) as roadie:
            report = await run_cases(cases, roadie.service.handle)
    report["dataset"] = str(dataset)
    return report


def format_report(report: dict[str, Any]) -> str:
    """A short human-readable summary of a report."""
    lines = [
        f"dataset               {report.get('dataset', '')}",
        f"cases                 {report['cases']}",
        f"tool accuracy         {report['tool_accuracy']:.1%}",
        f"args accuracy         {report['args_accuracy']:.1%}",
        f"out-of-scope accuracy {report['out_of_scope_accuracy']:.1%}",
        f"write false rate      {report['write_false_rate']:.1%}",
        f"latency p50 / p95     {report['latency_ms']['p50']} / {report['latency_ms']['p95']} ms",
    ]
    for failure in report["failures"]:
        lines.append(f"  ✗ {failure['id']}: {failure['message']!r} — {failure['why']}")
    return "\n".join(lines)
