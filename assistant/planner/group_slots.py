"""What group-trip messages name: join codes, poll options and votes, amounts paid, splits and members."""

from __future__ import annotations

import re
from typing import Any

# "G-7KQ2MX" in any case; without the dash only in capitals, so words such as "Germany" are not codes.
GROUP_CODE = re.compile(r"\b(?:join_)?((?i:G-[A-HJ-NP-Z2-9]{6})|G[A-HJ-NP-Z2-9]{6})\b")
VOTE = re.compile(r"^\s*vote\s+(P-?[A-HJ-NP-Z2-9]{6})\s+(\d{1,2})\s*$", re.IGNORECASE)
JOIN_CUE = re.compile(r"\b(?:join|joining|únete|unirme|beitreten|rejoindre|entrar)\b", re.IGNORECASE)
POLL_CUE = re.compile(
    r"\b(?:poll|polls|vote|voting|encuesta|votaci[oó]n|umfrage|abstimmung|sondage|enquete|vota[cç][aã]o)\b",
    re.IGNORECASE,
)
ASK_GROUP = re.compile(r"\b(?:ask|let) (?:the group|everyone|everybody)\b", re.IGNORECASE)
EXPENSE_CUE = re.compile(
    r"\b(?:paid|pay for|spent|covered|expense|cost us|pagu[ée]|pagamos|gastamos|bezahlt|ausgegeben|pay[ée]|d[ée]pens[ée]|paguei|gastei)\b",
    re.IGNORECASE,
)
SETTLE_CUE = re.compile(
    r"\b(?:settle up|settle the group|square up|owes? (?:whom|who)|who owes)\b"
    # who owes whom in Spanish, German, French and Portuguese ("debe" alone is also "should", so the "to whom")
    r"|\bdeb[eo]n?\b[^?.!]*\ba qui[eé]n\b|\b(?:wer schuldet|schulde ich|schuldet wem)\b"
    r"|\bdoi(?:s|t|vent)\b[^?.!]*\bà qui\b|\bdev[eo]m?\b[^?.!]*\ba quem\b",
    re.IGNORECASE,
)
CANCEL_CUE = re.compile(r"\b(?:cancel|refund|annul|storn|stornieren|cancelar|cancela)", re.IGNORECASE)
OUT_CUE = re.compile(
    r"\b(?:i'?m out|count me out|can'?t (?:come|make it)|cannot (?:come|make it)|not (?:coming|going)|drop(?:ping)? out|"
    r"no voy|ich bin raus|je ne viens plus|não vou)\b",
    re.IGNORECASE,
)
IN_CUE = re.compile(
    r"\b(?:i'?m in(?!\s+(?!(?:too|for|on|as)\b)\w)|count me in|i'?m going(?!\s+(?:to|out|on|away|back|in|abroad|home)\b)|"
    r"i'?m coming(?!\s+(?:to|from|back|home)\b)|sign me up|add me(?!\s+on\b)|me apunto|ich bin dabei|je suis partant|tô dentro)\b",
    re.IGNORECASE,
)
_AMOUNT = r"\d{1,7}(?:[.,]\d{3})*(?:[.,]\d{1,2})?"
_SYMBOLS = {"€": "EUR", "£": "GBP", "$": "USD"}
_WORDS = {
    "euro": "EUR",
    "euros": "EUR",
    "eur": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "gbp": "GBP",
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "usd": "USD",
    "chf": "CHF",
    "francs": "CHF",
    "sek": "SEK",
    "kronor": "SEK",
    "dkk": "DKK",
    "pln": "PLN",
    "zloty": "PLN",
    "czk": "CZK",
    "yen": "JPY",
    "jpy": "JPY",
    "aud": "AUD",
    "cad": "CAD",
}
MONEY = re.compile(
    rf"(?P<symbol>[€£$])\s?(?P<a1>-?{_AMOUNT})|(?P<a2>-?{_AMOUNT})\s?(?P<after>[€£$]|(?:{'|'.join(_WORDS)})\b)",
    re.IGNORECASE,
)
BARE_AMOUNT = re.compile(rf"\b(?:paid|spent|of|covered|add|pagué|bezahlt|payé|paguei)\s+(-?{_AMOUNT})\b", re.IGNORECASE)
NAME = r"[A-Z][a-zà-ÿ]+"
PAID_BY = re.compile(
    rf"\b(?:paid by|bezahlt von|payé par|pagado por|pago por)\s+({NAME})|\b({NAME}) (?:paid|covered|spent)\b"
)
ANY_NAME = r"[A-Za-zà-ÿ][a-zà-ÿ]+"  # people type their friends' names in lower case too ("excluding cy")
EXCLUDING = re.compile(
    r"(?:\b(?:excluding|except(?: for)?|without|not including|minus|leave out|sin|ohne|sauf|sem)|,\s*(?:but )?not)\s+"
    rf"({ANY_NAME}(?:\s*(?:,|and|&|y|und|et|e)\s*{ANY_NAME})*)",
    re.IGNORECASE,
)
_NOT_EXCLUDED = {"the", "a", "an", "tax", "taxes", "tip", "tips", "vat", "fees", "drinks", "and", "y", "und", "et", "e"}
PAIR = re.compile(rf"\b({NAME}):?\s+(?:[€£$]\s?)?(\d{{1,6}}(?:[.,]\d{{1,2}})?)(\s*shares?)?\b")
DESCRIPTION = re.compile(
    r"\b(?:for|on|por|für|pour|pelo|pela|para)\s+(?:the |our |a |an |el |la |los |das |die |den |le |les |o |a )?"
    r"([a-zà-ÿ][\w' -]{1,40}?)(?=\s*(?:,|\.|;|$|\bsplit\b|\bexcluding\b|\bexcept\b|\bpaid\b|\bbetween\b|\bwith\b|\ba partes\b))",
    re.IGNORECASE,
)
MEMBER = re.compile(
    rf"\b(?:remove|kick|take|drop|quita a|saca a|retire|enlever|tirar)\s+({NAME})\b|\b({NAME}) (?:aus der gruppe|from the group)",
)
GROUP_NAME = re.compile(
    r"\b(?:called|named|llamado|namens|appelé|chamado)\s+[\"'“]?([^\"'”]{2,60})[\"'”]?", re.IGNORECASE
)
_NOT_NAMES = {"I", "We", "My", "The", "Add", "Split", "Log", "Poll", "Vote", "Ask", "And", "Or", "Me", "Our", "Paid"}


def _amount(raw: str) -> float:
    text = raw.replace(" ", "")
    if re.fullmatch(r"-?\d{1,3}(?:[.,]\d{3})+", text):
        text = re.sub(r"[.,]", "", text)  # 1,200 or 1.200 is twelve hundred
    return float(text.replace(",", "."))


def poll_options(text: str) -> tuple[str | None, list[str]]:
    """The question (if any) and the options of a poll request: "poll: A or B", "vote between A and B"."""
    body = text
    question = None
    if ":" in text:
        head, body = text.split(":", 1)
        head = head.strip()
        if not POLL_CUE.fullmatch(head.strip().lower()) and len(head.split()) > 2 and not ASK_GROUP.search(head):
            question = head
    else:
        found = re.search(r"\b(?:between|on|about|entre|zwischen|sur)\s+(.+)$", text, re.IGNORECASE) or re.search(
            r"\b(?:vote|poll|votar|abstimmen|voter)\s+(?:for\s+|de\s+)?(.+?\b(?:or|o|oder|ou)\b.+)$",
            text,
            re.IGNORECASE,
        )  # "can we vote friday or saturday?"
        if not found:
            return None, []
        body = found.group(1)
        if re.match(r"(?:the |which )", body, re.IGNORECASE) and not re.search(r"\bor\b|,", body):
            return None, []
    parts = re.split(r"\s*(?:,|\bor\b|\bo\b|\boder\b|\bou\b|/|\band\b|\by\b|\bund\b|\bet\b)\s*", body.strip(" ?.!"))
    return question, [p.strip(" ?.!") for p in parts if p.strip(" ?.!")]


def group_values(text: str) -> dict[str, Any]:
    """Slots only group messages have; empty for anything else."""
    values: dict[str, Any] = {}
    if code := GROUP_CODE.search(text):
        values["code"] = code.group(1).upper()
    if vote := VOTE.match(text):
        return {"poll": vote.group(1).upper(), "option": int(vote.group(2))}
    if POLL_CUE.search(text) or ASK_GROUP.search(text):
        question, options = poll_options(text)
        if len(options) >= 2:
            values["options"] = options
            if question:
                values["question"] = question
    if EXPENSE_CUE.search(text):
        values.update(_expense(text))
    if OUT_CUE.search(text):
        values["going"] = False
    if member := MEMBER.search(text):
        name = member.group(1) or member.group(2)
        if name not in _NOT_NAMES:
            values["member"] = name
    if named := GROUP_NAME.search(text):
        values["name"] = named.group(1).strip(" .!?")
    return values


def _expense(text: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    money = MONEY.search(text)
    if money:
        values["amount"] = _amount(money.group("a1") or money.group("a2"))
        marker = (money.group("symbol") or money.group("after") or "").lower()
        values["currency"] = _SYMBOLS.get(marker) or _WORDS.get(marker)
        if values["currency"] is None:
            values.pop("currency")
    elif bare := BARE_AMOUNT.search(text):
        values["amount"] = _amount(bare.group(1))
    if payer := PAID_BY.search(text):
        name = payer.group(1) or payer.group(2)
        if name not in _NOT_NAMES:
            values["paid_by"] = name
    if excluded := EXCLUDING.search(text):
        names = re.findall(ANY_NAME, excluded.group(1))
        values["exclude"] = [n for n in names if n.capitalize() not in _NOT_NAMES and n.lower() not in _NOT_EXCLUDED]
    after = text[money.end() :] if money else text
    pairs = [(n, v, s) for n, v, s in PAIR.findall(after) if n not in _NOT_NAMES and n != values.get("paid_by")]
    if pairs:
        values["shares"] = {n: _amount(v) for n, v, _ in pairs}
        values["split"] = "shares" if any(s for _, _, s in pairs) or re.search(r"\bshares?\b", text) else "exact"
    if description := DESCRIPTION.search(text[money.end() :] if money else text):
        values["description"] = description.group(1).strip()
    return values
