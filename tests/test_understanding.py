"""How Roadie reads what people type: dates relative to today, and names with typos and aliases."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.db import Database
from assistant.entities import EntityIndex
from assistant.planner.dates import DateParser
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
