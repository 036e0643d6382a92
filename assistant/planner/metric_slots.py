"""Staff questions in plain words → `query_metrics` arguments: the metric, a dimension, a period, filters.

"revenue last week by artist", "conversion from quote to booking this month", "top routes in October",
"how many new users yesterday vs the day before", "which shows are selling slowest". Periods read
backwards (staff ask about what happened: "October" is the last October, not the next one).

Also here: `staff_only_topic`, which recognises a traveller asking for Roadie's business numbers, so
the conversation service can refuse politely and record it, whatever model is running.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from assistant.entities import Mention
from assistant.planner.dates import MONTHS

METRICS_TOOL = "query_metrics"
STAFF_ONLY_REPLY = (
    "Sorry — Roadie's business figures (revenue, bookings totals, conversion and the like) are only for "
    "Roadie staff, so I can't share them here. I'm happy to help with your own trips: finding shows, "
    "planning and booking, or your bookings."
)
_I = re.IGNORECASE

# Metric words, most specific first; when two match, the one earlier in the message wins, then this order.
# "strong" words are analytics on their own; weak ones need an analytics context (a period, "how many", "by").
METRIC_WORDS: tuple[tuple[str, str, bool], ...] = (
    (r"\bquotes?\s*(?:→|->|to|2|into)\s*(?:a\s+)?book", "quote_to_booking", True),
    (r"\bsearch(?:es)?\s*(?:→|->|to|2|into)\s*(?:a\s+)?quote", "search_to_quote", True),
    (r"\bquotes?\b[^.?!]{0,30}\b(?:turn|convert|bec[oa]me|end)(?:s|ed)?\b[^.?!]{0,20}\bbook", "quote_to_booking", True),
    (
        r"\bsearch(?:es)?\b[^.?!]{0,30}\b(?:turn|convert|bec[oa]me|end)(?:s|ed)?\b[^.?!]{0,20}\bquote",
        "search_to_quote",
        True,
    ),
    (r"\bbook(?:ing)?s? conversion|\bconver(?:sion|ting|t)\b|\bfunnel\b|\bclose rate\b", "quote_to_booking", True),
    (
        r"\bsell[- ]?through\b|\bsold[- ]?through\b|\bsell(?:ing)? (?:the )?(?:slow|fast)(?:est)?\b|"
        r"\b(?:slow|fast)(?:est)?[- ]selling\b|\bfill(?:ing)? rate\b|\bhow full\b|\bcapacity sold\b|\bleast sold\b",
        "sell_through",
        True,
    ),
    (
        r"\baverage (?:order|booking|basket|spend|ticket order|trip)(?: value| size| total)?\b|\baov\b|"
        r"\bavg (?:order|booking|basket)\b|\brevenue per (?:booking|order)\b|\bmean order\b",
        "average_order_value",
        True,
    ),
    (r"\bcommissions?\b|\bour (?:cut|take)\b", "commission", True),
    (
        r"\b(?:how many )?bookings? (?:were |got |that were |have been )?cancell?ed\b|\bcancell?ations?\b|\bcancels\b",
        "cancellations",
        True,
    ),
    (r"\brefund(?:s|ed)?\b|\bmoney (?:given|paid) back\b", "refunds", False),
    (
        r"\bnew (?:users?|customers?|travell?ers?|signups?|sign-ups?|accounts?)\b|\bsign[- ]?ups\b|"
        r"\bregistrations\b|\bhow many (?:new )?people (?:joined|signed up)\b",
        "new_users",
        True,
    ),
    (
        r"\bactive (?:users?|people|travell?ers?|customers?)\b|\b[dwm]au\b|\bunique (?:users|people)\b|"
        r"\bhow many (?:people|users) (?:talked|chatted|used)\b",
        "active_users",
        True,
    ),
    (r"\btool (?:success|error|failure)s?(?: rate)?\b|\bsuccess rate\b|\berror rate\b", "tool_success_rate", True),
    (
        r"\blatency\b|\bresponse times?\b|\breply times?\b|\btime to (?:answer|reply|respond)\b|"
        r"\bhow (?:fast|quickly) (?:does|do|did|is) (?:roadie|the (?:assistant|bot)|we|it)\b",
        "median_latency",
        True,
    ),
    (
        r"\b(?:alerts?|notifications?|reminders?|proactive messages?)(?: \w+)? (?:were )?(?:sent|went out|delivered)\b|"
        r"\bhow many (?:alerts?|notifications?|reminders?|proactive messages?) (?:did we send|did roadie send|went out)\b",
        "alerts_sent",
        False,
    ),
    (
        r"\b(?:assistant |bot |chat )?turns\b|\bmessages (?:handled|answered|received)\b|\bconversations?\b|"
        r"\bhow many messages\b",
        "turns",
        False,
    ),
    (
        r"\btickets? sold\b|\bticket sales\b|\bseats sold\b|\bsold(?: \w+){0,3} tickets\b|\bhow many tickets\b|"
        r"\bnumber of tickets\b",
        "tickets_sold",
        False,
    ),
    (r"\bquotes\b|\bhow many quotes?\b|\bquotes? (?:given|issued|sent)\b|\bquoted\b", "quotes", False),
    (r"\bsearches\b|\bhow many searches\b|\bsearch volume\b|\bsearched\b", "searches", False),
    (
        r"\brevenue\b|\bsales\b|\bturnover\b|\bgmv\b|\btakings\b|\bincome\b|\bgross\b|\bearn(?:ed|ings)?\b|"
        r"\bhow much (?:money )?(?:did|have|has) (?:we|roadie) (?:make|made|take|taken|sell|sold|earn|earned)\b|"
        r"\bmoney (?:did we|we) (?:make|made)\b",
        "revenue",
        True,
    ),
    (
        r"\bbookings\b|\bhow many (?:booking|trip)s?\b|\borders\b|\breservations\b|\btrips booked\b|\bbooked\b",
        "bookings",
        False,
    ),
)
_METRIC_PATTERNS = [(re.compile(p, _I), m, strong) for p, m, strong in METRIC_WORDS]

ANALYTICS_CONTEXT = re.compile(
    r"\b(?:how many|how much|number of|total|count|per|by|top|bottom|best|worst|trend|chart|graph|plot|export|csv|"
    r"compare|compared|vs|versus|stats|statistics|metrics?|figures|numbers|kpis?|report|dashboard|breakdown|"
    r"today|yesterday|week|month|year|daily|weekly|monthly|days|so far)\b",
    _I,
)
NOT_ANALYTICS = re.compile(
    r"\b(?:turn (?:on|off)|stop|mute|disable|enable|unfollow|follow|book (?:it|this|that|the|a)|plan a|"
    r"cancel (?:my|it|the|booking)|set (?:my|up))\b",
    _I,
)
FIRST_PERSON = re.compile(r"\b(?:my|mine|i|i'm|i'd|i've)\b", _I)

PERIOD_WORDS: tuple[tuple[str, str], ...] = (
    (r"\b(?:so far )?today\b|\bthis day\b", "today"),
    (r"\byesterday\b", "yesterday"),
    (r"\b(?:last|past|previous) (?:7|seven) days\b|\b(?:the |this )?past week\b|\blast 7d\b", "last_7_days"),
    (r"\bthis week\b|\bweek to date\b|\bwtd\b", "this_week"),
    (r"\blast week\b|\bprevious week\b|\bthe week before\b", "last_week"),
    (r"\bthis month\b|\bmonth to date\b|\bmtd\b|\bmonth so far\b", "this_month"),
    (r"\blast month\b|\bprevious month\b", "last_month"),
    (r"\b(?:last|past|previous) (?:30|thirty) days\b|\b(?:the )?past month\b|\blast 30d\b", "last_30_days"),
    (r"\bthis year\b|\byear to date\b|\bytd\b|\bso far this year\b", "this_year"),
    (r"\blast year\b|\bprevious year\b", "last_year"),
)
_PERIOD_PATTERNS = [(re.compile(p, _I), name) for p, name in PERIOD_WORDS]
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "ten": 10, "twelve": 12}
LAST_N = re.compile(r"\b(?:last|past|previous)\s+(\d{1,3}|" + "|".join(NUMBERS) + r")\s+(days?|weeks?|months?)\b", _I)
_MONTH_NAMES = "|".join(sorted((m for m in MONTHS if len(m) >= 3), key=len, reverse=True))
MONTH = re.compile(rf"\b(?:in |for |during |over |of |since )?({_MONTH_NAMES})\.?(?:\s+(20\d\d))?\b", _I)
ISO_RANGE = re.compile(r"\b(20\d\d-\d{2}-\d{2})\b(?:\s*(?:to|until|till|-|–|and|through)\s*\b(20\d\d-\d{2}-\d{2})\b)?")
DAY_RANGE = re.compile(
    rf"\b(?:from |between )?(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:({_MONTH_NAMES})\s*)?(?:to|until|till|-|–|and)\s*"
    rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_NAMES})(?:\s+(20\d\d))?\b",
    _I,
)
SINCE = re.compile(rf"\bsince\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_NAMES})\b", _I)
WEEKDAY = re.compile(r"\b(?:on |last )(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", _I)
AMBIGUOUS_MONTHS = {
    "may",
    "mar",
    "mai",
    "jan",
    "feb",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
    "mars",
    "marco",
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

DIMENSION_WORDS: dict[str, str] = {
    "artists": "artist",
    "artist": "artist",
    "acts": "artist",
    "act": "artist",
    "bands": "artist",
    "band": "artist",
    "performers": "artist",
    "shows": "event",
    "show": "event",
    "events": "event",
    "event": "event",
    "concerts": "event",
    "concert": "event",
    "gigs": "event",
    "gig": "event",
    "dates": "event",
    "cities": "city",
    "city": "city",
    "countries": "country",
    "country": "country",
    "markets": "country",
    "venues": "venue",
    "venue": "venue",
    "routes": "route",
    "route": "route",
    "channels": "channel",
    "channel": "channel",
    "platforms": "channel",
    "platform": "channel",
    "apps": "channel",
    "days": "day",
    "day": "day",
    "weeks": "week",
    "week": "week",
    "months": "month",
    "month": "month",
}
_DIM = "|".join(sorted(DIMENSION_WORDS, key=len, reverse=True))
BY = re.compile(
    rf"\b(?:by|per|for each|for every|each|split by|broken down by|break(?:ing)? (?:it )?down by|grouped by|across)\s+"
    rf"(?:the\s+)?({_DIM})\b",
    _I,
)
WHICH = re.compile(
    rf"\b(?:top|bottom|best|worst|which|what|leading|biggest|largest|smallest|busiest|most popular)\s+"
    rf"(?:\d+\s+|{'|'.join(NUMBERS)}\s+)?({_DIM})\b|\b({_DIM}) breakdown\b",
    _I,
)
CADENCE = re.compile(r"\b(daily|weekly|monthly|day by day|week by week|month by month)\b", _I)
TREND = re.compile(r"\b(?:trend(?:s|ing)?|over time|evolution|history|chart|graph|plot|visuali[sz]e|draw)\b", _I)
CHART = re.compile(r"\b(?:chart|graph|plot|visuali[sz]e|draw|picture)\b", _I)
NO_CHART = re.compile(r"\b(?:no|without)(?: a)? (?:chart|graph)\b|\bjust the (?:number|figure|total)\b", _I)
EXPORT = re.compile(r"\b(?:csv|export|spreadsheet|download|excel)\b", _I)
COMPARE = re.compile(
    r"\b(?:vs\.?|versus|compared?(?: to| with)?|against|the day before|the week before|the month before|"
    r"(?:than|from) (?:the )?(?:day|week|month|year) before|change|growth|grew|up or down|difference)\b",
    _I,
)
ASCENDING = re.compile(r"\b(?:slowest|worst|bottom|lowest|least|fewest|weakest|underperforming|poorest|smallest)\b", _I)
LIMIT = re.compile(r"\b(?:top|bottom|best|worst)\s+(\d{1,2}|" + "|".join(NUMBERS) + r")\b", _I)
CHANNEL = re.compile(r"\b(telegram|whatsapp|whats app|slack|web ?chat|the web|website|terminal)\b", _I)
CHANNEL_NAMES = {
    "telegram": "telegram",
    "whatsapp": "whatsapp",
    "whats app": "whatsapp",
    "slack": "slack",
    "terminal": "terminal",
}
ROUTE = re.compile(r"\b([A-Z]{3})\s*(?:-|–|→|->|to)\s*([A-Z]{3})\b")
FOLLOW_WORDS = {
    "and",
    "what",
    "whats",
    "about",
    "how",
    "now",
    "then",
    "the",
    "for",
    "same",
    "but",
    "please",
    "show",
    "it",
    "that",
    "this",
    "as",
    "a",
    "an",
    "instead",
    "only",
    "just",
    "me",
    "split",
    "break",
    "broken",
    "down",
    "give",
    "again",
    "with",
    "of",
    "in",
    "on",
    "to",
    "over",
    "can",
    "you",
    "do",
    "also",
    "thing",
    "numbers",
    "figures",
    "those",
    "these",
    "them",
    "is",
    "was",
    "were",
    "are",
    "ok",
    "okay",
    "try",
    "one",
    "make",
    "let",
    "see",
    "look",
    "like",
    "s",
    "into",
    "at",
    "there",
    "csv",
    "export",
    "file",
    "spreadsheet",
    "excel",
    "download",
    "chart",
    "graph",
}
FOLLOW_CUE = re.compile(r"^\s*(?:and|what about|how about|same|now|then|but|ok|okay|also)\b", _I)
ENTITY_FILTERS = ("artist", "city", "country", "venue")
RANKING = re.compile(r"\b(?:top|best|busiest|most popular|biggest|leading|most booked)\b", _I)
DEFAULT_METRIC_DIMS = ("artist", "event", "city", "country", "venue", "route", "channel")


@dataclass
class Found:
    """What a staff message says, with the spans read (the rest tells a follow-up from a new request)."""

    args: dict[str, Any] = field(default_factory=dict)
    metric_strong: bool = False
    spans: list[tuple[int, int]] = field(default_factory=list)

    def take(self, match: re.Match[str], group: int = 0) -> None:
        self.spans.append(match.span(group))


def _first_metric(text: str) -> tuple[str, bool, re.Match[str]] | None:
    best: tuple[int, int, str, bool, re.Match[str]] | None = None
    for order, (pattern, metric, strong) in enumerate(_METRIC_PATTERNS):
        match = pattern.search(text)
        if match and (best is None or (match.start(), order) < (best[0], best[1])):
            best = (match.start(), order, metric, strong, match)
    return (best[2], best[3], best[4]) if best else None


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word.lower()]


def _month_days(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _last_month_named(month: int, year: int | None, today: date) -> tuple[date, date]:
    """The most recent `month` that has begun (staff ask about the past)."""
    if year is None:
        year = today.year if month <= today.month else today.year - 1
    return _month_days(year, month)


def _period(text: str, today: date, found: Found, masked: str) -> None:
    args = found.args
    if match := ISO_RANGE.search(masked):
        args["date_from"] = match[1]
        args["date_to"] = match[2] or match[1]
        found.take(match)
        return
    if match := DAY_RANGE.search(masked):
        month = MONTHS[match[4].lower()]
        first_month = MONTHS[match[2].lower()] if match[2] else month
        year = int(match[5]) if match[5] else None
        start, start_end = _last_month_named(first_month, year, today)
        _, end_of = _last_month_named(month, year, today)
        args["date_from"] = start.replace(day=min(int(match[1]), start_end.day)).isoformat()
        args["date_to"] = end_of.replace(day=min(int(match[3]), end_of.day)).isoformat()
        found.take(match)
        return
    if match := SINCE.search(masked):
        first, end = _last_month_named(MONTHS[match[2].lower()], None, today)
        args["date_from"] = first.replace(day=min(int(match[1]), end.day)).isoformat()
        args["date_to"] = today.isoformat()
        found.take(match)
        return
    for pattern, name in _PERIOD_PATTERNS:
        if match := pattern.search(masked):
            args["period"] = name
            found.take(match)
            return
    if match := LAST_N.search(masked):
        count, unit = _number(match[1]), match[2].lower().rstrip("s")
        days = count * {"day": 1, "week": 7, "month": 30}[unit]
        args["date_from"] = (today - timedelta(days=days - 1)).isoformat()
        args["date_to"] = today.isoformat()
        found.take(match)
        return
    if match := WEEKDAY.search(masked):
        back = (today.weekday() - WEEKDAYS.index(match[1].lower())) % 7 or 7
        day = today - timedelta(days=back)
        args["date_from"] = args["date_to"] = day.isoformat()
        found.take(match)
        return
    for match in MONTH.finditer(masked):
        word, prefix = match[1].lower(), match[0][: match.start(1) - match.start()].strip().lower()
        if word in AMBIGUOUS_MONTHS and not prefix and not match[2]:
            continue  # "may" as a verb, "mar" as a word: only with "in"/"for"… before it or a year after it
        first, last = _last_month_named(MONTHS[word], int(match[2]) if match[2] else None, today)
        if prefix == "since":
            last = today
        args["date_from"], args["date_to"] = first.isoformat(), last.isoformat()
        found.take(match)
        return


def _dimension(text: str, found: Found, masked: str) -> None:
    args = found.args
    if match := BY.search(masked):
        args["by"] = DIMENSION_WORDS[match[1].lower()]
        found.take(match)
    elif match := WHICH.search(masked):
        args["by"] = DIMENSION_WORDS[(match[1] or match[2]).lower()]
        found.take(match)
    elif match := CADENCE.search(masked):
        word = match[1].lower()
        args["by"] = "day" if word.startswith("da") else "week" if word.startswith("week") else "month"
        found.take(match)


def _grain(args: dict[str, Any], today: date) -> str:
    """The time dimension a trend over the asked period reads best in."""
    period = args.get("period")
    if args.get("date_from"):
        days = (
            date.fromisoformat(args.get("date_to") or today.isoformat()) - date.fromisoformat(args["date_from"])
        ).days
        return "day" if days <= 31 else "week" if days <= 190 else "month"
    return "month" if period in ("this_year", "last_year") else "day"


def read(text: str, mentions: list[Mention], today: date) -> Found:
    """Everything of the analytics vocabulary `text` names (without deciding whether it is a metrics request)."""
    found = Found()
    masked = "".join(" " if any(m.start <= i < m.end for m in mentions) else c for i, c in enumerate(text))
    if metric := _first_metric(masked):
        found.args["metric"], found.metric_strong = metric[0], metric[1]
        found.take(metric[2])
    _period(text, today, found, masked)
    _dimension(text, found, masked)
    args = found.args
    if match := CHANNEL.search(masked):
        name = match[1].lower()
        if args.get("by") != "channel":
            args["channel"] = CHANNEL_NAMES.get(name, "web")
        found.take(match)
    if match := ROUTE.search(text):
        args["route"] = f"{match[1]}-{match[2]}"
        found.take(match)
    for mention in mentions:
        if mention.kind in ENTITY_FILTERS and mention.kind not in args:
            args[mention.kind] = mention.value
            found.spans.append((mention.start, mention.end))
    if match := COMPARE.search(masked):
        args["compare"] = True
        found.take(match)
    if match := ASCENDING.search(masked):
        args["sort"] = "asc"
        found.take(match)
    if match := LIMIT.search(masked):
        args["limit"] = _number(match[1])
        found.take(match)
    if match := NO_CHART.search(masked):
        args["chart"] = False
        found.take(match)
    elif match := TREND.search(masked):
        if CHART.search(masked) or "by" not in args:
            args["chart"] = True
        if "by" not in args:
            args["by"] = _grain(args, today)
        found.take(match)
    if match := EXPORT.search(masked):
        args["export"] = True
        found.take(match)
    if (
        args.get("metric") == "sell_through"
        and "by" not in args
        and re.search(r"\bshows?\b|\bconcerts?\b|\bgigs?\b", masked, _I)
    ):
        args["by"] = "event"
    if args.get("metric") == "sell_through" and re.search(r"\bslow", masked, _I):
        args["sort"] = "asc"
    return found


def _residual(text: str, spans: list[tuple[int, int]]) -> list[str]:
    kept = "".join(" " if any(a <= i < b for a, b in spans) else c for i, c in enumerate(text))
    return re.findall(r"[a-z]+", kept.lower())


def metric_request(text: str, mentions: list[Mention], previous: dict[str, Any], today: date) -> dict[str, Any] | None:
    """`query_metrics` arguments when `text` asks for a metric (or refines the last one); else None."""
    found = read(text, mentions, today)
    args = found.args
    follow_up = previous.get("tool") == METRICS_TOOL
    if "metric" in args:
        masked = "".join(" " if any(m.start <= i < m.end for m in mentions) else c for i, c in enumerate(text))
        context = ANALYTICS_CONTEXT.search(masked) or any(k not in ENTITY_FILTERS for k in args if k != "metric")
        if args["metric"] == "quote_to_booking" and CURRENCY_CONVERSION.search(masked):
            return None  # converting money is not a metric
        if _personal(masked) or NOT_ANALYTICS.search(masked):
            if not found.metric_strong:
                return None
        elif follow_up and (FOLLOW_CUE.search(text) or len(text.split()) <= 2):
            return _merge(previous.get("args", {}), args)  # "and bookings?": the same question for another metric
        if not found.metric_strong and not context:
            return None
        return args
    if not args:
        return None
    rest = _residual(text, found.spans)
    if follow_up and all(w in FOLLOW_WORDS for w in rest):
        return _merge(previous.get("args", {}), args)
    if args.get("by") in DEFAULT_METRIC_DIMS and RANKING.search(text) and all(w in FOLLOW_WORDS for w in rest):
        return {"metric": "bookings", **args}  # "top routes in October": ranked by bookings
    return None


def _personal(text: str) -> bool:
    """First person about oneself ("my bookings", "I booked"), not "show me"/"give me" ."""
    return bool(FIRST_PERSON.search(re.sub(r"\b(?:show|give|tell|get|send|let)\s+me\b", " ", text, flags=_I)))


def _merge(before: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(before)
    if "period" in new or "date_from" in new:
        for key in ("period", "date_from", "date_to"):
            merged.pop(key, None)
    if "metric" in new and new["metric"] != before.get("metric"):
        for key in ("sort", "limit"):
            merged.pop(key, None)
    if new.get("by") is not None and new.get("by") != before.get("by"):
        merged.pop("limit", None)
    merged.update(new)
    return merged


# Travellers asking for the business's numbers

STAFF_TOPICS: tuple[tuple[str, str], ...] = (
    (r"\brevenue\b|\bturnover\b|\bgmv\b|\btakings\b|\bprofits?\b|\bmargins?\b", "revenue"),
    (r"\bcommissions?\b", "commission"),
    (r"\bconversion rates?\b|\bfunnel\b|\bquote[- ]to[- ]booking\b|\bsearch[- ]to[- ]quote\b", "conversion"),
    (r"\baverage order value\b|\baov\b", "average order value"),
    (r"\bsell[- ]through\b", "sell-through"),
    (r"\b(?:new|active) users\b|\b[dm]au\b|\bsign[- ]?ups\b", "users"),
    (r"\btool success rate\b|\blatency\b", "assistant metrics"),
    (
        r"\bsales (?:figures|numbers|data|report|stats|last|this|yesterday|today|by)\b|"
        r"\bhow (?:much|many) (?:money|revenue|sales|bookings|tickets)\b.*\b(?:roadie|you guys|your company|the company|"
        r"did you (?:make|sell|get)|have you (?:made|sold))\b|"
        r"\b(?:business|company) (?:metrics|numbers|figures|stats|kpis)\b|\bkpis?\b|\banalytics\b|\bdashboard\b",
        "business figures",
    ),
)
_STAFF_TOPICS = [(re.compile(p, _I), topic) for p, topic in STAFF_TOPICS]
CURRENCY_CONVERSION = re.compile(r"\b(?:dollars?|euros?|pounds?|yen|currency|exchange)\b", _I)


def staff_only_topic(text: str) -> str | None:
    """The business metric a message asks for ("revenue", "conversion"…), or None: used to refuse travellers."""
    for pattern, topic in _STAFF_TOPICS:
        if pattern.search(text) and not (topic == "conversion" and CURRENCY_CONVERSION.search(text)):
            return topic
    return None
