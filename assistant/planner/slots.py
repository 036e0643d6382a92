"""Slot extraction: the artists, places, genres and dates a message names, ready to become tool arguments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from assistant.entities import EntityIndex, Mention, normalise
from assistant.planner.dates import MONTHS, DateParser
from assistant.planner.group_slots import group_values
from assistant.planner.price_slots import price_values

GENRES = {
    "rock": "rock",
    "pop": "pop",
    "metal": "metal",
    "heavy metal": "metal",
    "reggaeton": "reggaeton",
    "hip hop": "hip hop",
    "hiphop": "hip hop",
    "rap": "hip hop",
    "r&b": "r&b",
    "rnb": "r&b",
    "indie": "indie",
    "latin": "latin",
    "soul": "soul",
    "funk": "funk",
    "dance": "dance",
}
LOCATION_SLOTS = ("city", "country", "region", "venue")
LIST_SLOTS = {"artists": "artist", "cities": "city"}  # every one named, when a message names several
NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "fifty": 50,
    "dos": 2,
    "dois": 2,
    "deux": 2,
    "zwei": 2,
    "tres": 3,
    "três": 3,
    "trois": 3,
    "drei": 3,
    "cuatro": 4,
    "quatro": 4,
    "quatre": 4,
    "vier": 4,
}
_COUNT = r"(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")"
TRAVELLERS = (
    re.compile(
        rf"\b{_COUNT}\s+(?:of us|people|persons|person|travell?ers?|adults?|tickets?|seats?|friends|pax|guests|fans|personas|pessoas|personnes|personen|leute|entradas|billets|karten|ingressos)\b",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b(?:for|para|pour|für|fuer)\s+{_COUNT}\b(?!\s*(?:nights?|days?|weeks?|hours?|am|pm|eur|euros?|pounds?|dollars?|%|[€£$:.]\d))",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b(?:we are|we're|we re|there are|there's|party of|group of|travel as|assume|make (?:it|that)|somos|sommes|"
        rf"on est|wir sind)\s+{_COUNT}\b|\bà\s+{_COUNT}(?=\s*(?:,|$|personnes|\?))",
        re.IGNORECASE,
    ),
)
PAIRS = re.compile(
    r"\b(?:me and my|with my|me \+ my)\s+(?:wife|husband|partner|girlfriend|boyfriend|friend|mum|mom|dad|sister|"
    r"brother|son|daughter|bf|gf)\b|\b(?:the two of us|both of us|a couple|us two)\b|"
    r"\b(?:con mi|com (?:o )?meu|com a minha|mit meiner|mit meinem|avec (?:mon|ma))\s+\w+",
    re.IGNORECASE,
)
PLUS_ME = re.compile(
    r"\bme and (?:my )?(\d{1,2}|"
    + "|".join(NUMBER_WORDS)
    + r") (?:mates|friends|others|pals|buddies|mates|bros|girls)\b",
    re.IGNORECASE,
)
SOLO = re.compile(r"\b(?:just me|only me|myself|on my own|solo|alone)\b", re.IGNORECASE)
ORIGIN_CUE = re.compile(
    r"(?:\bfrom|\bleaving|\bflying out of|\bflying from|\bdeparting|\bout of|\bdesde|\bab|\bdepuis|\bde|"
    r"\bsaliendo de|\bsaindo de|\ben partant de|\bpartindo de)\s+$",
    re.IGNORECASE,
)
HOME_CUE = re.compile(
    r"(?:\bi live in|\bi'm based in|\bi am based in|\bbased in|\bi'm from|\bi am from|\bmy home (?:city |town )?is|"
    r"\bhome is|\bwe live in|\bliving in|\bset my home(?: city)? to|\bmy city is|\bwohne in|\bvivo en|"
    r"\bhabite à|\bhabite a|\bmoved to|\bmy home to|\bmoro em|\bje vis à|\bje vis a|\bich lebe in|"
    r"\bhome city as|\bhome as|\bset home to|\bvivimos en|\bwir wohnen in)\s+$",
    re.IGNORECASE,
)
CURRENCY = re.compile(
    r"\b(?:in|to|use|using|into|en|em|currency(?: is| to)?)\s+(pounds?|quid|sterling|gbp|dollars?|usd|euros?|eur|chf|swiss francs|"
    r"francs|yen|jpy|won|krw|sek|dkk|pln|czk|aud|sgd|aed|cad|mxn|brl)\b",
    re.IGNORECASE,
)
QUOTE_REF = re.compile(r"\bQ-?[A-HJ-NP-Z2-9]{6}\b", re.IGNORECASE)
BOOKING_REF = re.compile(r"\bRD-?(?:[A-HJ-NP-Z2-9]{6}|\d{5})\b", re.IGNORECASE)
SECTION = re.compile(
    r"\b(general admission(?: standing)?|standing|vip(?: package)?|upper tier(?: seated)?|lower tier(?: seated)?|"
    r"seated|floor|pit|cheap(?:er)? seats)\b",
    re.IGNORECASE,
)
DATE_SLOTS = ("date_from", "date_to")
POSSESSIVE = re.compile(r"(\w)['’]s\b")
# Everyday words the fuzzy index can take for a name: "a group of friends" (Friends Arena), "for the weekend".
COMMON_BEFORE = re.compile(
    r"\b(?:of|my|our|with|some|and|this|next|last|every|a|for|over|on|at|during)(?: the)?\s+$", re.IGNORECASE
)
AT_PLACE = re.compile(r"\b(?:at|in|to|near|from|@)\s+(?:the\s+)?$", re.IGNORECASE)
COMMON_WORDS = {"friends", "weekend", "the weekend", "park", "dome", "live", "arena", "stadium"}


def _common_words(text: str, mention: Mention) -> bool:
    """True when a mention is an everyday word in an everyday phrase rather than the name it resembles."""
    said = text[mention.start : mention.end].strip().lower()
    if said not in COMMON_WORDS:
        return False
    if mention.kind == "venue":  # "Friends" is the arena only where a place is expected: "at Friends"
        return AT_PLACE.search(text[: mention.start]) is None
    return COMMON_BEFORE.search(text[: mention.start]) is not None


# "Berlin, not Munich", "instead of London": the name after these is the one the person does not mean.
NOT_MEANT = re.compile(r"\b(?:not|instead of|rather than|nicht|pas|no en|não em)\s+(?:in\s+|the\s+)?$", re.IGNORECASE)
# Words that carry no request of their own: a message made only of these plus slots is a follow-up.
FILLER = {
    "what",
    "wat",
    "wht",
    "about",
    "abt",
    "bout",
    "how",
    "and",
    "in",
    "on",
    "at",
    "the",
    "for",
    "instead",
    "then",
    "no",
    "nope",
    "nah",
    "oops",
    "i",
    "meant",
    "mean",
    "sorry",
    "actually",
    "ok",
    "okay",
    "whats",
    "there",
    "any",
    "also",
    "only",
    "just",
    "maybe",
    "or",
    "please",
    "pls",
    "plz",
    "what's",
    "y",
    "et",
    "und",
    "e",
    "en",
    "im",
    "a",
    "oh",
    "hmm",
    "well",
    "rather",
    "try",
    "one",
    "ones",
    "those",
    "them",
    "shows",
    "show",
    "dates",
    "concerts",
    "gigs",
    "near",
    "around",
    "same",
    "but",
    "yes",
    "yeah",
    "wait",
    "like",
    "is",
    "it",
    "que",
    "tal",
    "wie",
    "ist",
    "mit",
    "pour",
    "avec",
    "do",
    "of",
    "to",
    "during",
    "next",
    "this",
    "month",
    "week",
    "weekend",
    "year",
    "2026",
    "2027",
    "2028",
    "anything",
    "tickets",
    "seats",
    "make",
    "that",
    "change",
    "not",
    "from",
    "desde",
    "depuis",
    "ab",
}
# A capitalised place after "in"/"at" that the catalogue does not know: the tool says so.
UNKNOWN_PLACE = re.compile(r"\b(?:in|at|near)\s+([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){0,2})")
# Words that open a follow-up ("what about Berlin?", "and in May?", "no, I meant Manchester").
FOLLOW_UP_CUES = {
    "make",
    "what",
    "wat",
    "wht",
    "whats",
    "how",
    "and",
    "no",
    "nope",
    "nah",
    "oops",
    "actually",
    "instead",
    "only",
    "then",
    "or",
    "sorry",
    "i",
    "y",
    "und",
    "et",
    "e",
    "rather",
    "but",
    "same",
    "also",
    "ok",
    "okay",
    "try",
}
PREPOSITIONS = {"in", "on", "at", "for", "during", "near", "around", "en", "im", "a"}
UNKNOWN_ARTIST = re.compile(
    r"\b(?:see|find|any|search(?:ing)?(?: for)?|is|are|when is|where is|does|do|love|want to see|looking for)\s+"
    r"((?:[\w'&.!-]+\s?){1,4}?)\s*(?:concerts?|shows?|gigs?|tour(?:ing)?|tickets?|playing|live|dates?)\b",
    re.IGNORECASE,
)
# "to see Zorblax Quartet in Paris": capitalised words after "see" name an artist even without "concert".
UNKNOWN_ARTIST_SEE = re.compile(r"\bsee\s+([A-Z][\w'&.!-]*(?:\s+[A-Z][\w'&.!-]*){0,3})")
NOT_NAMES = FILLER | {
    "me",
    "us",
    "some",
    "good",
    "cool",
    "cheap",
    "big",
    "upcoming",
    "all",
    "more",
    "other",
    "new",
    "local",
    "great",
    "best",
    "their",
    "his",
    "her",
    "she",
    "he",
    "they",
    "you",
    "your",
    "my",
    "we",
    "there",
    "any",
    "the",
    "a",
    "these",
    "that",
    "free",
    "outdoor",
    "stadium",
    "arena",
    "music",
}


@dataclass
class Slots:
    """What a message names: canonical values by slot, plus any words the index did not recognise."""

    values: dict[str, Any] = field(default_factory=dict)
    mentions: list[Mention] = field(default_factory=list)
    date_text: str = ""
    residual: list[str] = field(default_factory=list)

    @property
    def is_bare(self) -> bool:
        """True for a follow-up: slots and filler led by a cue ("what about…"), or one bare slot ("Berlin?")."""
        if not self.values or not all(w in FILLER for w in self.residual):
            return False
        if self.residual and self.residual[0] in FOLLOW_UP_CUES:
            return True
        kinds = {"date" if k in DATE_SLOTS else LIST_SLOTS.get(k, k) for k in self.values}
        return len(kinds) == 1 and all(w in PREPOSITIONS for w in self.residual)


class SlotExtractor:
    """Reads slots from text using the entity index and the date parser."""

    def __init__(self, dates: DateParser | None = None) -> None:
        self._dates = dates or DateParser()

    def extract(self, text: str, index: EntityIndex, today: date) -> Slots:
        """All slots in `text`; later mentions of a kind do not override earlier ones."""
        slots = Slots()
        linked = index.find(POSSESSIVE.sub(r"\1  ", text))  # "adele's tour": the same length, so spans still fit
        unmeant = [m for m in linked if NOT_MEANT.search(text[: m.start]) or _common_words(text, m)]
        mentions = [m for m in linked if m not in unmeant]
        slots.mentions = mentions
        named: dict[str, list[str]] = {}
        for mention in mentions:
            kind = mention.kind
            if kind == "city" and HOME_CUE.search(text[: mention.start]):
                kind = "home_city"
            elif kind == "city" and ORIGIN_CUE.search(text[: mention.start]):
                kind = "origin"
            slots.values.setdefault(kind, mention.value)
            named.setdefault(kind, []).append(mention.value)
        for many, one in LIST_SLOTS.items():
            if len(distinct := list(dict.fromkeys(named.get(one, [])))) >= 2:
                slots.values[many] = distinct
        spans = [(m.start, m.end) for m in mentions]
        spans += self._numbers_and_codes(text, slots)
        spans += [(m.start, m.end) for m in unmeant]
        priced, price_spans = price_values(text)  # "book now or wait?", "under €120": price_slots.py
        slots.values.update(priced)
        spans += price_spans
        if "artist" not in slots.values:
            unknown = UNKNOWN_ARTIST.search(text) or UNKNOWN_ARTIST_SEE.search(text)
            if unknown:
                name = unknown.group(1).strip(" .!?")
                inside = any(m.start >= unknown.start(1) and m.end <= unknown.end(1) + 1 for m in mentions)
                words = normalise(name).split()
                if words and not inside and not any(w in NOT_NAMES or w in GENRES for w in words):
                    slots.values["artist"] = name
        # Dates are read around the names ("Bruno Mars" is not March).
        named_spans = spans[: len(mentions)] + price_spans  # "under €120" is not a date either
        unnamed = "".join(" " if any(a <= i < b for a, b in named_spans) else c for i, c in enumerate(text))
        found = self._dates.parse(unnamed, today)
        if found is not None:
            slots.values["date_from"] = found.start.isoformat()
            slots.values["date_to"] = found.end.isoformat()
            slots.date_text = found.text
        elif bad := self._dates.impossible(unnamed):
            slots.values["date_from"] = bad  # the tool answers that it cannot read this date
            slots.date_text = bad
        unknown_places = [
            place.group(1)
            for place in UNKNOWN_PLACE.finditer(text)
            if not any(m.start <= place.start(1) < m.end for m in mentions)
            and (words := normalise(place.group(1)).split())
            and not any(w in NOT_NAMES or w in MONTHS or w in GENRES for w in words)
        ]
        if unknown_places and not any(k in slots.values for k in (*LOCATION_SLOTS, "origin", "home_city")):
            slots.values["city"] = unknown_places[0]
        elif unknown_places and ("artists" in slots.values or "cities" in slots.values) and "city" in slots.values:
            # Several shows were named and one place is not known: keep it, so the answer can say so.
            slots.values["cities"] = [*slots.values.get("cities", [slots.values["city"]]), *unknown_places]
        low = normalise(text)
        for word, genre in GENRES.items():
            if re.search(rf"\b{re.escape(word)}\b", low):
                slots.values.setdefault("genre", genre)
                break
        if cue := LIKE.search(text):
            after = next((m for m in mentions if m.kind == "artist" and m.start >= cue.end() - 1), None)
            if after is not None and after.start - cue.end() <= 1:
                slots.values["like"] = after.value  # "something like Arctic Monkeys": their style, not them
                if slots.values.get("artist") == after.value:
                    slots.values.pop("artist")
                slots.values.pop("artists", None)
            elif style := LIKE_WORDS.match(text[cue.end() :]):
                slots.values["like"] = style.group(1).strip()
        for toggle in ALERT_TOGGLE.finditer(text):
            verb = toggle.group("verb").lower()
            state = (toggle.group("state") or toggle.group("state2") or "").strip().lower()
            if verb not in ALERTS_ON | ALERTS_OFF and not state:
                continue
            on = verb in ALERTS_ON or state == "on"
            kind = toggle.group("kind").lower()
            slot = (
                "price_alerts"
                if kind.startswith("price")
                else "weekly"
                if kind.startswith("weekly")
                else ("reminders" if kind.startswith("reminder") else "tour_alerts")
            )
            slots.values[slot] = on
        if again := RESEND.search(text):
            slots.values["message"] = int(again.group(1) or again.group(2))
            slots.values.pop("travellers", None)
        if quiet := QUIET_HOURS.search(text):
            slots.values["quiet_hours"] = quiet.group(1)
        if grouped := group_values(text):
            if "amount" in grouped or "poll" in grouped or "options" in grouped:
                for key in ("travellers", *DATE_SLOTS):  # "€120" or "vote P-… 2" is not a party size or a date
                    slots.values.pop(key, None)
            slots.values.update(grouped)
        remaining = "".join(" " if any(a <= i < b for a, b in spans) else c for i, c in enumerate(text))
        words = normalise(remaining).split()
        date_words = set(normalise(found.text).split()) if found else set()
        slots.residual = [w for w in words if w not in date_words and w not in GENRES]
        return slots

    @staticmethod
    def _numbers_and_codes(text: str, slots: Slots) -> list[tuple[int, int]]:
        """Party size, currency, quote and booking references and ticket sections; returns the spans used."""
        spans: list[tuple[int, int]] = []
        if plus := PLUS_ME.search(text):
            raw = plus.group(1).lower()
            slots.values["travellers"] = 1 + (NUMBER_WORDS[raw] if raw in NUMBER_WORDS else int(raw))
            spans.append(plus.span())
            return spans + SlotExtractor._codes(text, slots)
        for pattern in TRAVELLERS:
            if match := pattern.search(text):
                raw = next(g for g in match.groups() if g).lower()
                slots.values["travellers"] = NUMBER_WORDS[raw] if raw in NUMBER_WORDS else int(raw)
                spans.append(match.span())
                break
        else:
            if match := PAIRS.search(text):
                slots.values["travellers"] = 2
                spans.append(match.span())
            elif match := SOLO.search(text):
                slots.values["travellers"] = 1
                spans.append(match.span())
        return spans + SlotExtractor._codes(text, slots)

    @staticmethod
    def _codes(text: str, slots: Slots) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for name, pattern in (("currency", CURRENCY), ("quote", QUOTE_REF), ("reference", BOOKING_REF)):
            if match := pattern.search(text):
                said = match.group(1) if name == "currency" else match.group(0)
                slots.values[name] = "pounds" if said.lower() == "quid" else said
                spans.append(match.span())
        if match := SECTION.search(text):
            slots.values["section"] = match.group(1)
            spans.append(match.span())
        return spans


NEAR_ME = re.compile(
    r"\b(?:near|close to|closest to|nearest to|around) (?:me|us|home)\b|\bnearby\b|\bnearest\b.*\bto me\b|"
    r"\bcerca de (?:mí|mi|casa)\b|\bperto de (?:mim|casa)\b|\bprès de chez moi\b|\bin meiner nähe\b",
    re.IGNORECASE,
)
TOUR_WORDS = re.compile(r"\b(?:tour|touring|tournée|turnê|gira|tournee|tourdaten|world tour)\b", re.IGNORECASE)
UNFOLLOW_CUE = re.compile(
    r"\b(?:unfollow|stop following|no longer|ya no|dejar de seguir|deixar de seguir|nicht mehr|entfolgen|ne plus suivre|"
    r"ne veux plus suivre|no quiero seguir|não quero seguir|"
    r"(?:don'?t|do not|dont) (?:want|need) (?:any )?(?:more )?(?:updates|alerts|news|notifications|messages)|"
    r"não quero mais|don'?t want to follow|no more .*(?:notifications|alerts|updates))",
    re.IGNORECASE,
)
FOLLOW_CUE = re.compile(
    r"^\s*(?:please |pls |can you |could you )?(?:follow|sigue|seguir|folge|suivre|segue|siga)\b|"
    r"\b(?:and|also|then|pls|please|y|und|et|e|yes|yeah|ok|sure)[,\s]+(?:also\s+)?follow (?:her|him|them|they|it)\b|"
    r"\b(?:quiero|quero|je veux|ich will|ich möchte)\s+(?:seguir|suivre|folgen)\b|"
    r"\b(?:keep me (?:posted|updated|in the loop)|let me know (?:if|when|whenever)\b[^.?!]*\b(?:announce|add|drop|new)|"
    r"(?:ping|tell|text|message|alert|notify) me (?:if|when|whenever|wen)\b[^.?!]*\b(?:announce|adds?|drops?|new (?:dates|shows|gigs|tour))|"
    r"(?:avísame|avisa(?:-me)?|me avisa|sag mir bescheid|préviens-moi)\b[^.?!]*\b(?:anunci|fechas|datas|dates|termine))",
    re.IGNORECASE,
)
_MY_DATA = (
    r"(?:my (?:roadie )?(?:data|account|info\w*|personal data)|everything (?:you|roadie) (?:have|has|hold|holds|know|knows)|"
    r"mis datos|mi cuenta|(?:toda )?mi información|meine[rn]? daten|mein konto|mes données|mon compte|"
    r"meus dados|minha conta|(?:todas )?as minhas informações)"
)
EXPORT_DATA_CUE = re.compile(
    r"\b(?:export\w*|download|copy|copia|kopie|copie|cópia|descargar|herunterladen|télécharger|baixar)\b[^.?!]{0,25}"
    + _MY_DATA,
    re.IGNORECASE,
)
DELETE_DATA_CUE = re.compile(
    r"\b(?:delete|erase|wipe|remove|borra\w*|elimina\w*|lösch\w*|efface\w*|supprim\w*|apaga\w*|exclu[ai]\w*)\b[^.?!]{0,25}"
    + _MY_DATA,
    re.IGNORECASE,
)
BOOKINGS_CUE = re.compile(
    r"^\W*(?:show|list|see|view|check|zeig(?:e)?|muéstrame|muestra|montre[- ]moi|montre|mostra|mostre|what are|where are)?"
    r"\s*(?:me|mir|moi)?\s*(?:all\s+)?(?:my|meine|mis|mes|minhas|meus)\s+"
    r"(?:bookings|buchungen|reservas|réservations|reservations|booked trips)\b",
    re.IGNORECASE,
)
CREATE_GROUP_CUE = re.compile(
    r"\b(?:create|make|set up|start|open|crea|criar|cria|erstell\w*|cr[ée]e[rz]?)\b[^.?!]{0,25}?"
    r"\b(?:a |an |the |our |un |una |um |eine )?(?:new )?(?:trip )?(?:group|grupo|gruppe|groupe|grup)\b(?!\s+chat)",
    re.IGNORECASE,
)
TRIP_ASK = re.compile(
    r"\b(?:cost|how much|price|trip|plan|quote|work out|damage|cuánto|quanto|combien|wie viel|kostet|coûte|cuesta|custa|"
    r"want to (?:go|see)|wanna (?:go|see)|quiero ver|quero ver|veux voir|va voir|will\b[^.?!]{0,40}\bsehen|möchte\b[^.?!]{0,40}\bsehen)\b",
    re.IGNORECASE,
)
# "anything on?", "what's happening": a look at what is on, not a trip
WHATS_ON = re.compile(r"\b(?:anything|something|what'?s|whats) (?:on|happening|good)\b|\bgoing on\b", re.IGNORECASE)
FOLLOWING_CUE = re.compile(
    r"\bwho (?:do|am|have) i (?:follow|following|subscribed|followed)\b|\bwho i'?m (?:following|subscribed to)\b|"
    r"\b(?:artists?|bands?) (?:i|that i) (?:follow|am following)\b|\bque je suis\b|\bque sigo\b|\bque eu sigo\b|"
    r"\bdenen ich folge\b|\bmy (?:artists|follows|following list)\b",
    re.IGNORECASE,
)
CURRENCY_CUE = re.compile(
    r"\b(?:currency|prices?|precios|preços|moeda|moneda|währung|preise|devise|prix)\b", re.IGNORECASE
)
CONVERSION = re.compile(r"\b(?:convert|conversion|exchange rate|umrechnen|convertir|converter)\b", re.IGNORECASE)
ONE_TRIP = re.compile(
    r"\b(?:one|same|single|a single|one big) (?:trip|journey|holiday|vacation)\b|\bcombin|\bback[- ]to[- ]back\b|"
    r"\bthen\b|\bmulti[- ]?(?:city|show|event|concert)|\b(?:two|2|three|3|both|several) (?:shows|concerts|gigs)\b|"
    r"\bmismo viaje\b|\bun solo viaje\b|\beine reise\b|\bun seul voyage\b|\bmesma viagem\b",
    re.IGNORECASE,
)
LIKE = re.compile(
    r"\b(?:something|anything|stuff|bands?|artists?|music|shows?|acts?|concerts?|gigs?)\s+(?:like|similar to)\s+|"
    r"\bsimilar to\s+|\bsounds? like\s+|\bin the style of\s+|\bparecido a\s+|\bähnlich wie\s+|\bcomme\s+",
    re.IGNORECASE,
)
LIKE_WORDS = re.compile(r"((?:(?!\b(?:in|on|at|near|this|next|en|im|à)\b)[\w' -])+)", re.IGNORECASE)
# Questions about getting there, rules and the trip itself: Roadie's guides (and the group's itinerary) answer them.
GUIDE_QUESTION = re.compile(
    r"^\s*(?:what|what's|whats|when|how|where|can|could|may|is|are|do|does|which|am i|will)\b.*"
    r"\b(?:policy|refunds?|bring|bags?|backpacks?|get (?:to|from|there|back)|airport|station|wheelchair|accessib\w*|"
    r"check[- ]?in|check[- ]?out|our (?:flight|hotel|trip|itinerary|plan)|stay near|metro|tube|late[- ]night|transport|"
    r"safe|allowed|fees?|privacy|my data)\b",
    re.IGNORECASE,
)
ALERT_TOGGLE = re.compile(
    r"\b(?P<verb>turn|switch|stop|pause|mute|resume|start|enable|disable|no more|unmute)\s+(?P<state>on\s+|off\s+)?"
    r"(?:the\s+|my\s+|all\s+)?(?:trip\s+)?(?P<kind>tour|price(?:[- ]drop)?|weekly|reminder)s?\s*(?:date\s+)?"
    r"(?:alerts?|updates|notifications|messages|reminders|digest|emails?)?(?:\s+(?P<state2>on|off)\b)?",
    re.IGNORECASE,
)
ALERTS_ON = {"resume", "start", "enable", "unmute"}
ALERTS_OFF = {"stop", "pause", "mute", "disable", "no more"}
QUIET_HOURS = re.compile(
    r"\bquiet hours?\s*(?:from\s+)?(\d{1,2}(?::00)?\s*(?:-|–|to|until)\s*\d{1,2}(?::00)?)", re.IGNORECASE
)
RESEND = re.compile(
    r"\b(?:resend|retry|re-send|send)\b.*?\bmessage\s*#?(\d{1,9})\b|\bmessage\s*#?(\d{1,9})\s+again\b", re.IGNORECASE
)
