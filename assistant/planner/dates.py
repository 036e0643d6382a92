"""Reads date ranges people type ("in May", "next weekend", "12/06", "between June and August")."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS: dict[str, int] = {}
for number, names in enumerate(
    (
        ("january", "jan", "enero", "januar", "janvier", "janeiro"),
        ("february", "feb", "febrero", "februar", "fevrier", "fevereiro"),
        ("march", "mar", "marzo", "marz", "maerz", "mars", "marco"),
        ("april", "apr", "abril", "avril"),
        ("may", "mayo", "mai", "maio"),
        ("june", "jun", "junio", "juni", "juin", "junho"),
        ("july", "jul", "julio", "juli", "juillet", "julho"),
        ("august", "aug", "agosto", "aout"),
        ("september", "sep", "sept", "septiembre", "septembre", "setembro"),
        ("october", "oct", "octubre", "oktober", "octobre", "outubro"),
        ("november", "nov", "noviembre", "novembre", "novembro"),
        ("december", "dec", "diciembre", "dezember", "decembre", "dezembro"),
    ),
    start=1,
):
    for name in names:
        MONTHS[name] = number

# Month names that are also ordinary words count only with a date-like word next to them.
AMBIGUOUS_MONTHS = {"may", "mar", "mai", "jan", "sep", "aug"}
DATE_CUES = {
    "in",
    "on",
    "during",
    "for",
    "until",
    "till",
    "by",
    "next",
    "this",
    "early",
    "late",
    "mid",
    "end",
    "of",
    "about",
    "around",
    "before",
    "after",
    "from",
    "to",
    "and",
    "en",
    "im",
    "em",
    "de",
    "between",
    "through",
    "thru",
}
SEASONS = {
    "spring": (3, 5),
    "summer": (6, 8),
    "autumn": (9, 11),
    "fall": (9, 11),
    "winter": (12, 2),
    "verano": (6, 8),
    "sommer": (6, 8),
    "ete": (6, 8),
    "verao": (6, 8),
}
WEEKDAYS = {
    name: i
    for i, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}
NUMBER_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "couple": 2, "few": 3}


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of days, with the words it came from."""

    start: date
    end: date
    text: str


def _month_range(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _next_month_year(today: date, month: int) -> int:
    return today.year if month >= today.month else today.year + 1


def _clean(text: str) -> str:
    text = text.lower().replace("é", "e").replace("è", "e").replace("û", "u").replace("ä", "a")
    return text.replace("ç", "c").replace("ã", "a").replace("ô", "o")


class DateParser:
    """Parses the first date expression in a message relative to `today`."""

    def parse(self, text: str, today: date) -> DateRange | None:
        """The date range the text speaks of, or None when it names no date."""
        low = _clean(text)
        for finder in (
            self._iso,
            self._numeric,
            self._between_months,
            self._day_month,
            self._relative,
            self._month,
            self._season,
            self._year,
        ):
            found = finder(low, today, text)
            if found is not None:
                return found
        return None

    def impossible(self, text: str) -> str | None:
        """Words that look like a date but name no real day ("31/02", "30 February"), if any."""
        low = _clean(text)
        names = "|".join(sorted(MONTHS, key=len, reverse=True))
        for pattern in (
            r"\b(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2,4}))?\b",
            rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+({names})\b",
        ):
            m = re.search(pattern, low)
            if not m:
                continue
            day = int(m[1])
            month = int(m[2]) if m[2].isdigit() else MONTHS[m[2]]
            if m[2].isdigit() and month > 12 and day <= 12:
                day, month = month, day
            if _safe_date(2028, month, day) is None:  # 2028 is a leap year: 29 February counts
                return m[0]
        return None

    def _iso(self, low: str, today: date, original: str) -> DateRange | None:
        m = re.search(r"\b(20\d\d)-(\d{1,2})-(\d{1,2})\b", low)
        if not m:
            return None
        day = _safe_date(int(m[1]), int(m[2]), int(m[3]))
        return DateRange(day, day, m[0]) if day else None

    def _numeric(self, low: str, today: date, original: str) -> DateRange | None:
        # Day first, as most of our travellers write it: 12/06, 12/06/2027, 12.06.27
        m = re.search(r"\b(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2,4}))?\b", low)
        if not m:
            return None
        day_n, month_n = int(m[1]), int(m[2])
        if month_n > 12 and day_n <= 12:
            day_n, month_n = month_n, day_n
        year = int(m[3]) if m[3] else None
        if year is not None and year < 100:
            year += 2000
        if year is None:
            year = today.year
            candidate = _safe_date(year, month_n, day_n)
            if candidate and candidate < today:
                year += 1
        day = _safe_date(year, month_n, day_n)
        return DateRange(day, day, m[0]) if day else None

    def _between_months(self, low: str, today: date, original: str) -> DateRange | None:
        names = "|".join(sorted(MONTHS, key=len, reverse=True))
        m = re.search(rf"\b(?:between|from)\s+({names})\s+(?:and|to|-|until|till)\s+({names})(?:\s+(20\d\d))?\b", low)
        if not m:
            return None
        first, last = MONTHS[m[1]], MONTHS[m[2]]
        year = int(m[3]) if m[3] else _next_month_year(today, first)
        start = _month_range(year, first)[0]
        end_year = year if last >= first else year + 1
        return DateRange(start, _month_range(end_year, last)[1], m[0])

    def _day_month(self, low: str, today: date, original: str) -> DateRange | None:
        names = "|".join(sorted(MONTHS, key=len, reverse=True))
        m = re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+({names})\b(?:\s+(20\d\d))?", low)
        day_first = True
        if not m:
            m = re.search(rf"\b({names})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(20\d\d))?", low)
            day_first = False
        if not m:
            return None
        day_n, month_name = (int(m[1]), m[2]) if day_first else (int(m[2]), m[1])
        month = MONTHS[month_name]
        year = int(m[3]) if m[3] else today.year
        candidate = _safe_date(year, month, day_n)
        if candidate and not m[3] and candidate < today:
            candidate = _safe_date(year + 1, month, day_n)
        if candidate is None:
            return None
        range_end = candidate
        to = re.search(rf"{re.escape(m[0])}\s*(?:-|to|until|till)\s*(\d{{1,2}})(?:st|nd|rd|th)?\b", low)
        if to and int(to[1]) > day_n:
            range_end = _safe_date(candidate.year, month, int(to[1])) or candidate
        return DateRange(candidate, range_end, m[0])

    def _relative(self, low: str, today: date, original: str) -> DateRange | None:
        if re.search(r"\b(today|tonight|hoy|heute|aujourd'hui|hoje)\b", low):
            return DateRange(today, today, "today")
        if re.search(r"\b(tomorrow|manana|morgen|demain|amanha)\b", low):
            day = today + timedelta(days=1)
            return DateRange(day, day, "tomorrow")
        m = re.search(r"\b(this|next|coming)\s+weekend\b", low)
        if m or re.search(r"\bweekend\b", low):
            saturday = today + timedelta(days=(5 - today.weekday()) % 7)
            if m and m[1] == "next" and today.weekday() < 5:
                saturday += timedelta(days=7)
            return DateRange(
                max(today, saturday - timedelta(days=1)), saturday + timedelta(days=1), m[0] if m else "weekend"
            )
        m = re.search(r"\b(this|next)\s+(week|month|year)\b", low)
        if m:
            which, unit = m[1], m[2]
            if unit == "week":
                monday = today - timedelta(days=today.weekday()) + timedelta(days=7 if which == "next" else 0)
                return DateRange(max(today, monday), monday + timedelta(days=6), m[0])
            if unit == "month":
                year, month = today.year, today.month
                if which == "next":
                    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
                start, end = _month_range(year, month)
                return DateRange(max(today, start), end, m[0])
            year = today.year + (1 if which == "next" else 0)
            return DateRange(max(today, date(year, 1, 1)), date(year, 12, 31), m[0])
        m = re.search(
            r"\b(?:in|within|over|during)\s+the\s+next\s+(\d+|a|one|two|three|four|five|six|couple|few)\s+(day|week|month)s?\b",
            low,
        ) or re.search(
            r"\b(?:in|within|next)\s+(\d+|a|one|two|three|four|five|six|couple|few)\s+(?:of\s+)?(day|week|month)s?\b",
            low,
        )
        if m:
            count = int(m[1]) if m[1].isdigit() else NUMBER_WORDS[m[1]]
            days = {"day": 1, "week": 7, "month": 31}[m[2]] * count
            return DateRange(today, today + timedelta(days=days), m[0])
        m = re.search(r"\b(?:on\s+|this\s+|next\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", low)
        if m:
            ahead = (WEEKDAYS[m[1]] - today.weekday()) % 7 or 7
            day = today + timedelta(days=ahead)
            return DateRange(day, day, m[0])
        return None

    def _month(self, low: str, today: date, original: str) -> DateRange | None:
        words = re.findall(r"[a-z0-9']+", low)
        originals = re.findall(r"[A-Za-zÀ-ÿ0-9']+", original)
        for i, word in enumerate(words):
            month = MONTHS.get(word)
            if month is None or (len(word) == 3 and word not in {"may", "jun", "jul"} and not self._cued(words, i)):
                continue
            after = words[i + 1] if i + 1 < len(words) else ""
            if word == "may" and after in {"i", "we", "you", "be", "have", "get", "ask", "need", "want"}:
                continue
            if word in AMBIGUOUS_MONTHS and not self._cued(words, i):
                capital = i < len(originals) and originals[i][:1].isupper() and i > 0
                short = len(words) <= 4
                if not (capital or short):
                    continue
            year_match = words[i + 1] if i + 1 < len(words) and re.fullmatch(r"20\d\d", words[i + 1]) else None
            year = int(year_match) if year_match else _next_month_year(today, month)
            start, end = _month_range(year, month)
            prefix = words[i - 1] if i > 0 else ""
            if prefix in {"early", "beginning"}:
                end = date(year, month, 10)
            elif prefix in {"late", "end"}:
                start = date(year, month, 20)
            elif prefix == "mid":
                start, end = date(year, month, 10), date(year, month, 20)
            if prefix in {"before", "until", "till", "by"}:
                return DateRange(today, end, f"{prefix} {word}")
            if prefix in {"after", "from"}:
                return DateRange(start, date(start.year + 1, start.month, 1) - timedelta(days=1), f"{prefix} {word}")
            if year == today.year and month == today.month:
                start = max(start, today)
            return DateRange(start, end, word + (f" {year_match}" if year_match else ""))
        return None

    @staticmethod
    def _cued(words: list[str], i: int) -> bool:
        before = words[i - 1] if i > 0 else ""
        after = words[i + 1] if i + 1 < len(words) else ""
        return before in DATE_CUES or bool(re.fullmatch(r"\d{1,4}(st|nd|rd|th)?", after)) or after in {"or", "and"}

    def _season(self, low: str, today: date, original: str) -> DateRange | None:
        m = re.search(r"\b(" + "|".join(SEASONS) + r")\b(?:\s+(20\d\d))?", low)
        if not m:
            return None
        first, last = SEASONS[m[1]]
        year = int(m[2]) if m[2] else None
        if year is None:
            year = today.year
            end_year = year + 1 if last < first else year
            if _month_range(end_year, last)[1] < today:
                year += 1
        end_year = year + 1 if last < first else year
        start = _month_range(year, first)[0]
        return DateRange(max(start, today) if start <= today else start, _month_range(end_year, last)[1], m[0])

    def _year(self, low: str, today: date, original: str) -> DateRange | None:
        m = re.search(r"\b(?:in|for|during|en|im)\s+(20\d\d)\b", low) or re.fullmatch(r".*\b(20\d\d)\b.*", low)
        if not m:
            return None
        year = int(m[1])
        start = date(year, 1, 1)
        return DateRange(max(start, today) if year == today.year else start, date(year, 12, 31), str(year))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
