"""Group-trip money: every split adds up to the cent, and settling up takes the fewest transfers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.ledger import (
    EXACT_SETTLE_LIMIT,
    Split,
    SplitError,
    Transfer,
    balances,
    settle,
    split_equal,
    split_exact,
    split_shares,
)

ANA, BEN, CY, DEE = 1, 2, 3, 4

quick = settings(max_examples=150, deadline=None)

totals = st.integers(min_value=1, max_value=10_000_000)
people_lists = st.lists(st.integers(min_value=1, max_value=500), min_size=1, max_size=15, unique=True)
share_values = st.one_of(
    st.integers(min_value=0, max_value=20),
    st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False),
)
share_maps = st.dictionaries(st.integers(min_value=1, max_value=500), share_values, min_size=1, max_size=12).filter(
    lambda shares: any(share > 0 for share in shares.values())
)


def balance_maps(max_people: int) -> st.SearchStrategy[dict[int, int]]:
    """Balances that add up to zero: random amounts, the last person takes the opposite of their sum."""

    def close(amounts: list[int]) -> dict[int, int]:
        closed = [*amounts, -sum(amounts)]
        return dict(zip(range(100, 100 + len(closed)), closed, strict=True))

    amounts = st.one_of(st.integers(min_value=-50_000, max_value=50_000), st.sampled_from([-3000, -1000, 1000, 3000]))
    return st.lists(amounts, min_size=0, max_size=max_people - 1).map(close)


def apply(start: Mapping[int, int], transfers: list[Transfer]) -> dict[int, int]:
    left = dict(start)
    for transfer in transfers:
        left[transfer.debtor] += transfer.amount_minor
        left[transfer.creditor] -= transfer.amount_minor
    return left


def brute_force_minimum(start: Mapping[int, int]) -> int:
    """Fewest transfers by trying every way to clear the first open balance against an opposite one."""

    def search(values: list[int], first: int) -> int:
        while first < len(values) and values[first] == 0:
            first += 1
        if first == len(values):
            return 0
        fewest = len(values)
        for other in range(first + 1, len(values)):
            if values[other] * values[first] < 0:
                values[other] += values[first]
                fewest = min(fewest, 1 + search(values, first + 1))
                values[other] -= values[first]
        return fewest

    return search([amount for amount in start.values() if amount != 0], 0)


def check_rounding(split: Split, total: int, ideal: Mapping[int, Fraction], order: list[int]) -> None:
    assert sum(split.amounts.values()) == total
    assert set(split.amounts) == set(ideal)
    for person, amount in split.amounts.items():
        assert abs(amount - ideal[person]) < 1
    above_floor = [person for person in order if person in ideal and split.amounts[person] > ideal[person] // 1]
    assert list(split.rounded_up) == above_floor


# Splits: exact to the minor unit


@quick
@given(totals, people_lists)
def test_an_equal_split_adds_up_and_the_first_listed_pay_the_leftover(total: int, people: list[int]) -> None:
    split = split_equal(total, people)
    check_rounding(split, total, {person: Fraction(total, len(people)) for person in people}, people)
    assert split.rounded_up == tuple(people[: total % len(people)])
    assert list(split.amounts) == people


@quick
@given(totals, share_maps)
def test_a_split_by_shares_adds_up_and_rounds_up_the_largest_remainders(
    total: int, shares: dict[int, Decimal | int]
) -> None:
    split = split_shares(total, shares)
    whole = sum((Fraction(share) for share in shares.values()), Fraction(0))
    ideal = {person: total * Fraction(share) / whole for person, share in shares.items() if share > 0}
    check_rounding(split, total, ideal, list(shares))
    order = list(shares)
    for up in split.rounded_up:
        for person in ideal:
            if person not in split.rounded_up:
                rank_up = (-(ideal[up] % 1), order.index(up))
                rank_other = (-(ideal[person] % 1), order.index(person))
                assert rank_up < rank_other


@quick
@given(st.dictionaries(st.integers(min_value=1, max_value=500), st.integers(min_value=0, max_value=10**6), min_size=1))
def test_exact_amounts_that_add_up_are_kept_as_given(amounts: dict[int, int]) -> None:
    total = sum(amounts.values())
    if total == 0:
        with pytest.raises(SplitError):
            split_exact(total, amounts)
        return
    split = split_exact(total, amounts)
    assert split.amounts == {person: amount for person, amount in amounts.items() if amount}
    assert split.rounded_up == ()
    with pytest.raises(SplitError, match="short"):
        split_exact(total + 1, amounts)


def test_100_split_three_ways() -> None:
    split = split_equal(100_00, [BEN, ANA, CY])
    assert split.amounts == {BEN: 33_34, ANA: 33_33, CY: 33_33}
    assert split.rounded_up == (BEN,)


def test_a_2_to_1_to_1_split() -> None:
    assert split_shares(100_00, {ANA: 2, BEN: 1, CY: 1}) == Split({ANA: 50_00, BEN: 25_00, CY: 25_00}, ())
    odd = split_shares(100_03, {ANA: 2, BEN: 1, CY: 1})  # ideal 50.015, 25.0075, 25.0075
    assert odd.amounts == {ANA: 50_01, BEN: 25_01, CY: 25_01}  # the two .75 remainders beat Ana's .5
    assert odd.rounded_up == (BEN, CY)
    tie = split_shares(100_00, {CY: 1, ANA: 1, BEN: 1})
    assert tie.amounts == {CY: 33_34, ANA: 33_33, BEN: 33_33}  # equal remainders: first listed rounds up
    assert tie.rounded_up == (CY,)


def test_decimal_shares_and_a_zero_share_that_leaves_someone_out() -> None:
    split = split_shares(90_00, {ANA: Decimal("1.5"), BEN: Decimal("0"), CY: Decimal("0.5"), DEE: 1})
    assert split.amounts == {ANA: 45_00, CY: 15_00, DEE: 30_00}


def test_exact_amounts_that_are_five_short_say_so() -> None:
    with pytest.raises(SplitError) as error:
        split_exact(100_00, {ANA: 50_00, BEN: 45_00})
    assert str(error.value) == "The exact amounts add up to 95.00, not 100.00 — 5.00 short."
    with pytest.raises(SplitError, match=r"2\.50 too much"):
        split_exact(100_00, {ANA: 60_00, BEN: 42_50})


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (lambda: split_equal(0, [ANA]), "nothing to split"),
        (lambda: split_equal(-5_00, [ANA]), "nothing to split"),
        (lambda: split_equal(10_00, []), "Nobody"),
        (lambda: split_equal(10_00, [ANA, BEN, ANA]), "twice"),
        (lambda: split_shares(10_00, {}), "Nobody"),
        (lambda: split_shares(10_00, {ANA: 0, BEN: Decimal(0)}), "Every share is zero"),
        (lambda: split_shares(10_00, {ANA: 2, BEN: -1}), "negative"),
        (lambda: split_shares(10_00, {ANA: Decimal("NaN")}), "must be a number"),
        (lambda: split_exact(10_00, {}), "Nobody"),
        (lambda: split_exact(10_00, {ANA: 12_00, BEN: -2_00}), "negative"),
    ],
)
def test_splits_that_cannot_be_right_are_refused(split: Callable[[], Split], message: str) -> None:
    with pytest.raises(SplitError, match=message):
        split()


def test_floats_are_not_money() -> None:
    with pytest.raises(TypeError):
        split_equal(10.0, [ANA])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        split_shares(10_00, {ANA: 0.5})  # type: ignore[dict-item]


# Balances and settling up


def test_balances_net_out_what_each_person_paid_and_owes() -> None:
    entries = [
        (ANA, 90_00, split_equal(90_00, [ANA, BEN, CY]).amounts),
        (BEN, 30_00, split_exact(30_00, {CY: 30_00}).amounts),
        (DEE, 10_00, {DEE: 10_00}),
    ]
    assert balances(entries) == {ANA: 60_00, BEN: 0, CY: -60_00, DEE: 0}
    with pytest.raises(SplitError, match="must add up"):
        balances([(ANA, 90_00, {BEN: 40_00})])


def test_a_four_person_trip_settles_in_three_transfers() -> None:
    entries = [
        (ANA, 400_00, split_equal(400_00, [ANA, BEN, CY, DEE]).amounts),  # the hotel
        (BEN, 260_00, split_equal(260_00, [ANA, BEN, CY, DEE]).amounts),  # the tickets
        (CY, 100_00, split_equal(100_00, [ANA, BEN, CY]).amounts),  # dinner, Dee skipped it
    ]
    net = balances(entries)
    assert net == {ANA: 201_66, BEN: 61_67, CY: -98_33, DEE: -165_00}
    assert settle(net) == [
        Transfer(debtor=CY, creditor=ANA, amount_minor=36_66),
        Transfer(debtor=CY, creditor=BEN, amount_minor=61_67),
        Transfer(debtor=DEE, creditor=ANA, amount_minor=165_00),
    ]


def test_settling_finds_pairs_that_cancel_where_greedy_would_not() -> None:
    # Largest-pays-largest would take four transfers here; 7 ↔ -7 and 2 + 6 ↔ -8 take three.
    net = {1: 70_00, 2: 20_00, 3: 60_00, 4: -70_00, 5: -80_00}
    assert settle(net) == [Transfer(4, 1, 70_00), Transfer(5, 2, 20_00), Transfer(5, 3, 60_00)]


def test_balances_that_do_not_add_up_to_zero_cannot_be_settled() -> None:
    with pytest.raises(ValueError, match="not zero"):
        settle({ANA: 10_00, BEN: -9_99})
    assert settle({}) == []
    assert settle({ANA: 0, BEN: 0}) == []


@quick
@given(balance_maps(max_people=EXACT_SETTLE_LIMIT + 8))
def test_settling_zeroes_every_balance_in_at_most_n_minus_one_transfers(net: dict[int, int]) -> None:
    transfers = settle(net)
    assert all(amount == 0 for amount in apply(net, transfers).values())
    open_balances = sum(1 for amount in net.values() if amount)
    assert len(transfers) <= max(open_balances - 1, 0)
    assert all(transfer.amount_minor > 0 for transfer in transfers)
    assert transfers == sorted(transfers, key=lambda t: (t.debtor, t.creditor))
    assert settle(dict(reversed(net.items()))) == transfers


@quick
@given(balance_maps(max_people=6))
def test_settling_a_small_group_takes_the_fewest_possible_transfers(net: dict[int, int]) -> None:
    assert len(settle(net)) == brute_force_minimum(net)
