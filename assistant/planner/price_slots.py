"""What price questions name, and the words that settle which price tool a message is for.

"Should I book the flight now or wait?" is a forecast, "tell me if it drops under €120" a watch with a
target, "stop watching the Berlin flight" removes one, and for staff "how many bookings do we expect" is
a demand forecast. The cues need price words, so "tell me when new shows drop" stays a follow.
"""

from __future__ import annotations

import re
from typing import Any

_I = re.IGNORECASE
FORECAST_TOOL, WATCH_TOOL, DEMAND_TOOL = "forecast_price", "watch_price", "forecast_demand"
PRICE_TOOLS = {FORECAST_TOOL, WATCH_TOOL, DEMAND_TOOL}

FORECAST_CUE = re.compile(
    r"\bbook now\b|\bor wait\b|\bshould (?:i|we) (?:book|buy|wait|get|hold off)\b|\bwait(?:ing)? (?:to|before|for) (?:book|buy)|\bworth (?:waiting|holding off)\b|"
    r"\bwill (?:the )?(?:prices?|fares?|flights?|tickets?|hotels?|it|they|the trip|my trip)\b[^.?!]{0,40}?"
    r"\b(?:go|rise|drop|fall|get|come|increase|decrease|be cheaper|be dearer)\b|"
    r"\b(?:going|go) (?:up|down)\b|\bget(?:ting)? (?:cheaper|dearer|more expensive|pricier)\b|\bcheaper later\b|"
    r"\bprices? (?:forecast|prediction|trend|outlook)|\bforecast\b|\bbest (?:time|day|moment) to (?:book|buy)\b|"
    r"\bgood (?:time|moment) to (?:book|buy)\b|\bgood price\b|\bprices? (?:will )?(?:drop|go down|rise|go up)\b|"
    r"\bgo lower\b|\bbetter price\b|\blower price\b|"
    r"\b(?:prices?|fares?|flights?|tickets?|seats?|hotels?)\b[^.?!]{0,40}\bwill\s+(?:go|rise|drop|fall|get|come|increase|decrease)\b|"
    r"\b(?:reservar|comprar) ahora o esperar\b|\bjetzt buchen oder warten\b|\bmaintenant ou (?:j'attends|attendre)\b|"
    r"\bagora ou esperar\b|\bo esperar\b|\boder warten\b|\bou attendre\b|\bou esperar\b",
    _I,
)
PRICE_WORDS = (
    r"(?:prices?|fares?|flights?|tickets?|seats?|costs?|vuelos?|flug|vol|voo|billets?|entradas|preis|prix|preço|precio)"
)
WATCH_CUE = re.compile(
    rf"\b(?:watch|track|monitor|keep an eye on)\b[^.?!]*\b{PRICE_WORDS}\b|"
    r"\b(?:set|create|add|make|put)\b[^.?!]*\bprice (?:alert|watch)\b|"
    rf"\b(?:tell|let|notify|alert|ping|message|text|email|warn|inform)\s+(?:me|us)\b[^.?!]*\b{PRICE_WORDS}\b|"
    rf"\b(?:avísame|sag mir bescheid|préviens-moi|me avisa)\b[^.?!]*\b{PRICE_WORDS}\b",
    _I,
)
STOP_WATCH_CUE = re.compile(
    r"\b(?:stop|quit|cancel|remove|delete|end|drop)\s+(?:watching|tracking|monitoring|"
    r"(?:the|my|this|that|all my|all) (?:price )?(?:alerts?|watch(?:es)?) (?:for|on)|(?:the|my|this|that|all my|all) price (?:alerts?|watch(?:es)?))|"
    r"\bunwatch\b|\bno longer watch",
    _I,
)
WATCHING_CUE = re.compile(
    r"\bmy price (?:alerts|watch(?:es)?)\b|\bprices? (?:am i|i'?m) watching\b|\bwhat am i watching\b|"
    r"\bprice (?:alerts|watches) (?:do i have|have i (?:got|set))\b|\b(?:show|list)(?: me)? my (?:price )?(?:alerts|watches)\b",
    _I,
)
DEMAND_CUE = re.compile(
    r"\bdemand\b|\bsell[- ]?through\b.*\b(?:expect|forecast|predict|projected|will|next|coming)\b|"
    r"\b(?:expect|forecast|predict|projected?|projection)\w*\b[^.?!]*\b(?:bookings|sales|sell[- ]?through|tickets sold)\b|"
    r"\b(?:bookings|sales)\b[^.?!]*\b(?:expect\w*|forecast|predict\w*|next \d+ weeks|coming weeks)\b|"
    r"\bwill\b[^.?!]*\bsell(?:s|ing)? (?:out|best|well|fastest|slowest)\b|\bsell(?:s|ing)? over the next\b|"
    r"\b(?:which|what) shows will sell\b",
    _I,
)
_MONEY = (
    r"(?:(?P<sym>[€£$])\s?(?P<a1>\d{1,6}(?:[.,]\d{1,2})?)"
    r"|(?P<a2>\d{1,6}(?:[.,]\d{1,2})?)(?!\s*(?::|am\b|pm\b|%|h\b|people|persons|tickets))\s?(?P<after>€|£|\$|eur(?:os?)?\b|pounds?\b|gbp\b|quid\b|dollars?\b|usd\b)?)"
)
TARGET = re.compile(
    r"\b(?:under|below|beneath|less than|lower than|cheaper than|drops? to|falls? to|goes? down to|gets? to|hits?|reaches|"
    r"(?:at|to) most|max(?:imum)?|unter|debajo de|por debajo de|menos de|bajan? de|bajar de|moins de|sous|"
    r"en dessous de|abaixo de)\s+" + _MONEY,
    _I,
)
TARGET_AT = re.compile(r"\b(?:at|for|to)\s+(?P<sym>[€£$])\s?(?P<a1>\d{1,6}(?:[.,]\d{1,2})?)", _I)
_CURRENCIES = {"€": "EUR", "£": "GBP", "$": "USD", "eur": "EUR", "euro": "EUR", "euros": "EUR", "pound": "GBP",
               "pounds": "GBP", "gbp": "GBP", "quid": "GBP", "dollar": "USD", "dollars": "USD", "usd": "USD"}  # fmt: skip
ITEM = re.compile(
    r"\b(?P<flight>flights?|fares?|plane|vuelos?|flug|flüge|vols?|voos?)\b|\b(?P<hotel>hotels?|rooms?|hôtel)\b|"
    r"\b(?P<trip>trip|package|viaje|reise|voyage|viagem)\b|\b(?P<ticket>tickets?|seats?|entradas|karten|billets|ingressos)\b",
    _I,
)


def price_values(text: str) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """Slots of a price message (item, target_price, target_currency, stop) and the spans the target took."""
    values: dict[str, Any] = {}
    spans: list[tuple[int, int]] = []
    stopping = STOP_WATCH_CUE.search(text)
    if not (FORECAST_CUE.search(text) or WATCH_CUE.search(text) or stopping or TARGET.search(text)):
        return values, spans
    if item := ITEM.search(text):
        values["item"] = next(kind for kind in ("flight", "hotel", "trip", "ticket") if item.group(kind))
    if stopping:
        values["stop"] = True
    target = TARGET.search(text) or TARGET_AT.search(text)
    if target and not stopping:
        found = target.groupdict()
        raw = found.get("a1") or found.get("a2") or "0"
        values["target_price"] = float(raw.replace(",", "."))
        marker = (found.get("sym") or found.get("after") or "").lower()
        if marker in _CURRENCIES:
            values["target_currency"] = _CURRENCIES[marker]
        spans.append(target.span())
    return values, spans


TRAVEL_WORDS = re.compile(
    r"\b(?:book(?:ing)?|buy|trip|show|concert|gig|tour|seats?|tickets?|flights?|fares?|hotels?|quote|"
    r"entradas|billets|karten|ingressos|reservar|buchen|réserve|comprar)\b",
    _I,
)


def _priced(text: str, values: dict[str, Any], in_context: bool) -> bool:
    return (
        in_context
        or bool(TRAVEL_WORDS.search(text))
        or any(k in values for k in ("artist", "city", "venue", "country", "origin", "quote", "item"))
    )


def unpriced(label: str, text: str, values: dict[str, Any], in_context: bool) -> bool:
    """A forecast asked (or routed) for something Roadie doesn't sell ("the price of bitcoin", "the gold forecast")."""
    return (label == FORECAST_TOOL or bool(FORECAST_CUE.search(text))) and not _priced(text, values, in_context)


def unwatched(label: str, text: str, values: dict[str, Any]) -> bool:
    """The router chose a watch (a write) for a message with no watch words ("what's the damage for SZA?")."""
    return label == WATCH_TOOL and not (
        values.get("stop") or "target_price" in values or WATCHING_CUE.search(text) or WATCH_CUE.search(text)
    )


def explicit(text: str, values: dict[str, Any]) -> bool:
    """A new price request in so many words (not a bare "under €120" that may answer Roadie's question)."""
    return bool(values.get("stop") or WATCHING_CUE.search(text) or FORECAST_CUE.search(text) or WATCH_CUE.search(text))


def price_tool(text: str, values: dict[str, Any], tools: set[str], in_context: bool = False) -> str | None:
    """The price tool a message is for, when its words settle it; None otherwise.

    A forecast or a new watch needs something to price: a show, a place, a quote, travel words or a
    conversation about a show (`in_context`) — "will the price of bitcoin go up?" is not Roadie's.
    """
    if "price_alerts" in values:
        return None  # "turn off my price alerts" is a setting, not a watch
    priced = _priced(text, values, in_context)
    if DEMAND_TOOL in tools and DEMAND_CUE.search(text):
        return DEMAND_TOOL
    if WATCH_TOOL in tools and (values.get("stop") or WATCHING_CUE.search(text)):
        return WATCH_TOOL
    if WATCH_TOOL in tools and priced and ("target_price" in values or WATCH_CUE.search(text)):
        return WATCH_TOOL
    if FORECAST_TOOL in tools and priced and FORECAST_CUE.search(text):
        return FORECAST_TOOL
    return None


BARE_AMOUNT = re.compile(r"\s*(?:under|below|less than|at)?\s*" + _MONEY + r"\s*[.!]?\s*", _I)


def bare_target(text: str) -> dict[str, Any]:
    """A reply that is only a price ("€120", "under 90 pounds"), as target slots; empty otherwise."""
    found = BARE_AMOUNT.fullmatch(text)
    if not found:
        return {}
    values: dict[str, Any] = {"target_price": float((found.group("a1") or found.group("a2")).replace(",", "."))}
    marker = (found.group("sym") or found.group("after") or "").lower()
    if marker in _CURRENCIES:
        values["target_currency"] = _CURRENCIES[marker]
    return values
