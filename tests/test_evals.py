"""The eval runner scores the starter dataset as DESIGN.md specifies, and the planner clears it."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.messages import ToolCall
from assistant.toolkit import spec_of
from evals.retrieval import CLINC, run_retrieval_eval
from evals.runner import Case, load_cases, score_case
from evals.scenarios import SPEAKER, load_scenarios, pass_hat_k
from evals.suite import CLINC_NAME, routing_datasets, run_suite
from knowledge.embeddings import Embedder

ROOT = Path(__file__).resolve().parent.parent


def test_scoring_rules() -> None:
    case = Case(id="x", message="m", expect_tool="search_events", expect_args={"artist": "coldplay"})
    assert score_case(case, [ToolCall("search_events", {"artist": "Coldplay"})])[:2] == (True, True)
    assert score_case(case, [ToolCall("search_events", {"artist": "Adele"})])[:2] == (True, False)
    assert score_case(case, [ToolCall("get_tour", {"artist": "Coldplay"})])[:2] == (False, False)
    assert score_case(case, [ToolCall("search_events", {"artist": "Coldplay"}), ToolCall("book_trip", {})])[0] is False
    out = Case(id="y", message="m", expect_tool=None)
    assert score_case(out, [])[0]
    assert score_case(out, [ToolCall("ask_knowledge", {})])[0]
    assert not score_case(out, [ToolCall("search_events", {})])[0]


def test_knowledge_dataset_finds_the_answering_guide_and_declines_the_rest(embedder: Embedder) -> None:
    # Embeds all 542 passages of the guides in memory, then asks 131 questions and 50 CLINC150 out-of-scope requests:
    # about 30 s on two idle cores (most of it embedding), seconds when the session's embedder has seen the guides.
    if not CLINC.exists():
        pytest.skip(f"the CLINC150 out-of-scope requests are not at {CLINC} (../shared/data beside the checkout)")
    report = run_retrieval_eval(ROOT / "evals" / "datasets" / "knowledge.jsonl", embedder=embedder)
    assert report["questions"] >= 90
    assert report["unanswerable"] >= 15
    assert report["recall_at_3"] >= 0.95, report["failures"]
    assert report["dont_know_rate"] >= 0.9, report["failures"]


# Floors set from the measured figures (README, "Measured"), a little under them so host noise never fails a run.
# Measured 2026-11-21 on all project datasets: tool 99.3%, args 99.1%, out of scope 98.9%, no write on out of scope;
# CLINC150 98.5% declined; scenarios pass^1 and pass^3 100%.
FLOORS = {"tool_accuracy": 0.97, "args_accuracy": 0.96, "out_of_scope_accuracy": 0.96}
DATASET_FLOOR = 0.90  # every dataset on its own, tool accuracy (and out-of-scope accuracy where it has such cases)
CLINC_FLOOR = 0.95
WRITE_FALSE_CEILING = 0.01
PASS_1_FLOOR = 0.90
PASS_K_FLOOR = 0.85


async def test_every_dataset_and_the_scenarios_clear_the_floors(embedder: Embedder) -> None:
    # One app build for all datasets, 330 CLINC150 requests and the scenarios: a few minutes on two busy cores.
    suite = await run_suite(embedder=embedder, clinc_per_intent=10)
    names = {r["dataset"] for r in suite["datasets"]}
    assert {"starter", "trips", "groups", "staff", "pricing", "messy", "out_of_scope"} <= names
    project = suite["project"]
    assert project["cases"] >= 400
    assert project["out_of_scope"] >= 150
    failures = [f"{f['id']}: {f['why']}" for f in project["failures"]]
    for key, floor in FLOORS.items():
        assert project[key] >= floor, (key, project[key], failures)
    assert project["write_false_rate"] <= WRITE_FALSE_CEILING, failures
    for report in suite["datasets"]:
        if report["in_scope"]:
            assert report["tool_accuracy"] >= DATASET_FLOOR, (report["dataset"], report["failures"])
        if report["out_of_scope"]:
            assert report["out_of_scope_accuracy"] >= DATASET_FLOOR, (report["dataset"], report["failures"])
        assert report["write_false_rate"] <= WRITE_FALSE_CEILING, (report["dataset"], report["failures"])
    for report in suite["datasets"]:
        if report["dataset"] == CLINC_NAME:  # present when ../shared/data holds CLINC150
            assert report["out_of_scope_accuracy"] >= CLINC_FLOOR, report["failures"]
    played = suite["scenarios"]
    assert played["scenarios"] >= 10
    assert played["pass_1"] >= PASS_1_FLOOR, played["failures"]
    assert played["pass_k"] >= PASS_K_FLOOR, played["failures"]


def test_pass_hat_k_counts_scenarios_whose_every_variant_passes() -> None:
    assert pass_hat_k(3, 3, 3) == 1.0
    assert pass_hat_k(2, 3, 3) == 0.0
    assert pass_hat_k(2, 3, 1) == 2 / 3
    assert pass_hat_k(3, 4, 3) == 0.25


def test_scenarios_have_three_variants_and_known_checks() -> None:
    scenarios = load_scenarios()
    assert len(scenarios) >= 10
    assert all(len(s.variants) >= 3 for s in scenarios)


def test_exemplars_and_eval_cases_are_disjoint() -> None:
    from assistant.planner.router import BUILT_IN_EXAMPLES
    from tools import tools_for

    def said(text: str) -> str:
        return " ".join(text.casefold().replace("?", " ").replace("!", " ").split())

    taught = {said(e) for role in ("traveller", "staff") for t in tools_for(role) for e in spec_of(t).examples}
    taught |= {said(e) for examples in BUILT_IN_EXAMPLES.values() for e in examples}
    asked = {said(c.message) for path in routing_datasets() for c in load_cases(path)}
    asked |= {said(SPEAKER.sub("", turn)) for s in load_scenarios() for v in s.variants for turn in v}
    assert not taught & asked, sorted(taught & asked)
