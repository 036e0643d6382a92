"""The outbox: every message Roadie sends first (group notices, tour alerts, price drops, reminders, digests).

A message is queued in the caller's own transaction with `enqueue` (so it exists exactly when the change
it announces does) and leaves later through `deliver_due`, which a background task or the scheduler calls.

Delivery rules:
- A row is claimed before it is sent (a conditional UPDATE queued → sending, `FOR UPDATE SKIP LOCKED` on
  PostgreSQL), so two dispatchers never send the same message twice.
- A refusal from the channel (opted out, WhatsApp window closed) is final: the row becomes "refused" with
  the channel's reason. Any other error is retried after 1, 2, 4 and 8 minutes, then the row is "failed".
- Messages for a channel that is not running stay queued until it is (the log says so once per channel).
- A dispatcher that dies mid-send leaves its rows in "sending"; after `CLAIM_LEASE` they are claimed again
  (that message may then arrive twice, but it is never silently lost).

This module does not import `channels/`: the channels arrive as `Sender`s, and the caller says which
exception means "refused" (`refusal=SendRefused`, passed in by main.py). Recognising it by class name
would work too, but would break silently on a rename; a parameter is checked by mypy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from assistant.db import Database
from assistant.messages import Button, Poll, Reply
from assistant.models import ChannelIdentity, OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_AFTER = timedelta(minutes=1)  # doubled after each failed attempt: 1, 2, 4, 8 minutes
CLAIM_LEASE = timedelta(minutes=10)  # how long a claimed row is left alone before it counts as abandoned
UNREACHABLE = "no channel the person can be reached on"

# Channels already reported as not running, so the log says it once (until the channel runs again).
_told_not_running: set[str] = set()


class Sender(Protocol):
    """A running channel as the outbox sees it: a name and a proactive `send`."""

    name: str

    async def send(self, address: str, reply: Reply) -> None: ...


@dataclass
class DeliveryReport:
    """What one `deliver_due` run did; `waiting` counts due messages per channel that is not running."""

    sent: int = 0
    refused: int = 0
    failed: int = 0
    retrying: int = 0
    waiting: dict[str, int] = field(default_factory=dict)

    @property
    def handled(self) -> int:
        """Messages claimed and settled in this run (sent, refused, failed or put back for a retry)."""
        return self.sent + self.refused + self.failed + self.retrying


def reachable(session: Session, person_id: int) -> tuple[str, str] | None:
    """(channel, address) of the person's most recently seen identity that has not said STOP; None if none."""
    row = session.execute(
        select(ChannelIdentity.channel, ChannelIdentity.external_id)
        .where(ChannelIdentity.person_id == person_id, ChannelIdentity.opted_out_at.is_(None))
        .order_by(ChannelIdentity.last_seen_at.desc().nulls_last(), ChannelIdentity.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def enqueue(
    session: Session,
    *,
    person_id: int | None,
    kind: str,
    reply: Reply,
    dedupe_key: str,
    due_at: datetime,
    channel: str | None = None,
    address: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Queue `reply` for a person in the caller's transaction; True when it was queued to go out.

    With neither `channel` nor `address`, the person is reached where `reachable` says; with only
    `channel`, on their identity there that has not said STOP; with both (a group chat), exactly there.
    A person who cannot be reached gets a "refused" row that says why, and False.
    A `dedupe_key` seen before queues nothing and returns False, without disturbing the transaction
    (INSERT … ON CONFLICT DO NOTHING). `now` is when it was queued (defaults to `due_at`).
    """
    if address is None:
        if person_id is None:
            raise ValueError("a message without a person needs both channel and address")
        where = _identity_on(session, person_id, channel) if channel else reachable(session, person_id)
        channel, address = where or (channel or "", "")
    elif channel is None:
        raise ValueError("an address needs its channel")
    values: dict[str, Any] = {
        "dedupe_key": dedupe_key,
        "person_id": person_id,
        "channel": channel,
        "address": address,
        "kind": kind,
        "payload": payload_of(reply),
        "status": "queued" if address else "refused",
        "attempts": 0,
        "last_error": None if address else UNREACHABLE,
        "due_at": due_at,
        "created_at": now or due_at,
    }
    inserted = _insert_once(session, values)
    if inserted and not address:
        log.info("outbox: %s for person %s not queued: %s", kind, person_id, UNREACHABLE)
    return inserted and bool(address)


@dataclass(frozen=True)
class Outgoing:
    """One message for `enqueue_many`: to whom, where (an empty address: nobody reachable), what, and when."""

    person_id: int | None
    kind: str
    reply: Reply
    dedupe_key: str
    due_at: datetime
    channel: str
    address: str


def enqueue_many(session: Session, messages: Sequence[Outgoing], now: datetime) -> int:
    """Queue many messages (a tour date for 10,000 followers) in a few statements; keys seen before are skipped.

    Returns how many were queued to go out. Unreachable people get "refused" rows that say why, as with `enqueue`.
    """
    taken: set[str] = set()
    keys = list(dict.fromkeys(m.dedupe_key for m in messages))
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        taken.update(session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(part))))
    fresh: dict[str, Outgoing] = {}
    for message in messages:
        if message.dedupe_key not in taken:
            fresh.setdefault(message.dedupe_key, message)
    rows = [
        {
            "dedupe_key": m.dedupe_key,
            "person_id": m.person_id,
            "channel": m.channel,
            "address": m.address,
            "kind": m.kind,
            "payload": payload_of(m.reply),
            "status": "queued" if m.address else "refused",
            "attempts": 0,
            "last_error": None if m.address else UNREACHABLE,
            "due_at": m.due_at,
            "created_at": now,
        }
        for m in fresh.values()
    ]
    for start in range(0, len(rows), 500):
        session.execute(_insert_statement(session), rows[start : start + 500])
    return sum(1 for m in fresh.values() if m.address)


def _insert_statement(session: Session) -> postgresql.Insert | sqlite.Insert:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING for this database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"])
    if dialect == "sqlite":
        return sqlite.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"])
    raise NotImplementedError(f"the outbox runs on SQLite and PostgreSQL, not {dialect}")


def _insert_once(session: Session, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING: True when the row was added, False when the key was taken."""
    # RETURNING rather than rowcount: psycopg reports -1 rows for an INSERT that did nothing.
    statement = _insert_statement(session)
    return session.execute(statement.values(values).returning(OutboxMessage.id)).first() is not None


def _identity_on(session: Session, person_id: int, channel: str) -> tuple[str, str] | None:
    row = session.execute(
        select(ChannelIdentity.external_id)
        .where(
            ChannelIdentity.person_id == person_id,
            ChannelIdentity.channel == channel,
            ChannelIdentity.opted_out_at.is_(None),
        )
        .order_by(ChannelIdentity.last_seen_at.desc().nulls_last(), ChannelIdentity.id.desc())
        .limit(1)
    ).first()
    return (channel, row[0]) if row else None


def payload_of(reply: Reply) -> dict[str, Any]:
    """The JSON kept for a reply: text, buttons, poll, image, document and a closed poll (not the tool calls)."""
    return {
        "text": reply.text,
        "buttons": [{"label": b.label, "value": b.value} for b in reply.buttons],
        "poll": (
            {"poll_id": reply.poll.poll_id, "question": reply.poll.question, "options": list(reply.poll.options)}
            if reply.poll
            else None
        ),
        "image": reply.image,
        "document": reply.document,
        "closes_poll": reply.closes_poll,
    }


def reply_of(payload: Mapping[str, Any]) -> Reply:
    """The reply an outbox row's payload describes (the inverse of `payload_of`)."""
    poll = payload.get("poll")
    return Reply(
        text=payload.get("text", ""),
        buttons=[Button(b["label"], b["value"]) for b in payload.get("buttons", [])],
        image=payload.get("image"),
        document=payload.get("document"),
        poll=Poll(poll["poll_id"], poll["question"], tuple(poll["options"])) if poll else None,
        closes_poll=payload.get("closes_poll"),
    )


@dataclass(frozen=True)
class _Claimed:
    id: int
    channel: str
    address: str
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one
    due_at: datetime  # as it was before the claim


async def deliver_due(
    db: Database,
    channels: Mapping[str, Sender],
    now: datetime,
    limit: int = 100,
    *,
    refusal: type[Exception],
) -> DeliveryReport:
    """Send up to `limit` messages due by `now` through the running `channels` (by name) and record each outcome.

    `refusal` is the exception a channel raises for a message that must not go out (its `reason`, or
    its text, is recorded). Database work runs in a thread; sends run on the event loop, one at a time,
    and each outcome is recorded as soon as it is known.
    """
    running = sorted(channels)
    claimed, waiting = await asyncio.to_thread(_claim, db, running, now, limit)
    _say_which_channels_wait(running, waiting)
    report = DeliveryReport(waiting=waiting)
    for row in claimed:
        try:
            await channels[row.channel].send(row.address, reply_of(row.payload))
        except refusal as refused:
            reason = str(getattr(refused, "reason", "") or refused or type(refused).__name__)
            log.info("outbox: %s #%d to %s refused: %s", row.kind, row.id, row.channel, reason)
            await asyncio.to_thread(_settle, db, row, status="refused", error=reason, due_at=row.due_at)
            report.refused += 1
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"[:1000]
            if row.attempts >= MAX_ATTEMPTS:
                log.error("outbox: %s #%d to %s failed for good: %s", row.kind, row.id, row.channel, problem)
                await asyncio.to_thread(_settle, db, row, status="failed", error=problem, due_at=row.due_at)
                report.failed += 1
            else:
                retry_at = now + RETRY_AFTER * 2 ** (row.attempts - 1)
                log.warning(
                    "outbox: %s #%d to %s failed (attempt %d of %d), retrying at %s: %s",
                    row.kind,
                    row.id,
                    row.channel,
                    row.attempts,
                    MAX_ATTEMPTS,
                    retry_at.isoformat(),
                    problem,
                )
                await asyncio.to_thread(_settle, db, row, status="queued", error=problem, due_at=retry_at)
                report.retrying += 1
        else:
            await asyncio.to_thread(_settle, db, row, status="sent", error=None, due_at=row.due_at, sent_at=now)
            report.sent += 1
    return report


def _claim(db: Database, running: Sequence[str], now: datetime, limit: int) -> tuple[list[_Claimed], dict[str, int]]:
    """Take due rows for the running channels (queued → sending), and count those left for channels that are off."""
    due = OutboxMessage.due_at <= now
    with db.write_session() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sending", due, OutboxMessage.attempts >= MAX_ATTEMPTS)
            .values(status="failed", last_error="the dispatcher stopped while sending it")
        )
        claimable: ColumnElement[bool] = and_(
            OutboxMessage.status.in_(("queued", "sending")),  # "sending" and due: abandoned past its lease
            due,
            OutboxMessage.channel.in_(running),
        )
        candidates = session.execute(
            select(OutboxMessage.id, OutboxMessage.due_at)
            .where(claimable)
            .order_by(OutboxMessage.due_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        due_at: dict[int, datetime] = {row.id: row.due_at for row in candidates}
        rows: list[Any] = []
        if due_at:
            rows = list(
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(due_at), claimable)
                    .values(status="sending", attempts=OutboxMessage.attempts + 1, due_at=now + CLAIM_LEASE)
                    .returning(
                        OutboxMessage.id,
                        OutboxMessage.channel,
                        OutboxMessage.address,
                        OutboxMessage.kind,
                        OutboxMessage.payload,
                        OutboxMessage.attempts,
                    )
                    .execution_options(synchronize_session=False)
                )
            )
        left = session.execute(
            select(OutboxMessage.channel, func.count().label("messages"))
            .where(OutboxMessage.status == "queued", due, OutboxMessage.channel.not_in(running))
            .group_by(OutboxMessage.channel)
        )
        waiting: dict[str, int] = {row.channel: row.messages for row in left}
        # The claim moves due_at to the lease's end; the original is put back when the row is settled.
        claimed = [
            _Claimed(r.id, r.channel, r.address, r.kind, r.payload, attempts=r.attempts, due_at=due_at[r.id])
            for r in rows
        ]
        claimed.sort(key=lambda c: (c.due_at, c.id))
        return claimed, waiting


def _settle(
    db: Database, row: _Claimed, *, status: str, error: str | None, due_at: datetime, sent_at: datetime | None = None
) -> None:
    with db.session() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == "sending")
            .values(status=status, last_error=error, due_at=due_at, sent_at=sent_at)
        )


def _say_which_channels_wait(running: Sequence[str], waiting: Mapping[str, int]) -> None:
    _told_not_running.difference_update(running)
    for channel, count in waiting.items():
        if channel not in _told_not_running:
            _told_not_running.add(channel)
            log.warning("outbox: %d message(s) wait for channel %s, which is not running", count, channel)
