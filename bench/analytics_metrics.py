"""Benchmark: every staff metric query over 1,000,000 bookings and 5,000,000 log events, on SQLite and PostgreSQL.

Generates the data (bench/analytics_data.py) into a temporary SQLite file and into a dedicated schema of
the PostgreSQL `test` database (dropped afterwards; skipped with the reason when the server is not
reachable), builds the rollups once (timed), then runs each query of the suite — every metric over every
named period, by each dimension it allows over the last 30 days and this year, and with filters —
`--runs` times after one warm-up, and prints p50 and p95 per query and the worst per metric.

A "metric query" is what query_metrics runs for a question: the freshness check of the rollups, then the
semantic layer's SQL on a read-only transaction (tools.analytics.measure); no chart, no formatting.

Run: .venv/bin/python bench/analytics_metrics.py [--engine sqlite|postgresql|both] [--runs 20]
     [--bookings 1000000 --events 5000000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.db import Database
from bench.analytics_data import Sizes, generate
from tools import rollups
from tools.analytics import measure
from tools.metrics import METRICS, SOURCE_DIMS, MetricQuery, resolve_period

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
TODAY = NOW.date()
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PERIODS = (
    "today",
    "yesterday",
    "last_7_days",
    "last_week",
    "this_month",
    "last_month",
    "last_30_days",
    "this_year",
    "last_year",
)
TARGET_MS = 300.0


def suite() -> list[MetricQuery]:
    """Every metric over every named period; by each of its dimensions over 30 days and a year; with filters."""
    out: list[MetricQuery] = []
    for name, metric in METRICS.items():
        for period in PERIODS:
            out.append(MetricQuery(name, resolve_period(period, None, None, TODAY)))
        for by in SOURCE_DIMS[metric.source]:
            for period in ("last_30_days", "this_year"):
                out.append(MetricQuery(name, resolve_period(period, None, None, TODAY), by))
        year = resolve_period("this_year", None, None, TODAY)
        if metric.source in ("bookings", "cancellations"):
            out += [
                MetricQuery(name, year, None, (("artist", "Coldplay"),)),
                MetricQuery(name, year, "month", (("artist", "Coldplay"),)),
                MetricQuery(name, year, "week", (("city", "London"),)),
                MetricQuery(name, year, "artist", (("channel", "whatsapp"),)),
                MetricQuery(name, year, "channel", (("route", "LHR-LIS"),)),
                MetricQuery(name, year, None, (("artist", "Coldplay"), ("route", "LHR-LIS"))),
            ]
        elif metric.source in ("log", "active", "latency", "outbox"):
            out.append(MetricQuery(name, year, "month", (("channel", "telegram"),)))
        elif metric.source == "inventory":
            out += [
                MetricQuery(name, resolve_period("upcoming", None, None, TODAY), "event"),
                MetricQuery(name, resolve_period("upcoming", None, None, TODAY), "venue", (("artist", "Coldplay"),)),
            ]
    return out


def describe(query: MetricQuery) -> str:
    filters = "".join(f" {k}={v}" for k, v in query.filters)
    return f"{query.metric} {query.period.name}" + (f" by {query.by}" if query.by else "") + filters


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def run_suite(db: Database, runs: int) -> list[dict[str, Any]]:
    results = []
    for query in suite():
        measure(db, [query], TODAY)  # warm-up: statement compilation, pages into the cache
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            measure(db, [query], TODAY)
            times.append((time.perf_counter() - started) * 1000)
        results.append(
            {
                "query": describe(query),
                "metric": query.metric,
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(percentile(times, 0.95), 1),
            }
        )
    return results


@contextmanager
def sqlite_database() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="roadie-analytics-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        try:
            yield db
        finally:
            db.dispose()


@contextmanager
def postgres_database() -> Iterator[Database | str]:
    """A fresh schema of the `test` database, dropped afterwards; or why PostgreSQL is not available."""
    schema = f"roadie_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # any connection failure means: no PostgreSQL here
        admin.dispose()
        yield f"PostgreSQL not reachable at {POSTGRES}: {type(error).__name__}"
        return
    db = Database(f"{POSTGRES}?options=-csearch_path%3D{schema}")
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def existing(path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{path.resolve()}")
    try:
        yield db
    finally:
        db.dispose()


def bench(engine: str, sizes: Sizes, runs: int, reuse: Path | None = None) -> dict[str, Any]:
    opened = existing(reuse) if reuse else sqlite_database() if engine == "sqlite" else postgres_database()
    with opened as db:
        if isinstance(db, str):
            print(f"{engine}: skipped — {db}")
            return {"engine": engine, "skipped": db}
        db.migrate()
        if reuse:
            loaded: dict[str, float] = {"reused": 1.0}
        else:
            print(f"{engine}: generating {sizes.bookings:,} bookings and {sizes.events:,} log events…", flush=True)
            loaded = generate(db, NOW, sizes)
            summary = json.dumps({k: round(v) for k, v in loaded.items()})
            print(f"{engine}: loaded in {loaded['total_s']:.0f} s ({summary})")
        started = time.perf_counter()
        built = rollups.refresh(db, TODAY)
        first_build = time.perf_counter() - started
        print(f"{engine}: rollups built in {first_build:.1f} s ({built})")
        started = time.perf_counter()
        rollups.refresh(db, TODAY + timedelta(days=1))  # a day passes: one more day to build, nothing else
        next_day = time.perf_counter() - started
        rollups.refresh(db, TODAY)  # back to the benchmark's day (rebuilds nothing: buckets are complete)
        results = run_suite(db, runs)
    worst: dict[str, dict[str, Any]] = {}
    for row in results:
        if row["metric"] not in worst or row["p95_ms"] > worst[row["metric"]]["p95_ms"]:
            worst[row["metric"]] = row
    over = [r for r in results if r["p95_ms"] > TARGET_MS]
    print(f"\n{engine}: {len(results)} queries × {runs} runs; worst p95 per metric:")
    for metric, row in worst.items():
        print(f"  {metric:20s} p95 {row['p95_ms']:7.1f} ms  p50 {row['p50_ms']:7.1f} ms  ({row['query']})")
    p95s = [r["p95_ms"] for r in results]
    print(
        f"{engine}: all queries — median of p50s {statistics.median(r['p50_ms'] for r in results):.1f} ms, "
        f"worst p95 {max(p95s):.1f} ms; over {TARGET_MS:.0f} ms: {len(over)}"
        + "".join(f"\n  over: {r['query']} p95 {r['p95_ms']} ms" for r in over)
    )
    return {
        "engine": engine,
        "load": loaded,
        "rollups_first_build_s": round(first_build, 1),
        "rollups_next_day_s": round(next_day, 2),
        "queries": results,
        "worst_p95_ms": max(p95s),
        "over_target": len(over),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--bookings", type=int, default=Sizes.bookings)
    parser.add_argument("--events", type=int, default=Sizes.events)
    parser.add_argument("--json", type=Path, help="also write every query's figures here")
    parser.add_argument(
        "--sqlite-file", type=Path, help="time the queries on a SQLite file bench/analytics_data.py made, kept"
    )
    args = parser.parse_args()
    sizes = Sizes(bookings=args.bookings, events=args.events)
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    if args.sqlite_file:
        engines = ("sqlite",)
    reports = [bench(engine, sizes, args.runs, args.sqlite_file) for engine in engines]
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
