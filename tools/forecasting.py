"""The price-forecasting engine: how prices move in the days before a departure or a show, learnt from histories.

It knows nothing of the database: it learns from `PriceSeries` (one offer's observed prices by days left
before it departs or starts, plus what describes the offer) and forecasts the next days of a series from
its own history. `tools/pricing.py` builds the series from Roadie's price history; `evals/forecast.py`
builds them from real airfares to measure the engine.

How a forecast is made, for a series last seen at `d0` days left with price `p0`, `h` days ahead:
- the typical curve: the median log price of offers like this one (`typical_by`) at each number of days
  left, so `typical(d0 - h) - typical(d0)` is how prices usually move from here, and `log p0 - typical(d0)`
  is how far this offer sits from its peers;
- gradient boosting on the log ratio `log p(d0 - h) / p0` with those curves, the offer's recent moves,
  its features and demand signals (squared loss: it scored lower MAPE than absolute loss on real fares);
- quantile boosting at 10% and 90% for the 80% interval, then widened or narrowed by conformal
  calibration on offers held out of training, so that the interval covers about 80% of later prices.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import ThreadpoolController

HORIZON = 14  # days ahead a forecast covers
MIN_HISTORY = 3  # observations of an offer before Roadie forecasts it
INTERVAL = 0.8  # the forecast interval's coverage
# The quantile models behind the interval, before calibration widens them to INTERVAL. Prices often do not
# move at all (58% of day-to-day moves in the real fares are exactly zero), and an interval that holds
# "unchanged" covers that whole mass: with 10%/90% models the calibrated interval covered 86% of held-out
# fares (the next narrower one, without "unchanged", 46%); 15%/85% models land nearer 80%.
QUANTILES = (0.15, 0.85)
MAX_CATEGORY_LEVELS = 250  # more levels than this (flight numbers, routes) count only through the typical curve
MOMENTUM_DAYS = (1, 3, 7)
DAY_BUCKETS = (1, 3, 7, 14, 21, 30, 40, 60, 90, 180, 100_000)
MIN_CURVE_COUNT = 5  # observations behind a typical-curve point before it is trusted over a coarser one
Z_80 = 1.2815515655446004  # the standard normal's 90% quantile
# Boosting runs on one OpenMP thread: on the busy 2-core machine two threads spent 13× the CPU time training
# (spinning while the other core was taken), and predicting 14 rows is faster without any threads to wake.
THREADS = 1
COMPILED_ROWS = 500  # up to this many rows (one question's forecasts) the compiled trees; beyond, sklearn's own
_threads = ThreadpoolController()

Recommendation = Literal["book_now", "wait", "monitor"]


@dataclass
class PriceSeries:
    """One offer's observed prices, by days left before it departs (or the show starts).

    `prices` maps days left → price in any unit (forecasts come back in the same unit); `signals`
    maps days left → numbers known at that moment (bookings velocity, seats left), used as of the
    forecast's starting day.
    """

    categories: dict[str, str]
    numbers: dict[str, float] = field(default_factory=dict)
    prices: dict[int, float] = field(default_factory=dict)
    signals: dict[int, dict[str, float]] = field(default_factory=dict)
    group: str = ""  # series of one group (a flight, an event) stay on the same side of a split


@dataclass(frozen=True)
class FeatureSpec:
    """Which descriptions of a series the engine uses, and which define "offers like this one"."""

    categories: tuple[str, ...]
    numbers: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    typical_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForecastStep:
    """The forecast for one day: days ahead of today, days left then, the median and the 80% interval."""

    days_ahead: int
    days_left: int
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class PricePath:
    """A series' forecast path from its latest observation."""

    current: float
    days_left: int
    steps: tuple[ForecastStep, ...]


@dataclass(frozen=True)
class Advice:
    """Book now or wait, in numbers: what a traveller is told."""

    recommendation: Recommendation
    confidence: Literal["high", "medium", "low"]
    probability: float  # that the recommended move turns out right (price lower on the best day / higher later)
    best_day: int  # days ahead of the lowest expected price (0: today)
    expected_saving: float  # current price minus the lowest expected price, when positive
    expected_rise: float  # highest expected price minus the current price, when positive


def day_bucket(days_left: int) -> int:
    """The index of the days-left bucket (1, 2-3, 4-7, 8-14, 15-21, 22-30, 31-40, 41-60, …)."""
    return next(i for i, limit in enumerate(DAY_BUCKETS) if days_left <= limit)


def stable_share(key: str) -> float:
    """A number in [0, 1) fixed by `key`: the same split on every machine and run."""
    return (zlib.crc32(key.encode("utf-8")) % 10_000) / 10_000


def normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


class TypicalCurve:
    """Median log price by (offers like this one, days left), with coarser fallbacks where data is thin."""

    def __init__(self, spec: FeatureSpec) -> None:
        self._by = spec.typical_by
        self._fine: dict[tuple[tuple[str, ...], int], float] = {}
        self._bucket: dict[tuple[tuple[str, ...], int], float] = {}
        self._overall_day: dict[int, float] = {}
        self._overall_bucket: dict[int, float] = {}
        self._overall = 0.0

    def segment(self, series: PriceSeries) -> tuple[str, ...]:
        return tuple(series.categories.get(k, "") for k in self._by)

    def fit(self, series: Iterable[PriceSeries]) -> TypicalCurve:
        fine: dict[tuple[tuple[str, ...], int], list[float]] = defaultdict(list)
        bucket: dict[tuple[tuple[str, ...], int], list[float]] = defaultdict(list)
        day: dict[int, list[float]] = defaultdict(list)
        coarse: dict[int, list[float]] = defaultdict(list)
        everything: list[float] = []
        for s in series:
            segment = self.segment(s)
            for d, price in s.prices.items():
                value = math.log(price)
                fine[(segment, d)].append(value)
                bucket[(segment, day_bucket(d))].append(value)
                day[d].append(value)
                coarse[day_bucket(d)].append(value)
                everything.append(value)
        self._fine = {k: float(np.median(v)) for k, v in fine.items() if len(v) >= MIN_CURVE_COUNT}
        self._bucket = {k: float(np.median(v)) for k, v in bucket.items()}
        self._overall_day = {k: float(np.median(v)) for k, v in day.items() if len(v) >= MIN_CURVE_COUNT}
        self._overall_bucket = {k: float(np.median(v)) for k, v in coarse.items()}
        self._overall = float(np.median(everything)) if everything else 0.0
        return self

    def at(self, segment: tuple[str, ...], days_left: int) -> float:
        """The typical log price for the segment at `days_left`."""
        found = self._fine.get((segment, days_left))
        if found is None:
            found = self._bucket.get((segment, day_bucket(days_left)))
        if found is None:
            found = self._overall_day.get(days_left, self._overall_bucket.get(day_bucket(days_left), self._overall))
        return found


def _history_before(series: PriceSeries, origin: int) -> list[tuple[int, float]]:
    """Observations at or before the origin (days left ≥ origin), newest first, as (days left, log price)."""
    return sorted(((d, math.log(p)) for d, p in series.prices.items() if d >= origin), key=lambda x: x[0])


class PriceForecaster:
    """Learns how prices move from many series and forecasts one series' next `HORIZON` days with an 80% interval."""

    def __init__(
        self,
        spec: FeatureSpec,
        *,
        max_pairs_per_series: int = 60,
        iterations: int = 250,
        seed: int = 0,
    ) -> None:
        self.spec = spec
        self.max_pairs_per_series = max_pairs_per_series
        self.iterations = iterations
        self.seed = seed
        self.curve = TypicalCurve(spec)
        self.levels: dict[str, dict[str, int]] = {}
        self.median_model: HistGradientBoostingRegressor | None = None
        self.low_model: HistGradientBoostingRegressor | None = None
        self.high_model: HistGradientBoostingRegressor | None = None
        self.widen = 0.0  # conformal correction added to both sides of the interval, in log price
        self.trained_series = 0
        self.trained_pairs = 0
        self.empty_columns: list[int] = []
        self._compiled: tuple[CompiledTrees, CompiledTrees, CompiledTrees] | None = None
        self.trained_horizons: set[int] = set()  # days ahead seen in training (with at least 20 examples)

    # --- features -------------------------------------------------------------------------------------------

    def _encoded_categories(self) -> list[str]:
        return [k for k in self.spec.categories if k in self.levels]

    def feature_names(self) -> list[str]:
        return [
            *self._encoded_categories(),
            *self.spec.numbers,
            *self.spec.signals,
            "days_left",
            "days_ahead",
            "target_days_left",
            "target_weekday_cycle",
            "typical_move",
            "deviation",
            "mean_deviation",
            "above_own_level",
            *(f"move_{k}d" for k in MOMENTUM_DAYS),
            "observations",
        ]

    def _row(self, series: PriceSeries, origin: int, ahead: int, history: list[tuple[int, float]]) -> list[float]:
        """Features of forecasting `series` from `origin` days left, `ahead` days on; history is up to the origin."""
        segment = self.curve.segment(series)
        log_now = history[0][1]
        typical_now = self.curve.at(segment, origin)
        target = origin - ahead
        deviations = [v - self.curve.at(segment, d) for d, v in history[:10]]
        moves = []
        for k in MOMENTUM_DAYS:
            earlier = next((v for d, v in history if origin + k <= d <= origin + 2 * k), None)
            moves.append(log_now - earlier if earlier is not None else math.nan)
        signals = series.signals.get(origin, {})
        row: list[float] = [
            float(self.levels[k].get(series.categories.get(k, ""), -1)) for k in self._encoded_categories()
        ]
        row = [math.nan if v < 0 else v for v in row]
        row += [float(series.numbers.get(k, math.nan)) for k in self.spec.numbers]
        row += [float(signals.get(k, math.nan)) for k in self.spec.signals]
        row += [
            float(origin),
            float(ahead),
            float(target),
            float(target % 7),
            self.curve.at(segment, target) - typical_now,
            log_now - typical_now,
            float(np.mean(deviations)),
            # today against the offer's own level, the curve taken out: the wobble that tends to fade
            deviations[0] - float(np.mean(deviations[1:])) if len(deviations) > 1 else math.nan,
            *moves,
            float(len(history)),
        ]
        return row

    def _pairs(
        self, series: Sequence[PriceSeries], rng: np.random.Generator, min_history: int = 1, cap: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Training examples: (features at an origin day, log ratio of the price `h` days later to the origin's)."""
        rows: list[list[float]] = []
        targets: list[float] = []
        ahead: list[int] = []
        for s in series:
            days = sorted(s.prices, reverse=True)  # oldest first: days[i] has i + 1 observations up to it
            candidates = [
                (d0, h)
                for i, d0 in enumerate(days)
                if i + 1 >= min_history
                for h in range(1, HORIZON + 1)
                if d0 - h in s.prices
            ]
            limit = self.max_pairs_per_series if cap is None else cap
            if len(candidates) > limit:
                picked = rng.choice(len(candidates), limit, replace=False)
                candidates = [candidates[i] for i in sorted(picked)]
            for d0, h in candidates:
                history = _history_before(s, d0)
                rows.append(self._row(s, d0, h, history))
                targets.append(math.log(s.prices[d0 - h]) - history[0][1])
                ahead.append(h)
        width = len(self.feature_names())
        return np.array(rows, dtype=float).reshape(-1, width), np.array(targets, dtype=float), np.array(ahead)

    def _model(self, loss: str, quantile: float | None = None) -> HistGradientBoostingRegressor:
        # Categories go in as their ordinal codes, split on like numbers: declared categorical, sklearn re-encodes
        # every batch it predicts, which cost about 10 ms per model for one forecast of 14 rows.
        return HistGradientBoostingRegressor(
            loss=loss,
            quantile=quantile,
            learning_rate=0.1,
            max_iter=self.iterations,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            l2_regularization=1.0,
            categorical_features=None,
            random_state=self.seed,
        )

    def _fill_empty(self, rows: np.ndarray) -> np.ndarray:
        """Features never seen in training (a momentum over fewer days than prices are observed) are constant."""
        if self.empty_columns:
            rows = rows.copy()
            rows[:, self.empty_columns] = 0.0
        return rows

    # --- training -------------------------------------------------------------------------------------------

    def fit(self, series: Sequence[PriceSeries], calibration_share: float = 0.2) -> PriceForecaster:
        """Learn from `series`; a `calibration_share` of groups is held out to calibrate the interval."""
        with _threads.limit(limits=THREADS, user_api="openmp"):
            return self._fit(series, calibration_share)

    def _fit(self, series: Sequence[PriceSeries], calibration_share: float) -> PriceForecaster:
        usable = [s for s in series if len(s.prices) >= 2 and all(p > 0 for p in s.prices.values())]
        if not usable:
            raise ValueError("no price series with two or more positive observations to learn from")
        self.curve.fit(usable)
        for name in self.spec.categories:
            values = sorted({s.categories.get(name, "") for s in usable})
            if len(values) <= MAX_CATEGORY_LEVELS:
                self.levels[name] = {v: i for i, v in enumerate(values)}
        rng = np.random.default_rng(self.seed)
        held = [s for s in usable if stable_share("cal:" + (s.group or str(id(s)))) < calibration_share]
        kept = [s for s in usable if stable_share("cal:" + (s.group or str(id(s)))) >= calibration_share]
        x_all, y_all, ahead = self._pairs(usable, rng)
        if len(y_all) < 50:
            raise ValueError(f"only {len(y_all)} price moves to learn from; at least 50 are needed")
        self.empty_columns = [int(i) for i in np.flatnonzero(np.isnan(x_all).all(axis=0))]
        x_all = self._fill_empty(x_all)
        days, counts = np.unique(ahead, return_counts=True)
        self.trained_horizons = {int(d) for d, n in zip(days, counts, strict=True) if n >= 20}
        self._compiled = None
        self.median_model = self._model("squared_error").fit(x_all, y_all)
        x_fit, y_fit, _ = self._pairs(kept, rng) if held and kept else (x_all, y_all, ahead)
        x_fit = self._fill_empty(x_fit)
        lower, upper = QUANTILES
        self.low_model = self._model("quantile", lower).fit(x_fit, y_fit)
        self.high_model = self._model("quantile", upper).fit(x_fit, y_fit)
        self.widen = 0.0
        if held and kept:
            # Every day Roadie would forecast from (it has MIN_HISTORY prices), long histories as often as
            # they come: capped like the training pairs, the interval covered 86% on held-out airfares, not 80%.
            x_cal, y_cal, _ = self._pairs(held, rng, min_history=MIN_HISTORY, cap=10_000)
            x_cal = self._fill_empty(x_cal)
            if len(y_cal) >= 50:
                low, high = self.low_model.predict(x_cal), self.high_model.predict(x_cal)
                median = self.median_model.predict(x_cal)
                # How much wider each interval had to be to hold its price, on the side the price fell, as the
                # interval is used: never narrower than the median (see `ratios`).
                scores = np.where(y_cal < median, low - y_cal, y_cal - high)
                level = min(1.0, INTERVAL * (1 + 1 / len(scores)))
                self.widen = float(np.quantile(scores, level))
        self.trained_series, self.trained_pairs = len(usable), len(y_all)
        return self

    # --- forecasting ----------------------------------------------------------------------------------------

    def ratios(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Median, low and high log ratios to the current price for feature rows."""
        if self.median_model is None or self.low_model is None or self.high_model is None:
            raise RuntimeError("the forecaster has not been trained")
        rows = self._fill_empty(rows)
        models = (self.median_model, self.low_model, self.high_model)
        if len(rows) <= COMPILED_ROWS:
            if self._compiled is None:
                self._compiled = (CompiledTrees(models[0]), CompiledTrees(models[1]), CompiledTrees(models[2]))
            median, low, high = (trees.predict(rows) for trees in self._compiled)
        else:
            with _threads.limit(limits=THREADS, user_api="openmp"):
                median, low, high = (model.predict(rows) for model in models)
        return median, np.minimum(low - self.widen, median), np.maximum(high + self.widen, median)

    def forecast(self, series: PriceSeries, horizon: int = HORIZON) -> PricePath:
        """The next `horizon` days of `series` from its latest observation (never past departure)."""
        return self.forecast_many([series], horizon)[0]

    def forecast_many(self, many: Sequence[PriceSeries], horizon: int = HORIZON) -> list[PricePath]:
        """Forecasts for several series in one pass of the models (much faster than one at a time).

        Days ahead that training never saw (demo fares are observed every 3 days, tickets every 7) are
        interpolated in log price between the nearest days it saw, with today (no change) as day 0.
        """
        plans = []
        rows: list[list[float]] = []
        seen_days = self.trained_horizons or set(range(1, HORIZON + 1))
        for s in many:
            origin = min(s.prices)
            history = _history_before(s, origin)
            days = [h for h in range(1, horizon + 1) if origin - h >= 0]
            asked = sorted({h for h in days if h in seen_days} | {self._anchor(h, seen_days) for h in days} - {0})
            plans.append((origin, history, days, asked, len(rows)))
            rows += [self._row(s, origin, h, history) for h in asked]
        width = len(self.feature_names())
        if rows:
            median, low, high = self.ratios(np.array(rows, dtype=float).reshape(-1, width))
        paths = []
        for origin, history, days, asked, first in plans:
            current = math.exp(history[0][1])
            known = {0: (0.0, 0.0, 0.0)}
            known |= {h: (median[first + i], low[first + i], high[first + i]) for i, h in enumerate(asked)}
            steps = []
            for h in days:
                m, lo, hi = _interpolate(known, h)
                steps.append(
                    ForecastStep(h, origin - h, current * math.exp(m), current * math.exp(lo), current * math.exp(hi))
                )
            paths.append(PricePath(current=current, days_left=origin, steps=tuple(steps)))
        return paths

    @staticmethod
    def _anchor(h: int, seen: set[int]) -> int:
        """The nearest trained day ahead at or beyond `h` (or the largest one), for interpolation."""
        above = [d for d in seen if d >= h]
        return min(above) if above else max(seen)


class CompiledTrees:
    """A trained HistGradientBoostingRegressor's trees as flat arrays, walked for all rows and trees at once.

    sklearn walks its trees one Python call per tree: 250 trees by 3 models cost more than the 20 ms a
    forecast may take. Here every tree advances one level per numpy step (about 10 steps). It reads
    sklearn's private `_predictors` and `_baseline_prediction` (pinned in requirements.lock; the tests
    compare both predictions, so an upgrade that changes them fails loudly). Numeric splits only.
    """

    def __init__(self, model: HistGradientBoostingRegressor) -> None:
        trees = [predictors[0].nodes for predictors in model._predictors]
        if any(tree["is_categorical"].any() for tree in trees):
            raise ValueError("compiled trees take numeric splits only")
        offsets = np.cumsum([0] + [len(tree) for tree in trees[:-1]])
        nodes = np.concatenate(trees)
        shift = np.repeat(offsets, [len(tree) for tree in trees])
        self.roots = offsets.astype(np.int64)
        self.feature = nodes["feature_idx"].astype(np.int64)
        self.threshold = nodes["num_threshold"]
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.left = nodes["left"].astype(np.int64) + shift
        self.right = nodes["right"].astype(np.int64) + shift
        self.leaf = nodes["is_leaf"].astype(bool)
        self.value = nodes["value"]
        self.baseline = float(np.asarray(model._baseline_prediction).ravel()[0])

    def predict(self, rows: np.ndarray) -> np.ndarray:
        at = np.broadcast_to(self.roots, (len(rows), len(self.roots))).copy()
        which = np.arange(len(rows))[:, None]
        while True:
            open_ = ~self.leaf[at]
            if not open_.any():
                break
            x = rows[which, self.feature[at]]
            left = np.where(np.isnan(x), self.missing_left[at], x <= self.threshold[at])
            at = np.where(open_, np.where(left, self.left[at], self.right[at]), at)
        return np.asarray(self.baseline + self.value[at].sum(axis=1))


def _interpolate(known: dict[int, tuple[float, float, float]], h: int) -> tuple[float, float, float]:
    if h in known:
        return known[h]
    below = max(d for d in known if d < h)
    above = [d for d in known if d > h]
    if not above:
        return known[below]
    upper = min(above)
    share = (h - below) / (upper - below)
    a, b = known[below], known[upper]
    return (
        a[0] + share * (b[0] - a[0]),
        a[1] + share * (b[1] - a[1]),
        a[2] + share * (b[2] - a[2]),
    )


def chance_below(step: ForecastStep, price: float) -> float:
    """The chance the price on that day is under `price`, reading the 80% interval as a log-normal spread."""
    spread = max(1e-6, (math.log(step.high) - math.log(step.low)) / (2 * Z_80))
    return normal_cdf((math.log(price) - math.log(step.median)) / spread)


def advise(path: PricePath, bargain: float = 0.01, min_drop: float = 0.02, sure: float = 0.5) -> Advice:
    """Book now, wait or keep an eye on it, from a forecast path.

    Book now when today's price is at least `bargain` under the average price expected over the
    path (prices are expected to be higher, on the whole, than today). Wait when some day is
    expected at least `min_drop` cheaper and that is more likely than `sure`. Otherwise monitor:
    no clear move, so the person can wait without much risk. The probabilities read the 80%
    interval as a log-normal spread around the median. Chosen by the demo-database backtest
    (`python main.py forecast-eval --backtest`): buying only on "book now" captured the largest
    share of the perfect-foresight saving, and buying today on "monitor" as well captured less.
    """
    if not path.steps:
        return Advice("book_now", "low", 0.5, 0, 0.0, 0.0)
    current = path.current
    expected = float(np.mean([s.median for s in path.steps]))
    best = min(path.steps, key=lambda s: s.median)
    peak = max(path.steps, key=lambda s: s.median)
    saving = max(0.0, current - best.median)
    rise = max(0.0, peak.median - current)
    drop_chance = chance_below(best, current)
    rise_chance = float(np.mean([1 - chance_below(s, current) for s in path.steps]))
    if current <= expected * (1 - bargain):
        recommendation: Recommendation = "book_now"
        probability = rise_chance
    elif saving >= min_drop * current and drop_chance >= sure:
        recommendation, probability = "wait", drop_chance
    else:
        recommendation, probability = "monitor", max(drop_chance, rise_chance)
    confidence: Literal["high", "medium", "low"] = (
        "high" if probability >= 0.8 else "medium" if probability >= 0.65 else "low"
    )
    return Advice(
        recommendation=recommendation,
        confidence=confidence,
        probability=probability,
        best_day=best.days_ahead if recommendation == "wait" else 0,
        expected_saving=saving,
        expected_rise=rise,
    )
