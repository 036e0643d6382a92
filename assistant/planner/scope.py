"""What Roadie does not do: topics of travel and daily life outside concerts and the trips around them.

Names of places and dates alone do not make a request Roadie's: "travel alerts for Germany", "a rental car
in Munich from 2 to 6 March" and "restaurants near the Colosseum" name places Roadie knows, yet none of its
tools serves them. A message about such a topic that names no artist and says nothing of shows, tickets or
a group's trip is answered without a tool.
"""

from __future__ import annotations

import re

_I = re.IGNORECASE
FOREIGN_TOPIC = re.compile(
    r"\b(?:"
    # documents, health, money and the bank
    r"visas?|passports?|schengen|vaccin\w*|jabs?|shots? (?:for|before)|shots\b[^.?!]{0,30}\bbefore (?:travel|flying|going|visiting)\w*|immuni[sz]\w*|insurance|"
    r"exchange rates?|change (?:my )?money|(?:how much|wie viel|cu[áa]nto|combien|quanto) (?:is|ist|es|est|vale|é) "
    r"(?:a|an|one|1|ein|un|una|um) (?:euro|dollar|pound|yen|peso|franc)s?|currency exchange|bureau de change|(?:my|the) bank|atm|"
    r"bitcoin|crypto\w*|stocks?|shares? of|index funds?|mortgage|rent today|my rent|"
    # the journey itself, when it is not Roadie's flight to a show
    r"car (?:rental|hire)|rent(?:al)? (?:a |me a |the )?(?:car|van|suv|vehicle|convertible)|rental car|hire (?:a )?car|"
    r"alquilar un coche|alugar um carro|mietwagen|louer une voiture|"
    r"flight status|status of (?:my |the )?(?:[\w-]+ ){0,3}flight|(?:flight|plane)\b[^.?!]{0,25}\b(?:delayed|on time|land(?:s|ing)?)|"
    r"carry[- ]?ons?|hand luggage|luggage allowance|baggage allowance|lost (?:my )?(?:luggage|bag|suitcase)|"
    r"(?:luggage|suitcase|bag) (?:never arrived|is lost|got lost)|"
    r"plugs?|sockets?|outlets?|adapters?|voltage|"
    r"time ?zones?|travel (?:alerts?|warnings?|advisor(?:y|ies))|"
    r"cruises?|ski(?:ing)? (?:holiday|trip)|beach resorts?|hostels?|uber|taxi to|trains? (?:from|to)|speed limit|"
    # sights and food
    r"sight-?seeing|tourists?|attractions?|museums?|restaurants?|things to do|fun to do|what to do in|"
    r"book (?:a|me a) table|reserve (?:a|me a) table|r[ée]serve[- ]moi une table|"
    # daily life
    r"weather|forecast for (?:tomorrow|today)|rain(?:ing)?|recipes?|translat\w*|supermarkets?|"
    r"twitter|instagram|tiktok|facebook|social media|follow me on|gmail|outlook|my contacts|photos|"
    r"elections?|politics|brexit|president|tv|netflix|series|movies?|films?|capital of|"
    r"wetter|tiempo hace|temps fait|previs[ãa]o do tempo"
    r")\b",
    _I,
)
# Words that make a message about shows, Roadie's trips or a group's plans whatever else it names.
EVENT_WORDS = re.compile(
    r"\b(?:concerts?|gigs?|shows?|tours?|touring|festivals?|tickets?|tix|seats?|stadium|arena|venue|"
    r"band|singer|artist|conciertos?|konzerte?|konzert|shows|billets?|entradas|ingressos|"
    r"group|split|paid|owe[sd]?|settle|expenses?|quote|booking|booked)\b",
    _I,
)
# Words that make a message naming places a request for shows ("what's on in Berlin", "anything in Lisbon").
SHOW_HINTS = re.compile(
    EVENT_WORDS.pattern + r"|\b(?:anything|something|what'?s on|whats on|going on|happening|events?|live|music|"
    r"play(?:s|ing)?|perform\w*|see|watch|dates?|when|where|qu[ée]|hay|gibt|o[uù]|onde)\b",
    _I,
)
# Requests whose subject is an artist as a person rather than their shows ("how old is Adele").
ARTIST_TRIVIA = re.compile(
    r"^\s*(?:how (?:old|tall|rich)|what(?:'s| is) (?:\w+'s )?(?:net worth|age|height|real name)|"
    r"who is (?:\w+'s )?(?:drummer|guitarist|singer|wife|husband|girlfriend|boyfriend|manager)|is \w+(?: \w+)? (?:vegan|married|single)|"
    r"(?:write|compose|make) (?:me )?(?:a |an |some )?(?:song|poem|lyrics|story|essay|rap))\b",
    _I,
)


def off_topic(text: str, named_artist: bool) -> bool:
    """True when the message is about something Roadie does not do and says nothing of shows or trips to them."""
    if EVENT_WORDS.search(text) is not None:
        return False
    if ARTIST_TRIVIA.search(text) is not None:
        return True
    return not named_artist and FOREIGN_TOPIC.search(text) is not None
