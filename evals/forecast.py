"""Measures the price-forecasting engine on real airfares against the baselines a reader would try first.

The data set (`../shared/data/airfares/`, see its README) holds fares by airline, flight, route, class,
stops, departure and arrival slot, duration and days left before departure (1-49). An itinerary (those
columns but the days left) seen at several days left is one price series.

The split, when no `--train` file is given: whole flights — airline, flight number, route, class and
departure slot, as the data set's README groups them — go to the held-out side when the CRC-32 of
"airline|flight|source|destination|class|departure_time" falls in the first 20% (`stable_share`), so
no itinerary of a held-out flight is ever seen in training. With `--train`, every row of that file
trains and every row of `--csv` is held out.

Two questions are scored on the held-out flights:
- forecast: Roadie's question. From each day a held-out itinerary has been seen on at least
  `MIN_HISTORY` days, its price 1-14 days later. The engine sees the history up to that day; the
  baselines predict the later row from its columns alone (group median, plain gradient boosting) or
  carry today's price forward (last price).
- cold start: every held-out row from its columns alone (no history). Roadie does not forecast then
  (it says there is not enough history), so only the baselines are scored; it is the figure the data
  set's README quotes.

MAPE is the mean of |predicted - actual| / actual; the coverage is the share of actual prices inside
the engine's 80% interval.
"""

from __future__ import annotations

import csv
import gzip
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sqlalchemy import select

from assistant.db import Database
from assistant.models import Offer, PricePoint
from assistant.seed import seed
from tools.forecasting import (
    HORIZON,
    MIN_HISTORY,
    FeatureSpec,
    PriceForecaster,
    PriceSeries,
    advise,
    stable_share,
)

HELD_OUT_SHARE = 0.2
CATEGORY_COLUMNS = (
    "airline",
    "flight",
    "source_city",
    "departure_time",
    "stops",
    "arrival_time",
    "destination_city",
    "class",
)
AIRFARE_SPEC = FeatureSpec(
    categories=("airline", "source_city", "destination_city", "class", "stops", "departure_time", "arrival_time"),
    numbers=("duration",),
    typical_by=("class", "source_city", "destination_city", "stops"),
)
GROUP_COLUMNS = ("airline", "source_city", "destination_city", "class", "stops")
README_BUCKETS = (1, 3, 7, 14, 21, 30, 40, 49)  # the data set README's days-left buckets


@dataclass
class Fare:
    """One row of the airfares file."""

    columns: dict[str, str]
    duration: float
    days_left: int
    price: float

    @property
    def flight_key(self) -> str:
        c = self.columns
        return "|".join(
            (c["airline"], c["flight"], c["source_city"], c["destination_city"], c["class"], c["departure_time"])
        )

    @property
    def itinerary_key(self) -> str:
        c = self.columns
        return "|".join((self.flight_key, c["stops"], f"{self.duration:g}", c["arrival_time"]))


def read_fares(path: Path) -> list[Fare]:
    """The rows of an airfares CSV (gzip or plain); rows with a missing or non-positive price are skipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    fares = []
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                price, days_left, duration = float(row["price"]), int(row["days_left"]), float(row["duration"])
            except (KeyError, TypeError, ValueError):
                continue
            if price > 0 and days_left >= 0:
                fares.append(Fare({k: row.get(k) or "" for k in CATEGORY_COLUMNS}, duration, days_left, price))
    if not fares:
        raise ValueError(
            f"{path} holds no airfare rows (columns: {', '.join(CATEGORY_COLUMNS)}, duration, days_left, price)"
        )
    return fares


def held_out(fare: Fare) -> bool:
    """The documented split: whole flights, by the CRC-32 of their key."""
    return stable_share(fare.flight_key) < HELD_OUT_SHARE


def to_series(fares: Iterable[Fare]) -> list[PriceSeries]:
    """One series per itinerary; several prices on one day are averaged geometrically."""
    seen: dict[str, list[Fare]] = defaultdict(list)
    for fare in fares:
        seen[fare.itinerary_key].append(fare)
    series = []
    for rows in seen.values():
        by_day: dict[int, list[float]] = defaultdict(list)
        for fare in rows:
            by_day[fare.days_left].append(math.log(fare.price))
        first = rows[0]
        series.append(
            PriceSeries(
                categories=dict(first.columns),
                numbers={"duration": first.duration},
                prices={d: math.exp(sum(v) / len(v)) for d, v in by_day.items()},
                group=first.flight_key,
            )
        )
    return series


def _readme_bucket(days_left: int) -> int:
    return next((i for i, limit in enumerate(README_BUCKETS) if days_left <= limit), len(README_BUCKETS))


class GroupMedian:
    """The README's baseline: the median price of the same airline, route, class, stops and days-left bucket."""

    def __init__(self, fares: Iterable[Fare]) -> None:
        fine: dict[tuple[str, ...], list[float]] = defaultdict(list)
        coarse: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for f in fares:
            fine[self._key(f.columns, f.days_left)].append(f.price)
            coarse[(f.columns["class"], str(_readme_bucket(f.days_left)))].append(f.price)
        self._fine = {k: float(np.median(v)) for k, v in fine.items()}
        self._coarse = {k: float(np.median(v)) for k, v in coarse.items()}
        self._overall = float(np.median([p for v in coarse.values() for p in v]))

    @staticmethod
    def _key(columns: dict[str, str], days_left: int) -> tuple[str, ...]:
        return (*(columns[k] for k in GROUP_COLUMNS), str(_readme_bucket(days_left)))

    def predict(self, columns: dict[str, str], days_left: int) -> float:
        found = self._fine.get(self._key(columns, days_left))
        if found is None:
            found = self._coarse.get((columns["class"], str(_readme_bucket(days_left))), self._overall)
        return found


class PlainBoosting:
    """The other baseline: scikit-learn's gradient boosting with its defaults, every column, on the raw price."""

    def __init__(self, fares: list[Fare], seed: int = 0) -> None:
        self._codes = {c: {v: i for i, v in enumerate(sorted({f.columns[c] for f in fares}))} for c in CATEGORY_COLUMNS}
        x = np.array([self._row(f.columns, f.duration, f.days_left) for f in fares])
        self._model = HistGradientBoostingRegressor(random_state=seed).fit(x, [f.price for f in fares])

    def _row(self, columns: dict[str, str], duration: float, days_left: int) -> list[float]:
        return [float(self._codes[c].get(columns[c], -1)) for c in CATEGORY_COLUMNS] + [duration, float(days_left)]

    def predict(self, rows: list[tuple[dict[str, str], float, int]]) -> np.ndarray:
        return np.asarray(self._model.predict(np.array([self._row(c, d, n) for c, d, n in rows], dtype=float)))


@dataclass
class ForecastTask:
    """The held-out (origin, later day) pairs and what each method predicted for them."""

    actual: list[float] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    engine: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    targets: list[tuple[dict[str, str], float, int]] = field(default_factory=list)
    horizons: list[int] = field(default_factory=list)


def mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted - actual) / actual))


def forecast_task(engine: PriceForecaster, series: list[PriceSeries]) -> ForecastTask:
    """Forecast every held-out series from every day it has `MIN_HISTORY` observations, 1-14 days on."""
    task = ForecastTask()
    asked: list[tuple[PriceSeries, PriceSeries, list[int]]] = []
    for s in series:
        days = sorted(s.prices, reverse=True)
        for i, origin in enumerate(days):
            later = [origin - h for h in range(1, HORIZON + 1) if origin - h in s.prices]
            if i + 1 >= MIN_HISTORY and later:
                seen = PriceSeries(s.categories, s.numbers, {d: p for d, p in s.prices.items() if d >= origin})
                asked.append((s, seen, later))
    for start in range(0, len(asked), 5000):
        chunk = asked[start : start + 5000]
        for (s, _, later), path in zip(chunk, engine.forecast_many([seen for _, seen, _ in chunk]), strict=True):
            by_day = {step.days_left: step for step in path.steps}
            for day in later:
                step = by_day[day]
                task.actual.append(s.prices[day])
                task.last.append(path.current)
                task.engine.append(step.median)
                task.low.append(step.low)
                task.high.append(step.high)
                task.targets.append((s.categories, s.numbers["duration"], day))
                task.horizons.append(path.days_left - day)
    return task


def evaluate(csv_path: Path, train_path: Path | None = None, seed: int = 0) -> dict[str, Any]:
    """Train on the documented split (or `train_path`) and score the engine and the baselines."""
    started = time.perf_counter()
    fares = read_fares(csv_path)
    if train_path is not None:
        train, test = read_fares(train_path), fares
        split = f"trained on every row of {train_path.name}, held out every row of {csv_path.name}"
    else:
        train = [f for f in fares if not held_out(f)]
        test = [f for f in fares if held_out(f)]
        split = "whole flights held out by CRC-32 of airline|flight|source|destination|class|departure_time (20%)"
    if not train or not test:
        raise ValueError("the split left no rows to train on or none to test on")
    train_series, test_series = to_series(train), to_series(test)
    loaded = time.perf_counter()
    engine = PriceForecaster(AIRFARE_SPEC, seed=seed).fit(train_series)
    trained = time.perf_counter()
    median = GroupMedian(train)
    boosting = PlainBoosting(train, seed=seed)
    baselines_trained = time.perf_counter()

    task = forecast_task(engine, test_series)
    actual = np.array(task.actual)
    engine_pred = np.array(task.engine)
    group_pred = np.array([median.predict(c, d) for c, _, d in task.targets])
    boost_pred = boosting.predict(task.targets)
    low, high = np.array(task.low), np.array(task.high)
    horizons = np.array(task.horizons)

    cold_actual = np.array([f.price for f in test])
    cold_group = np.array([median.predict(f.columns, f.days_left) for f in test])
    cold_boost = boosting.predict([(f.columns, f.duration, f.days_left) for f in test])

    by_horizon = {
        str(h): {
            "pairs": int((horizons == h).sum()),
            "engine": round(mape(actual[horizons == h], engine_pred[horizons == h]), 4),
            "last_price": round(mape(actual[horizons == h], np.array(task.last)[horizons == h]), 4),
        }
        for h in (1, 3, 7, 14)
        if (horizons == h).any()
    }
    return {
        "data": str(csv_path),
        "split": split,
        "rows": {"train": len(train), "held_out": len(test)},
        "series": {"train": len(train_series), "held_out": len(test_series)},
        "forecast": {
            "question": f"price 1–{HORIZON} days after a day with ≥ {MIN_HISTORY} observations of the itinerary",
            "pairs": len(actual),
            "mape": {
                "engine": round(mape(actual, engine_pred), 4),
                "group_median": round(mape(actual, group_pred), 4),
                "gradient_boosting": round(mape(actual, boost_pred), 4),
                "last_price": round(mape(actual, np.array(task.last)), 4),
            },
            "interval_coverage": round(float(np.mean((actual >= low) & (actual <= high))), 4),
            "interval_median_width": round(float(np.median((high - low) / engine_pred)), 4),
            "by_horizon": by_horizon,
        },
        "cold_start": {
            "question": "every held-out row from its columns alone (Roadie does not forecast without history)",
            "rows": len(cold_actual),
            "mape": {
                "group_median": round(mape(cold_actual, cold_group), 4),
                "gradient_boosting": round(mape(cold_actual, cold_boost), 4),
            },
        },
        "seconds": {
            "load": round(loaded - started, 1),
            "train_engine": round(trained - loaded, 1),
            "train_baselines": round(baselines_trained - trained, 1),
            "score": round(time.perf_counter() - baselines_trained, 1),
        },
        "engine": {
            "series": engine.trained_series,
            "pairs": engine.trained_pairs,
            "interval_widen_log": round(engine.widen, 4),
        },
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as a short table."""
    f, c = report["forecast"], report["cold_start"]
    lines = [
        f"data      {report['data']}",
        f"split     {report['split']}",
        f"rows      {report['rows']['train']:,} train · {report['rows']['held_out']:,} held out "
        f"({report['series']['held_out']:,} itineraries)",
        "",
        f"forecast: {f['question']} — {f['pairs']:,} pairs",
        f"  MAPE engine             {f['mape']['engine']:.1%}",
        f"  MAPE group median       {f['mape']['group_median']:.1%}",
        f"  MAPE gradient boosting  {f['mape']['gradient_boosting']:.1%}",
        f"  MAPE last price         {f['mape']['last_price']:.1%}",
        f"  80% interval coverage   {f['interval_coverage']:.1%} (median width {f['interval_median_width']:.0%} of the price)",
        "  by days ahead           "
        + " · ".join(f"{h}: {v['engine']:.1%} (last price {v['last_price']:.1%})" for h, v in f["by_horizon"].items()),
        "",
        f"cold start: {c['question']} — {c['rows']:,} rows",
        f"  MAPE group median       {c['mape']['group_median']:.1%}",
        f"  MAPE gradient boosting  {c['mape']['gradient_boosting']:.1%}",
        "",
        "seconds   " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report["seconds"].items()),
    ]
    return "\n".join(lines)


# --- the demo database backtest ------------------------------------------------------------------------------

BACKTEST_SHARE = 0.5  # shows on the backtest side (the rest train the models)


def backtest(db: Database, now: datetime) -> dict[str, Any]:
    """Book-now-or-wait replayed on the demo history, against booking at first sight and perfect foresight.

    Shows are split by the CRC-32 of their id: offers of half of them train the models, the others are
    replayed. A traveller first looks at an offer on the first day Roadie can forecast it (its third
    observation) and must have bought by the last observed day. Following Roadie, they buy on the first
    day the advice is "book now" (on "wait" and "monitor" they look again at the next observation);
    perfect foresight buys on the cheapest day. The
    share captured is (first-sight prices - Roadie's prices) ÷ (first-sight prices - cheapest prices),
    summed over offers: 1 is perfect foresight, 0 no better than buying at once, below 0 worse.
    """
    from tools.pricing import MAX_TRAINING_SERIES, PAIRS_PER_SERIES, SPECS, load_context, offer_series, price_points

    with db.session() as session:
        tracked = select(PricePoint.offer_id).distinct()
        offers = list(session.scalars(select(Offer).where(Offer.kind.in_(SPECS), Offer.id.in_(tracked))))
        context = load_context(session, offers)
        points = price_points(session, [o.id for o in offers])
        by_kind: dict[str, list[tuple[Offer, PriceSeries]]] = defaultdict(list)
        for offer in offers:
            series = offer_series(offer, points.get(offer.id, []), context, None)
            if series is not None and len(series.prices) >= 2:
                by_kind[offer.kind].append((offer, series))
    started = time.perf_counter()
    results: dict[str, Any] = {"kinds": {}}
    totals = {"first": 0.0, "roadie": 0.0, "best": 0.0, "offers": 0, "waited": 0, "worse": 0}
    for kind, pairs in sorted(by_kind.items()):
        train = [s for o, s in pairs if stable_share(f"backtest:{o.event_id}") >= BACKTEST_SHARE]
        test = [s for o, s in pairs if stable_share(f"backtest:{o.event_id}") < BACKTEST_SHARE]
        train = sorted(train, key=lambda s: stable_share(f"train:{s.group}:{sorted(s.categories.items())}"))
        engine = PriceForecaster(SPECS[kind], max_pairs_per_series=PAIRS_PER_SERIES[kind]).fit(
            train[:MAX_TRAINING_SERIES]
        )
        asked: list[tuple[int, int]] = []  # (test series, day index)
        seen: list[PriceSeries] = []
        for n, s in enumerate(test):
            days = sorted(s.prices, reverse=True)
            for i in range(MIN_HISTORY - 1, len(days) - 1):
                asked.append((n, i))
                seen.append(PriceSeries(s.categories, s.numbers, {d: s.prices[d] for d in days[: i + 1]}, s.signals))
        advice = [advise(p).recommendation for p in engine.forecast_many(seen)] if seen else []
        waits = {(n, i): a != "book_now" for (n, i), a in zip(asked, advice, strict=True)}
        kind_totals = {"first": 0.0, "roadie": 0.0, "best": 0.0, "offers": 0, "waited": 0, "worse": 0}
        for n, s in enumerate(test):
            days = sorted(s.prices, reverse=True)
            if len(days) < MIN_HISTORY + 1:
                continue
            prices = [s.prices[d] for d in days]
            first_day = MIN_HISTORY - 1
            bought = next((i for i in range(first_day, len(days) - 1) if not waits[(n, i)]), len(days) - 1)
            kind_totals["first"] += prices[first_day]
            kind_totals["roadie"] += prices[bought]
            kind_totals["best"] += min(prices[first_day:])
            kind_totals["offers"] += 1
            kind_totals["waited"] += bought > first_day
            kind_totals["worse"] += prices[bought] > prices[first_day]
        results["kinds"][kind] = _shares(kind_totals) | {"trained_on": len(train[:MAX_TRAINING_SERIES])}
        for key in totals:
            totals[key] += kind_totals[key]
    results["all"] = _shares(totals)
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def _shares(t: dict[str, float]) -> dict[str, Any]:
    possible = t["first"] - t["best"]
    return {
        "offers": int(t["offers"]),
        "perfect_saving_minor": round(possible),
        "roadie_saving_minor": round(t["first"] - t["roadie"]),
        "share_captured": round((t["first"] - t["roadie"]) / possible, 4) if possible > 0 else None,
        "waited_share": round(t["waited"] / t["offers"], 4) if t["offers"] else 0.0,
        "paid_more_share": round(t["worse"] / t["offers"], 4) if t["offers"] else 0.0,
        "perfect_saving_pct": round(possible / t["first"], 4) if t["first"] else 0.0,
    }


# The advice's thresholds were chosen on the demo seeded with DEMO_SEED; the backtest reports on another
# draw of the same generator, so the figure is not measured on the data the thresholds were picked on.
BACKTEST_SEED = 7


def run_backtest(now: datetime | None = None, rng_seed: int = BACKTEST_SEED) -> dict[str, Any]:
    """Seed a fresh demo database (at the evals' fixed "now") in a temporary directory and backtest on it."""
    from evals.runner import EVAL_NOW

    moment = now or EVAL_NOW
    with tempfile.TemporaryDirectory(prefix="roadie-backtest-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'roadie.sqlite'}")
        db.migrate()
        seed(db, moment, rng_seed=rng_seed)
        try:
            report = backtest(db, moment)
        finally:
            db.dispose()
    report["now"] = moment.isoformat()
    report["seed"] = rng_seed
    return report


def format_backtest(report: dict[str, Any]) -> str:
    """The backtest as a few lines."""

    def line(name: str, r: dict[str, Any]) -> str:
        share = "n/a" if r["share_captured"] is None else f"{r['share_captured']:.0%}"
        return (
            f"  {name:<8} {r['offers']:>6,} offers · perfect foresight saves {r['perfect_saving_pct']:.1%} · "
            f"Roadie's advice captures {share} of that · waited on {r['waited_share']:.0%}, "
            f"paid more than at first sight on {r['paid_more_share']:.0%}"
        )

    lines = [
        f"backtest on a demo database (seed {report['seed']}, at {report['now']}), shows split 50/50 by CRC-32; "
        'buying on the first "book now":'
    ]
    lines += [line(kind, r) for kind, r in report["kinds"].items()]
    lines.append(line("all", report["all"]))
    return "\n".join(lines)
