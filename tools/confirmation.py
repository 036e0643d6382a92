"""Confirming writes: Roadie asks, the person says yes in a later message, and the write runs once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from assistant.context import TurnContext
from assistant.models import PendingAction
from assistant.yesno import is_affirmative

CONFIRM_WINDOW = timedelta(minutes=10)


def ask(session: Session, ctx: TurnContext, tool: str, target: str) -> None:
    """Record that Roadie asked this person, in this conversation, to confirm `tool` on `target`."""
    now = ctx.services.clock.now()
    pending = PendingAction(
        person_id=ctx.caller.person_id,
        conversation=ctx.caller.conversation,
        tool=tool,
        target=target,
        created_at=now,
        expires_at=now + CONFIRM_WINDOW,
    )
    session.add(pending)
    session.flush()
    ctx.asked.add(pending.id)


def pending_target(session: Session, ctx: TurnContext, tool: str) -> str | None:
    """What the person was last asked to confirm with `tool` in this conversation (if still open)."""
    now = ctx.services.clock.now()
    return session.scalars(
        select(PendingAction.target)
        .where(
            PendingAction.person_id == ctx.caller.person_id,
            PendingAction.conversation == ctx.caller.conversation,
            PendingAction.tool == tool,
            PendingAction.used_at.is_(None),
            PendingAction.expires_at > now,
        )
        .order_by(PendingAction.id.desc())
    ).first()


def claim(session: Session, ctx: TurnContext, tool: str, target: str) -> bool:
    """Use up the confirmation for `target`: true once, only when the person's own message said yes.

    The question must come from an earlier turn: a model that asks and confirms in the same turn
    (after a "yes" the person said to something else) confirms nothing.
    """
    if not is_affirmative(ctx.message):
        return False
    now = ctx.services.clock.now()
    claimed = session.execute(
        update(PendingAction)
        .where(
            PendingAction.person_id == ctx.caller.person_id,
            PendingAction.conversation == ctx.caller.conversation,
            PendingAction.tool == tool,
            PendingAction.target == target,
            PendingAction.used_at.is_(None),
            PendingAction.expires_at > now,
            PendingAction.id.not_in(ctx.asked),
        )
        .values(used_at=now)
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]
