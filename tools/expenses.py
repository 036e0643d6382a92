"""Group money: who paid what, how it is shared, balances, and settling up with the fewest transfers."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from langchain.tools import ToolRuntime
from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.context import TurnContext
from assistant.messages import Button, Reply
from assistant.models import Booking, Expense, ExpenseShare, TripGroup
from assistant.money import RATES_PER_EUR, convert, format_money
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools import confirmation, ledger
from tools.common import log_event, new_reference, normal_reference
from tools.group_members import Member, find_member, members, my_group, tell_group

MAX_EXPENSE_MINOR = 10_000_000  # 100,000.00 in the group's currency
SplitMode = Literal["equal", "shares", "exact"]


def to_minor(amount: float | str | Decimal, what: str = "amount") -> int:
    """An amount as people write it, in exact minor units; a clear answer when it is not a usable amount."""
    try:
        value = Decimal(str(amount).replace(",", "")).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        value = Decimal("NaN")
    if not value.is_finite():  # "nan" and "inf" read as numbers, but are no amount
        raise UserFacingError(f"I couldn't read **{amount}** as an {what} — try something like 45.50.")
    return int(value * 100)


def group_balances(session: Session, group: TripGroup) -> dict[int, int]:
    """Net balance per member in the group's currency: positive is owed money, negative owes."""
    shares: dict[int, dict[int, int]] = defaultdict(dict)
    for expense_id, person_id, amount in session.execute(
        select(ExpenseShare.expense_id, ExpenseShare.person_id, ExpenseShare.amount_minor)
        .join(Expense, Expense.id == ExpenseShare.expense_id)
        .where(Expense.group_id == group.id, Expense.status == "added")
    ):
        shares[expense_id][person_id] = amount
    entries = [
        (e.paid_by, e.amount_minor, shares.get(e.id, {}))
        for e in session.scalars(select(Expense).where(Expense.group_id == group.id, Expense.status == "added"))
    ]
    result = ledger.balances(entries)
    for member in members(session, group):
        result.setdefault(member.person_id, 0)
    return result


def balance_lines(session: Session, ctx: TurnContext, group: TripGroup) -> list[str]:
    """The group's balances as lines for a member to read (nothing before the first expense)."""
    spent = session.scalars(select(Expense.id).where(Expense.group_id == group.id, Expense.status == "added")).first()
    if spent is None:
        return []
    names = {m.person_id: m.name for m in members(session, group)}
    owed = group_balances(session, group)
    if not any(owed.values()):
        return ["Money: everyone is square."]
    lines = [f"Balances ({group.currency}):"]
    for person_id, amount in sorted(owed.items(), key=lambda kv: -kv[1]):
        name = names.get(person_id, "a former member")
        if amount > 0:
            lines.append(f"- {name} is owed {format_money(amount, group.currency)}")
        elif amount < 0:
            lines.append(f"- {name} owes {format_money(-amount, group.currency)}")
        else:
            lines.append(f"- {name} is square")
    return lines


def _split(
    total: int,
    people: list[Member],
    mode: SplitMode,
    shares: dict[str, float] | None,
    group: TripGroup,
    session: Session,
    currency: str,
) -> ledger.Split:
    """The split the person asked for, over `people` (already without anyone excluded)."""
    ids = [m.person_id for m in people]
    try:
        if mode == "equal":
            return ledger.split_equal(total, ids)
        named = {find_member(session, group, name).person_id: value for name, value in (shares or {}).items()}
        if mode == "shares":
            weights: dict[int, Decimal | int] = {}
            for person_id in ids:
                weight = Decimal(str(named.get(person_id, 1)))
                if weight < 0:
                    raise UserFacingError("Shares can't be negative — give each person 0 or more shares.")
                weights[person_id] = weight
            return ledger.split_shares(total, weights)
        exact = {person_id: convert(to_minor(named.get(person_id, 0)), currency, group.currency) for person_id in ids}
        if any(v < 0 for v in exact.values()):
            raise UserFacingError("Amounts can't be negative.")
        return ledger.split_exact(total, exact)
    except ledger.SplitError as wrong:
        raise UserFacingError(f"That split doesn't work: {wrong}") from None


def _describe(expense: Expense, shares: dict[int, int], names: dict[int, str]) -> str:
    money = expense.currency
    parts = ", ".join(f"{names.get(p, '?')} {format_money(a, money)}" for p, a in shares.items() if a)
    return f"**{format_money(expense.amount_minor, money)}** for {expense.description or 'the trip'}, paid by {names.get(expense.paid_by, '?')} — {parts}"


@roadie_tool(
    summary="add something a member paid for the group, split equally, by shares, exactly, or excluding someone",
    write=True,
    examples=(
        "I paid €120 for the Airbnb, split equally",
        "add an expense: 90 euros dinner, excluding Dana",
        "Ben paid £45.50 for the taxi",
        "I paid 60 for drinks, Ana 2 shares, Ben 1, Cy 1",
        "split the €200 hotel deposit I paid: Ana 80, Ben 60, Cy 60",
        "add 30 for snacks paid by Cy",
        "we spent 75 on the train, I paid, split between everyone",
        "log a group expense of 50 euros for petrol",
        "I covered the tickets, 150 euros",
        "pagué 40 euros por la cena, a partes iguales",
        "ich habe 80 Euro für das Hotel bezahlt",
        "j'ai payé 35 euros pour le taxi",
        "paguei 20 euros pelo almoço",
    ),
)
def add_expense(
    runtime: ToolRuntime[Any, Any],
    amount: float | None = None,
    currency: str | None = None,
    description: str | None = None,
    paid_by: str | None = None,
    split: SplitMode = "equal",
    shares: dict[str, float] | None = None,
    exclude: list[str] | None = None,
    code: str | None = None,
    expense: str | None = None,
    confirm: bool = False,
) -> ToolAnswer:
    """Add an expense to the trip group. Two steps: call without confirm to ask the person; after they say yes, call again with confirm=true and the expense reference.

    Amounts are kept exactly in the group's currency (converted at Roadie's fixed reference rates
    when paid in another); an amount that does not divide evenly gives the extra cents to the
    first members and says so.

    Args:
        amount: What was paid, e.g. 120 or 45.50.
        currency: The currency it was paid in (EUR, GBP, USD…); defaults to the group's.
        description: What it was for, e.g. "Airbnb".
        paid_by: The member who paid, by name; defaults to the person speaking.
        split: "equal" (default), "shares" (weights per member) or "exact" (amounts per member).
        shares: For "shares", weights by member name (members not named get 1); for "exact", amounts by name.
        exclude: Members who are not part of this expense, by name.
        code: The group's join code, if the person is in several groups.
        expense: The reference of the expense being confirmed, e.g. "E-7KQ2MX".
        confirm: True only when the person has just said yes to adding this expense.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    with ctx.services.db.write_session() as session:
        if confirm or expense:
            reference = (
                normal_reference(expense) if expense else confirmation.pending_target(session, ctx, "add_expense")
            )
            pending = (
                session.scalars(
                    select(Expense).where(Expense.reference == reference, Expense.created_by == ctx.caller.person_id)
                ).first()
                if reference
                else None
            )
            if pending is not None and pending.status == "added":
                return ToolAnswer(f"Expense {pending.reference} is already in the group's balances.")
            if pending is not None and confirm and confirmation.claim(session, ctx, "add_expense", pending.reference):
                pending.status = "added"
                group = session.get_one(TripGroup, pending.group_id)
                names = {m.person_id: m.name for m in members(session, group)}
                shares_now = dict(
                    session.execute(
                        select(ExpenseShare.person_id, ExpenseShare.amount_minor).where(
                            ExpenseShare.expense_id == pending.id
                        )
                    ).all()
                )
                text = _describe(pending, shares_now, names)
                tell_group(
                    session,
                    ctx,
                    group,
                    "expense_added",
                    Reply(f"New expense in **{group.name}**: {text}."),
                    f"expense:{pending.id}",
                )
                log_event(
                    session, ctx, "expense", "add_expense", {"group": group.join_code, "expense": pending.reference}
                )
                return ToolAnswer(
                    f"Added {text}.",
                    buttons=[Button("Settle up", "settle up"), Button("Group status", "group status")],
                    data={"expense": pending.reference, "added": True},
                )
            if amount is None:
                raise UserFacingError(
                    'There\'s no expense waiting for a yes — tell me what was paid, e.g. "I paid €120 for the Airbnb".'
                )
        if amount is None:
            raise UserFacingError(
                'How much was it? e.g. "I paid €120 for the Airbnb, split equally".', data={"needs": "amount"}
            )
        group = my_group(session, ctx, code)
        paid_in = (currency or group.currency).strip().upper()
        if paid_in not in RATES_PER_EUR:
            raise UserFacingError(
                f"I can't keep accounts in **{currency}** — use one of {', '.join(sorted(RATES_PER_EUR))}."
            )
        original = to_minor(amount)
        if original <= 0:
            raise UserFacingError('An expense has to be more than zero — to pay someone back, say "settle up".')
        total = convert(original, paid_in, group.currency)
        if total > MAX_EXPENSE_MINOR:
            raise UserFacingError(
                f"That's more than {format_money(MAX_EXPENSE_MINOR, group.currency)} in one expense — please check the amount."
            )
        everyone = members(session, group)
        payer = (
            find_member(session, group, paid_by)
            if paid_by
            else next((m for m in everyone if m.person_id == ctx.caller.person_id), None)
        )
        if payer is None:
            raise UserFacingError("Only members can add expenses to this group.")
        left_out = {find_member(session, group, name).person_id for name in (exclude or [])}
        sharing = [m for m in everyone if m.person_id not in left_out]
        if not sharing:
            raise UserFacingError("That leaves nobody to share the expense — who should pay for it?")
        mode: SplitMode = split if split in ("equal", "shares", "exact") else "equal"
        result = _split(total, sharing, mode, shares, group, session, paid_in)
        row = Expense(
            reference=new_reference("E"),
            group_id=group.id,
            kind="expense",
            paid_by=payer.person_id,
            amount_minor=total,
            currency=group.currency,
            description=(description or "").strip()[:200],
            split=mode,
            status="pending",
            created_by=ctx.caller.person_id,
            created_at=now,
            details={"paid_minor": original, "paid_currency": paid_in},
        )
        session.add(row)
        session.flush()
        session.add_all(ExpenseShare(expense_id=row.id, person_id=p, amount_minor=a) for p, a in result.amounts.items())
        confirmation.ask(session, ctx, "add_expense", row.reference)
        names = {m.person_id: m.name for m in everyone}
        lines = [f"Add {_describe(row, result.amounts, names)}?"]
        if paid_in != group.currency:
            lines.append(
                f"({format_money(original, paid_in)} is {format_money(total, group.currency)} at Roadie's reference rate; the group keeps accounts in {group.currency}.)"
            )
        if result.rounded_up:
            lines.append(
                f"It doesn't split evenly, so {', '.join(names[p] for p in result.rounded_up)} "
                f"{'pays' if len(result.rounded_up) == 1 else 'pay'} one cent more."
            )
        if left_out:
            lines.append(f"Not included: {', '.join(names[p] for p in left_out)}.")
        lines.append("Reply **yes** to add it or **no** to leave it.")
        return ToolAnswer(
            "\n".join(lines),
            buttons=[Button("Yes, add it", "yes"), Button("No", "no")],
            data={
                "awaiting_confirmation": {"tool": "add_expense", "args": {"expense": row.reference}},
                "expense": row.reference,
            },
        )


def _fingerprint(group: TripGroup, transfers: list[ledger.Transfer]) -> str:
    raw = ";".join(f"{t.debtor}>{t.creditor}:{t.amount_minor}" for t in transfers)
    return f"S-{group.id}-" + hashlib.sha256(raw.encode()).hexdigest()[:12]


@roadie_tool(
    summary="settle up a trip group: balances and the fewest payments that square everyone",
    write=True,
    examples=(
        "settle up",
        "who owes whom?",
        "how much do I owe?",
        "let's square up",
        "what are the balances",
        "work out who pays who",
        "we're even now, settle the group",
        "cuentas claras: quién debe a quién",
        "wer schuldet wem?",
        "qui doit combien à qui ?",
        "quem deve a quem?",
    ),
)
def settle_up(runtime: ToolRuntime[Any, Any], code: str | None = None, confirm: bool = False) -> ToolAnswer:
    """Show the group's balances and the fewest transfers that settle them; with confirm=true after the person's yes, record those transfers as paid.

    Args:
        code: The group's join code, if the person is in several groups.
        confirm: True only when the person has just said yes to recording the transfers as paid.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    with ctx.services.db.write_session() as session:
        group = my_group(session, ctx, code)
        owed = group_balances(session, group)
        transfers = ledger.settle(owed)
        names = {m.person_id: m.name for m in members(session, group)}
        if not transfers:
            return ToolAnswer(f"Everyone in **{group.name}** is square — nobody owes anything.", data={"transfers": []})
        plan = [
            f"- {names.get(t.debtor, '?')} pays {names.get(t.creditor, '?')} {format_money(t.amount_minor, group.currency)}"
            for t in transfers
        ]
        target = _fingerprint(group, transfers)
        if confirm and confirmation.claim(session, ctx, "settle_up", target):
            for t in transfers:
                row = Expense(
                    reference=new_reference("E"),
                    group_id=group.id,
                    kind="transfer",
                    paid_by=t.debtor,
                    amount_minor=t.amount_minor,
                    currency=group.currency,
                    description=f"{names.get(t.debtor, '?')} paid {names.get(t.creditor, '?')} back",
                    split="exact",
                    status="added",
                    created_by=ctx.caller.person_id,
                    created_at=now,
                    details={},
                )
                session.add(row)
                session.flush()
                session.add(ExpenseShare(expense_id=row.id, person_id=t.creditor, amount_minor=t.amount_minor))
            summary = "\n".join(plan)
            tell_group(
                session, ctx, group, "settled", Reply(f"**{group.name}** is settled up:\n{summary}"), f"settle:{target}"
            )
            log_event(session, ctx, "settle", "settle_up", {"group": group.join_code, "transfers": len(transfers)})
            return ToolAnswer(
                f"Recorded as paid — **{group.name}** is square:\n{summary}",
                data={"transfers": len(transfers), "settled": True},
            )
        confirmation.ask(session, ctx, "settle_up", target)
        lines = [
            *balance_lines(session, ctx, group),
            f"To settle up ({len(transfers)} payment{'s' if len(transfers) > 1 else ''}):",
            *plan,
        ]
        lines.append(
            "Reply **yes** once these are paid and I'll record them, or **no** to leave the balances as they are."
        )
        return ToolAnswer(
            "\n".join(lines),
            buttons=[Button("Yes, they're paid", "yes"), Button("Not yet", "no")],
            data={
                "transfers": [
                    {"from": names.get(t.debtor), "to": names.get(t.creditor), "amount_minor": t.amount_minor}
                    for t in transfers
                ],
                "awaiting_confirmation": {"tool": "settle_up", "args": {"code": group.join_code}},
            },
        )


def record_booking(session: Session, ctx: TurnContext, group: TripGroup, booking: Booking) -> dict[int, int]:
    """The organiser paid for the group booking: each going member's share, recorded as an expense."""
    going = [m for m in members(session, group) if m.confirmed] or [
        m for m in members(session, group) if m.person_id == group.organiser_id
    ]
    total = convert(booking.total_minor, booking.currency, group.currency)
    result = ledger.split_equal(total, [m.person_id for m in going])
    row = Expense(
        reference=new_reference("E"),
        group_id=group.id,
        kind="booking",
        paid_by=group.organiser_id,
        amount_minor=total,
        currency=group.currency,
        description=f"trip booking {booking.reference}",
        split="equal",
        status="added",
        booking_id=booking.id,
        created_by=ctx.caller.person_id,
        created_at=ctx.services.clock.now(),
        details={},
    )
    session.add(row)
    session.flush()
    session.add_all(ExpenseShare(expense_id=row.id, person_id=p, amount_minor=a) for p, a in result.amounts.items())
    return result.amounts
