"""Channel memos in the database: what a channel sent and must recognise later, on any worker, after any restart."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from assistant.db import Database
from assistant.models import ChannelMemo

KEPT = timedelta(days=90)  # a button or poll older than this is answered as expired
REPLY_KEPT = timedelta(hours=1)  # a turn's answer, kept to answer a repeat of its message (`reply:` keys)
PRUNE_EVERY = 500  # memos stored between two clean-ups of expired ones

_stored = 0


def remember(db: Database, channel: str, key: str, value: str, now: datetime) -> None:
    """Store `value` under (`channel`, `key`); a key stored before keeps its first value."""
    try:
        with db.session() as session:
            session.add(ChannelMemo(channel=channel, key=key, value=value, created_at=now))
    except IntegrityError:
        return  # the same button or poll, stored by this or another worker: the first value stands
    stored(db, now)


def stored(db: Database, now: datetime) -> None:
    """Count a memo stored (by `remember` or with a turn's log); every PRUNE_EVERY, expired ones go."""
    global _stored
    _stored += 1
    if _stored % PRUNE_EVERY:
        return
    with db.session() as session:
        session.execute(delete(ChannelMemo).where(ChannelMemo.created_at < now - KEPT))
        session.execute(
            delete(ChannelMemo).where(ChannelMemo.key.startswith("reply:"), ChannelMemo.created_at < now - REPLY_KEPT)
        )


def recall(db: Database, channel: str, key: str, now: datetime) -> str | None:
    """The value stored under (`channel`, `key`) while it is kept (an hour for answers, else 90 days), or None."""
    kept = REPLY_KEPT if key.startswith("reply:") else KEPT
    with db.session() as session:
        return session.scalar(
            select(ChannelMemo.value).where(
                ChannelMemo.channel == channel, ChannelMemo.key == key, ChannelMemo.created_at >= now - kept
            )
        )
