"""Multi-turn scenarios scored on what the database holds afterwards, each said in several ways (pass^1, pass^k).

A scenario is one JSON object per line of `datasets/scenarios.jsonl`:
`{"id", "about", "group": bool, "variants": [[turn, …], …], "expect": {…}}`. A turn is what `ana` types, or
`"ben> text"` for another person; in a group scenario everyone speaks in one group chat. `expect` says what
must be stored for `ana` once the turns ran (keys in `CHECKS`); anything not listed is not checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.messages import ConversationKey, Inbound
from assistant.models import (
    Artist,
    Booking,
    ChannelIdentity,
    Event,
    Expense,
    ExpenseShare,
    Follow,
    GroupMember,
    Person,
    PriceWatch,
    TripGroup,
    Venue,
)

SCENARIOS = Path(__file__).resolve().parent / "datasets" / "scenarios.jsonl"
MAIN = "ana"
SPEAKER = re.compile(r"^([a-z]+)>\s*")
CHANNEL = "eval"


@dataclass(frozen=True)
class Scenario:
    """A goal a person reaches over several turns, and what the database must hold afterwards."""

    id: str
    variants: tuple[tuple[str, ...], ...]
    expect: dict[str, Any]
    group: bool = False
    about: str = ""


def load_scenarios(path: Path = SCENARIOS) -> list[Scenario]:
    """Read the scenarios, skipping blank and // lines; each needs at least three variants."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        raw = json.loads(line)
        unknown = set(raw["expect"]) - set(CHECKS)
        if len(raw["variants"]) < 3 or unknown:
            raise ValueError(f"{path}:{number}: needs 3+ variants and known checks (unknown: {sorted(unknown)})")
        variants = tuple(tuple(v) for v in raw["variants"])
        found.append(Scenario(raw["id"], variants, raw["expect"], bool(raw.get("group")), raw.get("about", "")))
    return found


def _person(session: Session, user: str) -> Person | None:
    return session.scalars(
        select(Person)
        .join(ChannelIdentity)
        .where(ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id == user)
    ).first()


def _show(session: Session, event_id: int | None) -> dict[str, str]:
    if event_id is None:
        return {}
    row = session.execute(
        select(Artist.name, Venue.city)
        .join(Event, Event.artist_id == Artist.id)
        .join(Venue)
        .where(Event.id == event_id)
    ).one()
    return {"artist": row[0], "city": row[1]}


def _matches(spec: dict[str, Any], got: dict[str, Any]) -> bool:
    return all(str(got.get(k, "")).casefold() == str(v).casefold() for k, v in spec.items())


def _same_rows(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> str:
    """ "" when every expected row is matched by its own stored row and nothing else is stored, else why not."""
    left = list(got)
    for spec in expected:
        hit = next((row for row in left if _matches(spec, row)), None)
        if hit is None:
            return f"expected {spec}, stored {got}"
        left.remove(hit)
    return f"also stored {left}" if left else ""


def _follows(session: Session, person: Person, users: dict[int, str], expected: Any) -> str:
    names = session.scalars(select(Artist.name).join(Follow).where(Follow.person_id == person.id)).all()
    wanted = {str(n).casefold() for n in expected}
    return "" if {n.casefold() for n in names} == wanted else f"follows {sorted(names)}, expected {sorted(expected)}"


def _watches(session: Session, person: Person, users: dict[int, str], expected: Any) -> str:
    rows = session.scalars(select(PriceWatch).where(PriceWatch.person_id == person.id, PriceWatch.active)).all()
    got = [
        {**_show(session, w.event_id), "kind": w.kind, "target": _amount(w.target_minor), "currency": w.currency}
        for w in rows
    ]
    return _same_rows(expected, got)


def _amount(minor: int) -> int | float:
    """Cents as the amount a person says: 140, or 140.5."""
    return minor // 100 if minor % 100 == 0 else minor / 100


def _bookings(session: Session, person: Person, users: dict[int, str], expected: Any) -> str:
    rows = session.scalars(select(Booking).where(Booking.person_id == person.id, Booking.status != "cancelled")).all()
    got = [{**_show(session, b.event_id), "travellers": b.travellers} for b in rows]
    return _same_rows(expected, got)


def _cancelled(session: Session, person: Person, users: dict[int, str], expected: Any) -> str:
    rows = session.scalars(select(Booking).where(Booking.person_id == person.id, Booking.status == "cancelled")).all()
    return "" if len(rows) == int(expected) else f"{len(rows)} cancelled bookings, expected {expected}"


def _home_city(session: Session, person: Person, users: dict[int, str], expected: Any) -> str:
    return "" if (person.home_city or "").casefold() == str(expected).casefold() else f"home city {person.home_city}"


def _currency(session: Session, person: Person, users: dict[int, str], expected: Any) -> str:
    return "" if person.currency.casefold() == str(expected).casefold() else f"currency {person.currency}"


def _group_of(session: Session, person: Person) -> TripGroup | None:
    return session.scalars(
        select(TripGroup).join(GroupMember).where(GroupMember.person_id == person.id).order_by(TripGroup.id.desc())
    ).first()


def _members(session: Session, person: Person, users: dict[int, str], expected: Any) -> str:
    group = _group_of(session, person)
    if group is None:
        return "no group"
    ids = session.scalars(select(GroupMember.person_id).where(GroupMember.group_id == group.id)).all()
    names = sorted(users.get(i, f"#{i}") for i in ids)
    return "" if names == sorted(expected) else f"members {names}, expected {sorted(expected)}"


def _expenses(session: Session, person: Person, users: dict[int, str], expected: Any) -> str:
    group = _group_of(session, person)
    if group is None:
        return "no group"
    rows = session.scalars(
        select(Expense).where(Expense.group_id == group.id, Expense.kind == "expense", Expense.status == "added")
    ).all()
    got = []
    for e in rows:
        shares = session.execute(
            select(ExpenseShare.person_id, ExpenseShare.amount_minor).where(ExpenseShare.expense_id == e.id)
        ).all()
        owed = {users.get(pid, f"#{pid}"): minor / 100 for pid, minor in shares if minor}
        got.append({"amount": e.amount_minor / 100, "paid_by": users.get(e.paid_by, ""), "shares": owed})
    left = list(got)
    for spec in expected:
        hit = next((g for g in left if _expense_matches(spec, g)), None)
        if hit is None:
            return f"expected {spec}, stored {got}"
        left.remove(hit)
    return f"also stored {left}" if left else ""


def _expense_matches(spec: dict[str, Any], got: dict[str, Any]) -> bool:
    if abs(float(spec["amount"]) - got["amount"]) > 0.001:
        return False
    if "paid_by" in spec and spec["paid_by"] != got["paid_by"]:
        return False
    shares = spec.get("shares")
    return shares is None or (
        set(shares) == set(got["shares"]) and all(abs(float(v) - got["shares"][k]) <= 0.011 for k, v in shares.items())
    )


Check = Callable[[Session, Person, dict[int, str], Any], str]
CHECKS: dict[str, Check] = {
    "follows": _follows,
    "watches": _watches,
    "bookings": _bookings,
    "cancelled": _cancelled,
    "home_city": _home_city,
    "currency": _currency,
    "members": _members,
    "expenses": _expenses,
}


async def play(scenario: Scenario, variant: int, roadie: Any) -> tuple[str, list[str]]:
    """Run one variant in fresh conversations: ("" when the database holds what was expected, else why; the turns)."""
    run = f"sc-{scenario.id}-{variant}"
    chat = run
    replies: list[str] = []
    for turn in scenario.variants[variant]:
        speaker = SPEAKER.match(turn)
        who, text = (speaker.group(1), turn[speaker.end() :]) if speaker else (MAIN, turn)
        user = f"{run}-{who}"
        key = ConversationKey(channel=CHANNEL, chat_id=chat if scenario.group else user, user_id=user)
        inbound = Inbound(key=key, text=text, display_name=who, in_group=scenario.group)
        reply = await roadie.service.handle(inbound)
        replies.append(f"{who}> {text}\n{reply.text if reply else ''}")
    with roadie.services.db.session() as session:
        people = session.execute(
            select(ChannelIdentity.person_id, ChannelIdentity.external_id).where(
                ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id.like(f"{run}-%")
            )
        ).all()
        users = {pid: external.removeprefix(f"{run}-") for pid, external in people}
        person = _person(session, f"{run}-{MAIN}")
        if person is None:
            return "ana never spoke", replies
        problems = [
            why for name, want in scenario.expect.items() if (why := CHECKS[name](session, person, users, want))
        ]
    return "; ".join(problems), replies


def pass_hat_k(passed: int, tried: int, k: int) -> float:
    """The chance that k variants drawn from `tried` (of which `passed` pass) all pass (τ-bench's pass^k)."""
    return comb(passed, k) / comb(tried, k) if tried >= k else 0.0


async def run_scenarios(scenarios: list[Scenario], roadie: Any, k: int = 3) -> dict[str, Any]:
    """Play every variant of every scenario; pass^1 and pass^k over scenarios, and what failed."""
    failures: list[dict[str, Any]] = []
    rows = []
    for scenario in scenarios:
        passed = 0
        for variant in range(len(scenario.variants)):
            why, replies = await play(scenario, variant, roadie)
            passed += not why
            if why:
                failures.append({"id": f"{scenario.id}#{variant + 1}", "turns": replies, "why": why})
        rows.append((passed, len(scenario.variants)))
    count = len(rows)
    return {
        "scenarios": count,
        "runs": sum(t for _, t in rows),
        "k": k,
        "pass_1": round(sum(pass_hat_k(p, t, 1) for p, t in rows) / count, 4) if count else 0.0,
        "pass_k": round(sum(pass_hat_k(p, t, k) for p, t in rows) / count, 4) if count else 0.0,
        "failures": failures,
    }
