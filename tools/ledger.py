"""Exact money for group trips: splits to the cent, net balances, and the fewest transfers to settle up."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

# Up to this many people with a non-zero balance, `settle` searches every grouping for the true
# minimum number of transfers (2**12 subsets); beyond it, it settles greedily.
EXACT_SETTLE_LIMIT = 12


class SplitError(ValueError):
    """A split that cannot be right; str(error) is a sentence a traveller can read."""


@dataclass(frozen=True)
class Split:
    """Who owes what for one expense: `amounts` sums to the total exactly.

    `amounts` maps person id to minor units owed, in the order the people were given; people
    with a zero share or a zero exact amount are left out. `rounded_up` lists, in the order
    given, the people who owe one minor unit more than the rest of their share because the
    total did not divide evenly.
    """

    amounts: dict[int, int]
    rounded_up: tuple[int, ...]


@dataclass(frozen=True)
class Transfer:
    """One payment that settles (part of) a debt: `debtor` pays `creditor` `amount_minor`."""

    debtor: int
    creditor: int
    amount_minor: int


def split_equal(total_minor: int, people: Sequence[int]) -> Split:
    """Split `total_minor` evenly; the first people listed pay the leftover minor units, one each."""
    _check_total(total_minor)
    _check_people(people)
    base, leftover = divmod(total_minor, len(people))
    rounded_up = tuple(people[:leftover])
    amounts = {person: base + (1 if index < leftover else 0) for index, person in enumerate(people)}
    return Split(amounts, rounded_up)


def split_shares(total_minor: int, shares: Mapping[int, Decimal | int]) -> Split:
    """Split `total_minor` in proportion to `shares` (largest remainder; ties go to who is listed first)."""
    _check_total(total_minor)
    if not shares:
        raise SplitError("Nobody is in this split: add at least one person.")
    weights: dict[int, Fraction] = {}
    for person, share in shares.items():
        weight = _share_weight(share)
        if weight > 0:  # a zero share means this person is not part of the expense
            weights[person] = weight
    if not weights:
        raise SplitError("Every share is zero: at least one person needs a share above zero.")
    whole = sum(weights.values(), Fraction(0))
    floors: dict[int, int] = {}
    remainders: dict[int, Fraction] = {}
    for person, weight in weights.items():
        ideal = total_minor * weight / whole
        floors[person] = ideal.numerator // ideal.denominator
        remainders[person] = ideal - floors[person]
    leftover = total_minor - sum(floors.values())
    order = {person: index for index, person in enumerate(weights)}
    by_remainder = sorted(weights, key=lambda person: (-remainders[person], order[person]))
    lucky = set(by_remainder[:leftover])
    amounts = {person: floors[person] + (1 if person in lucky else 0) for person in weights}
    rounded_up = tuple(person for person in weights if person in lucky)
    return Split(amounts, rounded_up)


def split_exact(total_minor: int, amounts: Mapping[int, int]) -> Split:
    """Take the amounts as given, refusing any that are negative or do not add up to `total_minor` exactly."""
    _check_total(total_minor)
    if not amounts:
        raise SplitError("Nobody is in this split: add at least one person.")
    for amount in amounts.values():
        _check_minor(amount)
        if amount < 0:
            raise SplitError(f"An exact amount cannot be negative ({_plain(amount)}).")
    given = sum(amounts.values())
    if given != total_minor:
        gap = total_minor - given
        how = f"{_plain(gap)} short" if gap > 0 else f"{_plain(-gap)} too much"
        raise SplitError(f"The exact amounts add up to {_plain(given)}, not {_plain(total_minor)} — {how}.")
    return Split({person: amount for person, amount in amounts.items() if amount > 0}, ())


def balances(entries: Iterable[tuple[int, int, Mapping[int, int]]]) -> dict[int, int]:
    """Net minor units per person over (payer, total, split amounts) entries: positive is owed, negative owes."""
    net: dict[int, int] = {}
    for payer, total_minor, amounts in entries:
        _check_minor(total_minor)
        for amount in amounts.values():
            _check_minor(amount)
        shared = sum(amounts.values())
        if shared != total_minor:
            raise SplitError(
                f"An expense of {_plain(total_minor)} was split as {_plain(shared)}; the split must add up."
            )
        net[payer] = net.get(payer, 0) + total_minor
        for person, amount in amounts.items():
            net[person] = net.get(person, 0) - amount
    return net


def settle(balances: Mapping[int, int]) -> list[Transfer]:
    """The fewest transfers that bring every balance to zero, ordered by debtor id then creditor id."""
    for amount in balances.values():
        _check_minor(amount)
    total = sum(balances.values())
    if total != 0:
        raise ValueError(f"The balances add up to {_plain(total)}, not zero, so they cannot be settled.")
    owing = {person: amount for person, amount in sorted(balances.items()) if amount != 0}
    groups = _zero_sum_groups(owing) if len(owing) <= EXACT_SETTLE_LIMIT else [list(owing)]
    transfers = [transfer for group in groups for transfer in _settle_greedily({p: owing[p] for p in group})]
    return sorted(transfers, key=lambda t: (t.debtor, t.creditor))


def _zero_sum_groups(owing: Mapping[int, int]) -> list[list[int]]:
    """The people split into as many disjoint zero-sum groups as possible (bitmask search over subsets).

    Each group of k people settles in k - 1 transfers, so the most groups gives the fewest
    transfers. best[mask] is the most zero-sum prefixes any ordering of `mask` can have.
    """
    people = list(owing)
    size = len(people)
    full = (1 << size) - 1
    sums = [0] * (full + 1)
    best = [0] * (full + 1)
    for mask in range(1, full + 1):
        lowest = (mask & -mask).bit_length() - 1
        sums[mask] = sums[mask & (mask - 1)] + owing[people[lowest]]
        best[mask] = max(best[mask ^ (1 << i)] for i in range(size) if mask >> i & 1) + (sums[mask] == 0)
    groups: list[list[int]] = []
    current: list[int] = []
    mask = full
    while mask:
        closes = sums[mask] == 0
        index = next(i for i in range(size) if mask >> i & 1 and best[mask ^ (1 << i)] + closes == best[mask])
        current.append(people[index])
        mask ^= 1 << index
        if sums[mask] == 0:
            groups.append(sorted(current))
            current = []
    return groups


def _settle_greedily(owing: Mapping[int, int]) -> list[Transfer]:
    """Largest debtor pays largest creditor (ties by lower id) until all is square: at most n - 1 transfers."""
    left = dict(owing)
    transfers: list[Transfer] = []
    while any(left.values()):
        debtor = min((p for p in left if left[p] < 0), key=lambda p: (left[p], p))
        creditor = min((p for p in left if left[p] > 0), key=lambda p: (-left[p], p))
        amount = min(-left[debtor], left[creditor])
        transfers.append(Transfer(debtor, creditor, amount))
        left[debtor] += amount
        left[creditor] -= amount
    return transfers


def _check_minor(value: object) -> None:
    """Refuse anything but a whole number of minor units (floats and bools are bugs, not money)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"money must be an int number of minor units, not {type(value).__name__}")


def _check_total(total_minor: int) -> None:
    """Refuse a total that is not a positive whole number of minor units."""
    _check_minor(total_minor)
    if total_minor <= 0:
        raise SplitError(f"There is nothing to split: the total is {_plain(total_minor)}; it must be more than zero.")


def _check_people(people: Sequence[int]) -> None:
    """Refuse an empty list or one naming someone twice."""
    if not people:
        raise SplitError("Nobody is in this split: add at least one person.")
    if len(set(people)) != len(people):
        raise SplitError("Someone is in this split twice: each person can be in it only once.")


def _share_weight(share: Decimal | int) -> Fraction:
    """A share as an exact fraction; refuses negative, non-finite and non-exact (float) shares."""
    if isinstance(share, bool) or not isinstance(share, int | Decimal):
        raise TypeError(f"a share must be an int or a Decimal, not {type(share).__name__}")
    if isinstance(share, Decimal) and not share.is_finite():
        raise SplitError("A share must be a number, like 1 or 1.5.")
    if share < 0:
        raise SplitError(f"A share cannot be negative ({share}).")
    return Fraction(share)


def _plain(minor: int) -> str:
    """Minor units as a plain amount without a currency: 9500 -> '95.00', -123456 -> '-1,234.56'."""
    whole, cents = divmod(abs(minor), 100)
    return f"{'-' if minor < 0 else ''}{whole:,}.{cents:02d}"
