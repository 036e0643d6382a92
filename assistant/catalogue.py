"""The demo catalogue's fixed facts: artists, real venues and the cities, countries and regions around them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArtistSpec:
    """An artist as seeded: canonical name, other spellings, genre and tour name."""

    name: str
    aliases: tuple[str, ...]
    genre: str
    tour: str
    description: str
    headline: str = ""  # a venue this tour always plays (the demo's "Lisbon show")


@dataclass(frozen=True)
class VenueSpec:
    """A real venue: where it is, its airport, coordinates, timezone and capacity."""

    name: str
    city: str
    country: str
    region: str
    airport: str
    latitude: float
    longitude: float
    timezone: str
    capacity: int


ARTISTS: tuple[ArtistSpec, ...] = (
    ArtistSpec(
        "Taylor Swift",
        ("Taylor", "T Swift", "TSwift", "Tay"),
        "pop",
        "The Eras Tour Encore",
        "Stadium pop, country roots and confessional songwriting.",
        headline="Estádio da Luz",
    ),
    ArtistSpec(
        "Coldplay",
        ("Cold Play",),
        "pop rock",
        "Music of the Spheres",
        "Anthemic British pop rock with light-up wristbands.",
    ),
    ArtistSpec(
        "Beyoncé", ("Beyonce", "Queen Bey", "Bey"), "r&b", "Cowboy Carter Tour", "R&B, pop and country spectacle."
    ),
    ArtistSpec(
        "Ed Sheeran", ("Ed", "Sheeran"), "pop", "Loop Tour", "Singer-songwriter with a loop pedal and acoustic pop."
    ),
    ArtistSpec(
        "Billie Eilish", ("Billie", "Eilish"), "alt pop", "Hit Me Hard and Soft", "Whispered, dark alternative pop."
    ),
    ArtistSpec("Dua Lipa", ("Dua",), "dance pop", "Radical Optimism", "Disco-tinged dance pop."),
    ArtistSpec(
        "The Weeknd", ("Weeknd", "The Weekend", "Abel"), "r&b", "After Hours til Dawn", "Dark synth-pop and R&B."
    ),
    ArtistSpec("Bruno Mars", ("Bruno",), "funk pop", "24K Magic Live", "Funk, soul and pop showmanship."),
    ArtistSpec("Harry Styles", ("Harry",), "pop rock", "Love On Tour Revival", "Pop rock with seventies swagger."),
    ArtistSpec(
        "Olivia Rodrigo", ("Olivia", "Livvy"), "pop rock", "GUTS World Tour", "Pop punk and heartbreak ballads."
    ),
    ArtistSpec("Bad Bunny", ("Benito", "Bad Bunny PR"), "reggaeton", "Most Wanted Tour", "Latin trap and reggaeton."),
    ArtistSpec("Metallica", ("Metalica",), "metal", "M72 World Tour", "Thrash metal legends, in the round."),
    ArtistSpec("Foo Fighters", ("Foos", "Foo Fighter"), "rock", "Everything or Nothing", "Big-chorus American rock."),
    ArtistSpec(
        "Arctic Monkeys",
        ("Arctic Monkey", "Arctic Monkies"),
        "indie rock",
        "The Car Tour",
        "Sheffield indie rock, from garage to lounge.",
    ),
    ArtistSpec("Imagine Dragons", ("Imagine Dragon",), "pop rock", "Loom World Tour", "Stadium pop rock with drums."),
    ArtistSpec("Kendrick Lamar", ("Kendrick", "K Dot"), "hip hop", "Grand National Tour", "West Coast hip hop."),
    ArtistSpec("SZA", ("Sza",), "r&b", "SOS Tour", "Alternative R&B."),
    ArtistSpec("Adele", ("Adele Adkins",), "soul pop", "Weekends with Adele", "Soul ballads and a big voice."),
    ArtistSpec(
        "Rammstein", ("Ramstein",), "industrial metal", "Stadium Tour", "German industrial metal with pyrotechnics."
    ),
    ArtistSpec("Sabrina Carpenter", ("Sabrina",), "pop", "Short n' Sweet Tour", "Playful pop."),
    ArtistSpec(
        "Karol G", ("Karol", "La Bichota"), "reggaeton", "Tropicoqueta Tour", "Colombian reggaeton and Latin pop."
    ),
    ArtistSpec("Shakira", ("Shaki",), "latin pop", "Las Mujeres Ya No Lloran", "Colombian Latin pop and rock."),
)

VENUES: tuple[VenueSpec, ...] = (
    VenueSpec("Wembley Stadium", "London", "United Kingdom", "Europe", "LHR", 51.556, -0.2796, "Europe/London", 90000),
    VenueSpec("The O2", "London", "United Kingdom", "Europe", "LHR", 51.503, 0.0032, "Europe/London", 20000),
    VenueSpec("Co-op Live", "Manchester", "United Kingdom", "Europe", "MAN", 53.4846, -2.1982, "Europe/London", 23500),
    VenueSpec(
        "Etihad Stadium", "Manchester", "United Kingdom", "Europe", "MAN", 53.4831, -2.2004, "Europe/London", 60000
    ),
    VenueSpec("Croke Park", "Dublin", "Ireland", "Europe", "DUB", 53.3607, -6.2511, "Europe/Dublin", 82000),
    VenueSpec("3Arena", "Dublin", "Ireland", "Europe", "DUB", 53.3475, -6.2286, "Europe/Dublin", 13000),
    VenueSpec("Stade de France", "Paris", "France", "Europe", "CDG", 48.9245, 2.3602, "Europe/Paris", 80000),
    VenueSpec("Accor Arena", "Paris", "France", "Europe", "CDG", 48.8386, 2.3786, "Europe/Paris", 20300),
    VenueSpec(
        "King Baudouin Stadium", "Brussels", "Belgium", "Europe", "BRU", 50.8952, 4.3342, "Europe/Brussels", 50000
    ),
    VenueSpec(
        "Johan Cruijff ArenA", "Amsterdam", "Netherlands", "Europe", "AMS", 52.3143, 4.9419, "Europe/Amsterdam", 55000
    ),
    VenueSpec("Ziggo Dome", "Amsterdam", "Netherlands", "Europe", "AMS", 52.3133, 4.9375, "Europe/Amsterdam", 17000),
    VenueSpec("Olympiastadion Berlin", "Berlin", "Germany", "Europe", "BER", 52.5147, 13.2395, "Europe/Berlin", 74000),
    VenueSpec("Uber Arena", "Berlin", "Germany", "Europe", "BER", 52.5053, 13.4436, "Europe/Berlin", 17000),
    VenueSpec("Olympiastadion München", "Munich", "Germany", "Europe", "MUC", 48.1731, 11.5466, "Europe/Berlin", 69000),
    VenueSpec("Ernst-Happel-Stadion", "Vienna", "Austria", "Europe", "VIE", 48.2075, 16.4208, "Europe/Vienna", 68000),
    VenueSpec("O2 Arena Prague", "Prague", "Czechia", "Europe", "PRG", 50.1047, 14.4937, "Europe/Prague", 18000),
    VenueSpec("PGE Narodowy", "Warsaw", "Poland", "Europe", "WAW", 52.2395, 21.0456, "Europe/Warsaw", 58000),
    VenueSpec("Parken Stadium", "Copenhagen", "Denmark", "Europe", "CPH", 55.7025, 12.5722, "Europe/Copenhagen", 38000),
    VenueSpec("Friends Arena", "Stockholm", "Sweden", "Europe", "ARN", 59.3727, 18.0003, "Europe/Stockholm", 65000),
    VenueSpec("Hallenstadion", "Zurich", "Switzerland", "Europe", "ZRH", 47.4114, 8.5516, "Europe/Zurich", 15000),
    VenueSpec("San Siro", "Milan", "Italy", "Europe", "MXP", 45.4781, 9.1240, "Europe/Rome", 75000),
    VenueSpec("Stadio Olimpico", "Rome", "Italy", "Europe", "FCO", 41.9341, 12.4547, "Europe/Rome", 70000),
    VenueSpec(
        "Estadio Santiago Bernabéu", "Madrid", "Spain", "Europe", "MAD", 40.4531, -3.6883, "Europe/Madrid", 83000
    ),
    VenueSpec("Palau Sant Jordi", "Barcelona", "Spain", "Europe", "BCN", 41.3636, 2.1525, "Europe/Madrid", 17000),
    VenueSpec("Estádio da Luz", "Lisbon", "Portugal", "Europe", "LIS", 38.7527, -9.1847, "Europe/Lisbon", 65000),
    VenueSpec("MEO Arena", "Lisbon", "Portugal", "Europe", "LIS", 38.7685, -9.0940, "Europe/Lisbon", 20000),
    VenueSpec(
        "Madison Square Garden",
        "New York",
        "United States",
        "North America",
        "JFK",
        40.7505,
        -73.9934,
        "America/New_York",
        19500,
    ),
    VenueSpec(
        "MetLife Stadium",
        "New York",
        "United States",
        "North America",
        "EWR",
        40.8135,
        -74.0745,
        "America/New_York",
        82500,
    ),
    VenueSpec(
        "Soldier Field", "Chicago", "United States", "North America", "ORD", 41.8623, -87.6167, "America/Chicago", 61500
    ),
    VenueSpec(
        "SoFi Stadium",
        "Los Angeles",
        "United States",
        "North America",
        "LAX",
        33.9535,
        -118.3392,
        "America/Los_Angeles",
        70000,
    ),
    VenueSpec(
        "Crypto.com Arena",
        "Los Angeles",
        "United States",
        "North America",
        "LAX",
        34.0430,
        -118.2673,
        "America/Los_Angeles",
        20000,
    ),
    VenueSpec(
        "Rogers Centre", "Toronto", "Canada", "North America", "YYZ", 43.6414, -79.3894, "America/Toronto", 50000
    ),
    VenueSpec(
        "Estadio GNP Seguros",
        "Mexico City",
        "Mexico",
        "Latin America",
        "MEX",
        19.4047,
        -99.0869,
        "America/Mexico_City",
        65000,
    ),
    VenueSpec(
        "Allianz Parque", "São Paulo", "Brazil", "Latin America", "GRU", -23.5275, -46.6783, "America/Sao_Paulo", 43000
    ),
    VenueSpec("Tokyo Dome", "Tokyo", "Japan", "Asia", "HND", 35.7056, 139.7519, "Asia/Tokyo", 55000),
    VenueSpec("Gocheok Sky Dome", "Seoul", "South Korea", "Asia", "ICN", 37.4982, 126.8671, "Asia/Seoul", 25000),
    VenueSpec("Accor Stadium", "Sydney", "Australia", "Oceania", "SYD", -33.8474, 151.0634, "Australia/Sydney", 83500),
    VenueSpec(
        "National Stadium Singapore", "Singapore", "Singapore", "Asia", "SIN", 1.3043, 103.8748, "Asia/Singapore", 55000
    ),
    VenueSpec(
        "Etihad Park", "Dubai", "United Arab Emirates", "Middle East", "DXB", 25.2048, 55.2708, "Asia/Dubai", 20000
    ),
    VenueSpec(
        "Coca-Cola Arena", "Dubai", "United Arab Emirates", "Middle East", "DXB", 25.2035, 55.2847, "Asia/Dubai", 17000
    ),
)

CITY_ALIASES: dict[str, str] = {
    "nyc": "New York",
    "new york city": "New York",
    "ny": "New York",
    "la": "Los Angeles",
    "l.a.": "Los Angeles",
    "lisboa": "Lisbon",
    "londres": "London",
    "londra": "London",
    "berlín": "Berlin",
    "parís": "Paris",
    "madri": "Madrid",
    "amsterdã": "Amsterdam",
    "viena": "Vienna",
    "vienne": "Vienna",
    "barcelone": "Barcelona",
    "tóquio": "Tokyo",
    "tokio": "Tokyo",
    "münchen": "Munich",
    "muenchen": "Munich",
    "munchen": "Munich",
    "wien": "Vienna",
    "praha": "Prague",
    "warszawa": "Warsaw",
    "københavn": "Copenhagen",
    "kobenhavn": "Copenhagen",
    "milano": "Milan",
    "roma": "Rome",
    "sao paulo": "São Paulo",
    "cdmx": "Mexico City",
    "ciudad de mexico": "Mexico City",
    "bruxelles": "Brussels",
    "brussel": "Brussels",
    "zürich": "Zurich",
    "zuerich": "Zurich",
    "mexico df": "Mexico City",
    "manchester uk": "Manchester",
    "dubayy": "Dubai",
}

COUNTRY_ALIASES: dict[str, str] = {
    "uk": "United Kingdom",
    "england": "United Kingdom",
    "britain": "United Kingdom",
    "great britain": "United Kingdom",
    "scotland": "United Kingdom",
    "usa": "United States",
    "america": "United States",
    "the states": "United States",
    "united states of america": "United States",
    "holland": "Netherlands",
    "the netherlands": "Netherlands",
    "deutschland": "Germany",
    "españa": "Spain",
    "espana": "Spain",
    "italia": "Italy",
    "czech republic": "Czechia",
    "korea": "South Korea",
    "uae": "United Arab Emirates",
    "emirates": "United Arab Emirates",
    "brasil": "Brazil",
    "méxico": "Mexico",
    "schweiz": "Switzerland",
    "suisse": "Switzerland",
    "österreich": "Austria",
    "polska": "Poland",
    "danmark": "Denmark",
    "sverige": "Sweden",
    "éire": "Ireland",
}

REGION_ALIASES: dict[str, str] = {
    "europe": "Europe",
    "european": "Europe",
    "europa": "Europe",
    "north america": "North America",
    "latin america": "Latin America",
    "south america": "Latin America",
    "latam": "Latin America",
    "asia": "Asia",
    "oceania": "Oceania",
    "australia and new zealand": "Oceania",
    "middle east": "Middle East",
}

# Rough fares for demo flights: EUR per km on short and long haul, plus a floor.
FARE_FLOOR_EUR = 45
FARE_PER_KM_SHORT = 0.11
FARE_PER_KM_LONG = 0.075

# Price multiplier by days before departure, shaped after the median of real economy fares
# (../shared/data/airfares): flat until ~17 days out, a step up at 15-16 days, about twice the
# early price inside two weeks and nearly three times in the last three days.
FARE_CURVE: tuple[tuple[int, float], ...] = (
    (1, 2.95),
    (2, 2.9),
    (3, 2.7),
    (4, 2.32),
    (6, 2.2),
    (9, 2.35),
    (11, 2.1),
    (14, 2.04),
    (15, 1.72),
    (16, 1.18),
    (17, 1.13),
    (18, 1.0),
    (60, 1.0),
    (120, 0.96),
    (400, 0.93),
)


def fare_multiplier(days_left: int) -> float:
    """How much dearer a fare is `days_left` days before departure than a month or two out."""
    for limit, factor in FARE_CURVE:
        if days_left <= limit:
            return factor
    return FARE_CURVE[-1][1]
