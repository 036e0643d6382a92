"""Money in integer minor units: conversion between the currencies Roadie quotes in, and formatting."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

# Units of each currency per euro: fixed reference rates for the demo catalogue.
RATES_PER_EUR: dict[str, Decimal] = {
    "EUR": Decimal("1"),
    "GBP": Decimal("0.85"),
    "USD": Decimal("1.08"),
    "CHF": Decimal("0.95"),
    "SEK": Decimal("11.4"),
    "DKK": Decimal("7.46"),
    "PLN": Decimal("4.3"),
    "CZK": Decimal("25.1"),
    "JPY": Decimal("162"),
    "KRW": Decimal("1450"),
    "AUD": Decimal("1.64"),
    "SGD": Decimal("1.45"),
    "AED": Decimal("3.97"),
    "CAD": Decimal("1.47"),
    "MXN": Decimal("19.6"),
    "BRL": Decimal("5.9"),
}
SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
ZERO_DECIMALS = {"JPY", "KRW"}


def convert(minor: int, source: str, target: str) -> int:
    """`minor` units of `source` expressed in `target` minor units, rounded half-even."""
    if source == target:
        return minor
    euros = Decimal(minor) / RATES_PER_EUR[source]
    return int((euros * RATES_PER_EUR[target]).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def format_money(minor: int, currency: str) -> str:
    """A price as people write it: €1,234.50, £80, 12,000 JPY."""
    if currency in ZERO_DECIMALS:
        amount = f"{round(minor / 100):,}"
    else:
        whole, cents = divmod(abs(minor), 100)
        amount = f"{whole:,}" + (f".{cents:02d}" if cents else "")
        amount = ("-" if minor < 0 else "") + amount
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def show(minor: int, source: str, target: str) -> str:
    """Convert and format in one step: what a traveller sees."""
    return format_money(convert(minor, source, target), target)
