"""Benchmark: one price forecast (history from the database, features, three models, advice), p50 and p95.

Seeds a demo database at the evals' fixed "now", trains the models once (not timed here: see
bench/forecast_training.py), then forecasts `--n` offers — flights and tickets with history, one at a
time, as `forecast_price` does for one question. A second figure times the whole tool call.

Run: .venv/bin/python bench/forecast_latency.py [--n 500]
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

from sqlalchemy import func, select

from assistant.db import Database
from assistant.models import Offer, PricePoint
from assistant.seed import seed
from evals.runner import EVAL_NOW
from tools.forecasting import advise
from tools.pricing import forecasters, outlooks


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roadie-bench-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'roadie.sqlite'}")
        db.migrate()
        seed(db, EVAL_NOW)
        models = forecasters(db, Path(tmp))
        assert models is not None
        with db.session() as session:
            tracked = (
                select(PricePoint.offer_id).group_by(PricePoint.offer_id).having(func.count() >= 3).scalar_subquery()
            )
            ids = list(
                session.scalars(
                    select(Offer.id)
                    .where(Offer.id.in_(tracked), Offer.kind.in_(("flight", "ticket")), Offer.available > 0)
                    .order_by(Offer.id)
                )
            )
        step = max(1, len(ids) // args.n)
        chosen = ids[::step][: args.n]
        timings, forecast = [], 0
        for n, offer_id in enumerate([*chosen[:20], *chosen]):  # 20 to warm up SQL compilation and lazy imports
            started = time.perf_counter()
            with db.session() as session:
                offer = session.get_one(Offer, offer_id)
                found = outlooks(session, models, [(offer, 1)], EVAL_NOW)[0]
                if found.path is not None:
                    advise(found.path)
            if n >= 20:
                timings.append((time.perf_counter() - started) * 1000)
                forecast += found.path is not None
        db.dispose()
    print(
        f"one forecast (load history, features, 3 models × 14 days, advice) over {len(timings)} offers "
        f"({forecast} forecast, the rest too close to departure or too new): p50 {statistics.median(timings):.1f} ms, "
        f"p95 {percentile(timings, 0.95):.1f} ms, max {max(timings):.1f} ms "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; target 20 ms)"
    )


if __name__ == "__main__":
    main()
