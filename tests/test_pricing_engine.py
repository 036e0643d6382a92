"""The forecasting engine on small generated price histories: it learns the curve, its interval covers, it advises."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from tools.dynamic_pricing import CAP_DOWN, CAP_UP, Demand, next_price, sales_pace, target_multiplier
from tools.forecasting import (
    HORIZON,
    CompiledTrees,
    FeatureSpec,
    ForecastStep,
    PriceForecaster,
    PricePath,
    PriceSeries,
    TypicalCurve,
    advise,
    chance_below,
    day_bucket,
    stable_share,
)

SPEC = FeatureSpec(categories=("route",), numbers=("base",), typical_by=("route",))


def curve(days_left: int) -> float:
    """Fares that double inside two weeks, like real ones."""
    return 1.0 if days_left > 14 else 2.0 - days_left / 14


def generated(n: int, seed: int, wobble: float = 0.03) -> list[PriceSeries]:
    """`n` daily fare histories from 40 days out to departure on three routes, with a small mean-reverting wobble."""
    rng = random.Random(seed)
    series = []
    for i in range(n):
        route = ("LHR-LIS", "CDG-BER", "MAD-ROM")[i % 3]
        base = {"LHR-LIS": 120.0, "CDG-BER": 90.0, "MAD-ROM": 70.0}[route] * rng.uniform(0.9, 1.1)
        noise, prices = 0.0, {}
        for d in range(40, 0, -1):
            noise = 0.5 * noise + rng.gauss(0, wobble)
            prices[d] = base * curve(d) * math.exp(noise)
        series.append(PriceSeries({"route": route}, {"base": base}, prices, group=f"{route}-{i}"))
    return series


@pytest.fixture(scope="module")
def trained() -> PriceForecaster:
    return PriceForecaster(SPEC, iterations=120).fit(generated(240, seed=1))


def seen_until(series: PriceSeries, days_left: int) -> PriceSeries:
    return PriceSeries(
        series.categories,
        series.numbers,
        {d: p for d, p in series.prices.items() if d >= days_left},
        group=series.group,
    )


def test_forecasts_follow_the_curve_better_than_todays_price(trained: PriceForecaster) -> None:
    errors, naive, inside = [], [], []
    for s in generated(60, seed=2):
        path = trained.forecast(seen_until(s, 20))
        for step in path.steps:
            actual = s.prices[step.days_left]
            errors.append(abs(step.median - actual) / actual)
            naive.append(abs(path.current - actual) / actual)
            inside.append(step.low <= actual <= step.high)
    assert np.mean(errors) < 0.05
    assert np.mean(errors) < np.mean(naive) / 3, "the curve is learnt, not just today's price carried on"
    assert 0.7 <= np.mean(inside) <= 0.95, "the 80% interval covers about 80%"


def test_a_path_covers_fourteen_days_and_stops_at_departure(trained: PriceForecaster) -> None:
    s = generated(1, seed=3)[0]
    far = trained.forecast(seen_until(s, 30))
    assert [step.days_ahead for step in far.steps] == list(range(1, HORIZON + 1))
    assert all(step.low <= step.median <= step.high for step in far.steps)
    near = trained.forecast(seen_until(s, 5))
    assert [step.days_left for step in near.steps] == [4, 3, 2, 1, 0]


def test_rising_prices_mean_book_now(trained: PriceForecaster) -> None:
    s = generated(1, seed=4, wobble=0.0)[0]
    advice = advise(trained.forecast(seen_until(s, 16)))
    assert advice.recommendation == "book_now"
    assert advice.expected_rise > 0
    assert advice.best_day == 0


def test_advice_from_hand_made_paths() -> None:
    def path(current: float, medians: list[float], spread: float = 0.03) -> PricePath:
        steps = tuple(ForecastStep(i + 1, 20 - i, m, m * (1 - spread), m * (1 + spread)) for i, m in enumerate(medians))
        return PricePath(current=current, days_left=21, steps=steps)

    falling = advise(path(100, [99, 96, 92, 90, 91, 95, 98]))
    assert falling.recommendation == "wait"
    assert falling.best_day == 4
    assert falling.expected_saving == pytest.approx(10)
    assert falling.confidence == "high"
    rising = advise(path(100, [102, 105, 110, 115]))
    assert rising.recommendation == "book_now"
    flat = advise(path(100, [100.2, 99.8, 100.1], spread=0.2))
    assert flat.recommendation == "monitor"
    assert flat.confidence == "low"
    assert chance_below(ForecastStep(1, 1, 100, 90, 110), 100) == pytest.approx(0.5)


def test_too_little_to_learn_from_is_refused() -> None:
    with pytest.raises(ValueError, match="to learn from"):
        PriceForecaster(SPEC).fit([PriceSeries({"route": "X"}, {}, {3: 10.0})])


def test_typical_curve_falls_back_when_data_is_thin() -> None:
    curve_ = TypicalCurve(SPEC).fit(generated(30, seed=5))
    assert curve_.at(("LHR-LIS",), 2) > curve_.at(("LHR-LIS",), 30), "dearer close to departure"
    assert math.isfinite(curve_.at(("nowhere",), 400)), "an unknown route on an unseen day still has a value"
    assert [day_bucket(d) for d in (1, 3, 7, 14, 21, 30, 45)] == [0, 1, 2, 3, 4, 5, 7]


def test_the_split_is_stable() -> None:
    assert stable_share("Vistara|UK-995") == stable_share("Vistara|UK-995")
    shares = [stable_share(f"flight-{i}") for i in range(2000)]
    assert 0.17 < np.mean([s < 0.2 for s in shares]) < 0.23


def test_dynamic_ticket_prices_keep_their_caps_and_steps() -> None:
    face = 10_000
    hot = Demand(sold_share=0.99, pace=4.0, days_to_show=5)
    cold = Demand(sold_share=0.1, pace=0.2, days_to_show=5)
    assert target_multiplier(hot) == pytest.approx(1 + CAP_UP, abs=0.2)
    assert target_multiplier(cold) == pytest.approx(1 - CAP_DOWN)
    price, history = face, []
    for _ in range(60):
        new = next_price(price, face, hot)
        if new != price:
            assert abs(new - price) / price >= 0.01, "a move is at least 1%"
            assert abs(new - price) / price <= 0.08 + 0.01, "and at most 8% (whole euros)"
        price = new
        history.append(price)
    assert max(history) <= face * (1 + CAP_UP)
    assert history[-1] == history[-2], "it settles at its target"
    for _ in range(60):
        price = next_price(price, face, cold)
    assert price == face * (1 - CAP_DOWN)
    steady = Demand(sold_share=0.6, pace=1.0, days_to_show=200)
    assert next_price(face, face, steady) == face, "no move under 1%"


def test_sales_pace_compares_the_last_week_with_the_usual_one() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 21, tzinfo=UTC)
    announced = now - timedelta(weeks=10)
    steady = [(announced + timedelta(weeks=w, days=1), 2) for w in range(10)]
    assert sales_pace(steady, announced, now) == pytest.approx(1.0, abs=0.2)
    rush = [*steady, (now - timedelta(days=1), 10)]
    assert sales_pace(rush, announced, now) > 3
    assert sales_pace([], announced, now) == 1.0


def test_compiled_trees_predict_what_sklearn_predicts(trained: PriceForecaster) -> None:
    """The fast path reads sklearn's private tree arrays: an upgrade that changes them must fail here."""
    rows, _, _ = trained._pairs(generated(10, seed=6), np.random.default_rng(0))
    rows = trained._fill_empty(rows)
    for model in (trained.median_model, trained.low_model, trained.high_model):
        assert model is not None
        np.testing.assert_allclose(CompiledTrees(model).predict(rows), model.predict(rows), atol=1e-9)
