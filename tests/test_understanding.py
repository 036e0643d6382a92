"""How Roadie reads what people type: dates relative to today, and names with typos and aliases."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.db import Database
from assistant.entities import EntityIndex
from assistant.planner.dates import DateParser
from assistant.planner.picks import ordinal
from assistant.planner.scope import off_topic
from assistant.planner.shorthand import expand
from assistant.planner.slots import SlotExtractor
from assistant.settings import Settings

TODAY = date(2026, 11, 21)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("what about in May?", "2027-05-01", "2027-05-31"),
        ("next month", "2026-12-01", "2026-12-31"),
        ("between June and August", "2027-06-01", "2027-08-31"),
        ("on 3rd of July", "2027-07-03", "2027-07-03"),
        ("12/06", "2027-06-12", "2027-06-12"),
        ("2027-02-14", "2027-02-14", "2027-02-14"),
        ("shows in mayo", "2027-05-01", "2027-05-31"),
        ("Konzerte im Juni", "2027-06-01", "2027-06-30"),
        ("in March 2025", "2025-03-01", "2025-03-31"),
        ("this weekend", "2026-11-21", "2026-11-22"),
        ("late november", "2026-11-21", "2026-11-30"),
    ],
)
def test_dates(text: str, start: str, end: str) -> None:
    found = DateParser().parse(text, TODAY)
    assert found is not None
    assert (found.start.isoformat(), found.end.isoformat()) == (start, end)


@pytest.mark.parametrize("text", ["may I book two tickets", "find Metallica concerts", "I'm marching on"])
def test_no_date_where_none_was_said(text: str) -> None:
    assert DateParser().parse(text, TODAY) is None


@pytest.fixture
def index(settings: Settings) -> EntityIndex:
    return EntityIndex.from_database(Database(settings.resolved_database_url))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("any Coldplay shows in Europe?", [("artist", "Coldplay"), ("region", "Europe")]),
        ("metallicca in munchen", [("artist", "Metallica"), ("city", "Munich")]),
        ("beyonce at wembley", [("artist", "Beyoncé"), ("venue", "Wembley Stadium")]),
        ("shows in NYC or LA", [("city", "New York"), ("city", "Los Angeles")]),
        ("la bichota en la ciudad", [("artist", "Karol G")]),
        ("tell us what's on", []),
    ],
)
def test_entities(index: EntityIndex, text: str, expected: list[tuple[str, str]]) -> None:
    assert [(m.kind, m.value) for m in index.find(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sorry i meant berlin not munich", {"city": "Berlin"}),
        ("show me adele's tour", {"artist": "Adele"}),
        ("rent me a car in munich for the weekend", {"city": "Munich"}),
        ("the weekend tour dates", {"artist": "The Weeknd"}),
        ("we're a group of friends going to Paris", {"city": "Paris"}),
        ("me and my 3 mates in Munich", {"city": "Munich", "travellers": 4}),
    ],
)
def test_slots_read_what_was_meant(index: EntityIndex, text: str, expected: dict[str, object]) -> None:
    values = SlotExtractor().extract(text, index, TODAY).values
    assert {k: values.get(k) for k in expected} == expected
    assert "venue" not in values
    assert "artist" in expected or "artist" not in values


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("rent me a car in munich", True),
        ("does germany have any travel alerts", True),
        ("how tall is taylor swift", True),
        ("what plug do they use in the uk", True),
        ("coldplay tickets in munich", False),
        ("what's the weather like at the Lisbon show", False),
        ("I paid 40 for the car rental, split equally", False),
    ],
)
def test_topics_roadie_does_not_serve(text: str, meant: bool) -> None:
    assert off_topic(text, named_artist=False) is meant


@pytest.mark.parametrize(
    ("text", "position"),
    [("book the second one", 1), ("plan a trip to the 3rd one", 2), ("number 4 pls", 3), ("the last one", -1)],
)
def test_ordinals_point_into_the_last_list(text: str, position: int) -> None:
    assert ordinal(text) == position


def test_shorthand_is_spelled_out() -> None:
    assert expand("rev by city last mnth") == "revenue by city last month"
    assert expand("r&b tix yday") == "r&b tickets yesterday"
