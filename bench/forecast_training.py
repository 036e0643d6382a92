"""Benchmark: training the price forecasts on the demo history, as `seed` does (wall and CPU seconds).

Seeds a demo database at the evals' fixed "now" in a temporary directory, then trains the flight and
ticket models `--runs` times (the first run is the one `seed` pays; later ones show the spread).

Run: .venv/bin/python bench/forecast_training.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.db import Database
from assistant.seed import seed
from evals.runner import EVAL_NOW
from tools.pricing import train, training_series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roadie-bench-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'roadie.sqlite'}")
        db.migrate()
        started = time.perf_counter()
        counts = seed(db, EVAL_NOW)
        print(f"seeded in {time.perf_counter() - started:.1f} s: {counts['price_points']:,} price points")
        with db.session() as session:
            series = training_series(session)
        print("series: " + ", ".join(f"{len(v):,} {k}" for k, v in series.items()))
        walls, cpus = [], []
        for run in range(args.runs):
            wall, cpu = time.perf_counter(), time.process_time()
            with db.session() as session:
                trained = train(session)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            pairs = ", ".join(f"{k} {m.trained_pairs:,} pairs" for k, m in trained.models.items())
            print(f"run {run + 1}: {walls[-1]:.1f} s wall, {cpus[-1]:.1f} s CPU ({pairs})")
        db.dispose()
    load = os.getloadavg()[0]
    print(
        f"training on {os.cpu_count()} cores (load average {load:.1f}): median {statistics.median(walls):.1f} s wall, "
        f"{statistics.median(cpus):.1f} s CPU over {args.runs} runs (budget 60 s)"
    )


if __name__ == "__main__":
    main()
