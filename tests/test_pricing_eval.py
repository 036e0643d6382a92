"""`forecast-eval`: the engine against the baselines on airfares — generated ones here, the real ones when present."""

from __future__ import annotations

import csv
import gzip
import json
import math
import random
import zlib
from pathlib import Path

import pytest

from evals.forecast import evaluate, held_out, read_fares
from main import main

AIRFARES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "airfares" / "airfares_train.csv.gz"
COLUMNS = ["airline", "flight", "source_city", "departure_time", "stops", "arrival_time", "destination_city", "class",
           "duration", "days_left", "price"]  # fmt: skip


def write_fares(path: Path, flights: int = 160, seed: int = 3) -> None:
    """A small airfares file shaped like the real one: prices flat far out, doubling in the last two weeks."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(flights):
            airline = ("Vistara", "Indigo", "Air_India")[i % 3]
            source, destination = rng.sample(["Delhi", "Mumbai", "Bangalore", "Kolkata"], 2)
            fare_class = "Business" if i % 5 == 0 else "Economy"
            base = rng.uniform(3000, 6000) * (5 if fare_class == "Business" else 1)
            noise = 0.0
            for days_left in range(49, 0, -1):
                noise = 0.5 * noise + rng.gauss(0, 0.04)
                curve = 1.0 if days_left > 15 else 2.0 - days_left / 15
                price = round(base * curve * math.exp(noise))
                writer.writerow([airline, f"{airline[:2].upper()}-{100 + i}", source, "Morning", "one", "Evening",
                                 destination, fare_class, 2.5, days_left, price])  # fmt: skip


def test_the_engine_beats_the_baselines_on_generated_fares(tmp_path: Path) -> None:
    data = tmp_path / "fares.csv"
    write_fares(data)
    report = evaluate(data)
    forecast = report["forecast"]
    assert report["rows"]["held_out"] > 0
    assert forecast["pairs"] > 1000
    mape = forecast["mape"]
    assert mape["engine"] < mape["last_price"] < mape["group_median"]
    assert mape["engine"] < mape["gradient_boosting"]
    assert 0.7 <= forecast["interval_coverage"] <= 0.92
    assert set(report["cold_start"]["mape"]) == {"group_median", "gradient_boosting"}


def test_the_split_holds_out_whole_flights(tmp_path: Path) -> None:
    data = tmp_path / "fares.csv.gz"
    plain = tmp_path / "fares.csv"
    write_fares(plain, flights=60)
    data.write_bytes(gzip.compress(plain.read_bytes()))
    fares = read_fares(data)
    by_flight: dict[str, set[bool]] = {}
    for fare in fares:
        by_flight.setdefault(fare.flight_key, set()).add(held_out(fare))
    assert all(len(sides) == 1 for sides in by_flight.values()), "a flight is never on both sides"
    assert any(True in sides for sides in by_flight.values())


@pytest.mark.usefixtures("own_logging")
def test_forecast_eval_command_prints_json_with_a_separate_train_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    write_fares(train, flights=120, seed=4)
    write_fares(test, flights=40, seed=5)
    assert main(["forecast-eval", "--csv", str(test), "--train", str(train), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == {"train": 120 * 49, "held_out": 40 * 49}
    assert set(report["forecast"]["mape"]) == {"engine", "group_median", "gradient_boosting", "last_price"}
    assert "interval_coverage" in report["forecast"]


def test_a_file_without_fares_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("airline,price\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no airfare rows"):
        read_fares(empty)


@pytest.mark.skipif(not AIRFARES.exists(), reason=f"the real airfares are not at {AIRFARES}")
def test_real_airfares_a_quarter_of_the_flights(tmp_path: Path) -> None:
    """A quarter of the real flights, for time; the README's figures come from the whole file (forecast-eval)."""
    sample = tmp_path / "sample.csv"
    with gzip.open(AIRFARES, "rt", encoding="utf-8", newline="") as source, sample.open("w", newline="") as target:
        rows = csv.reader(source)
        writer = csv.writer(target)
        writer.writerow(next(rows))
        for row in rows:
            if zlib.crc32(row[1].encode()) % 4 == 0:  # whole flight numbers
                writer.writerow(row)
    report = evaluate(sample)
    mape = report["forecast"]["mape"]
    assert mape["engine"] < mape["last_price"] < mape["group_median"], mape
    assert mape["engine"] < mape["gradient_boosting"], mape
    assert 0.7 <= report["forecast"]["interval_coverage"] <= 0.9
