"""Who a person is across channels: opting out of messages (STOP / START) and linking identities by one-time code."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from assistant.db import Database
from assistant.models import Booking, ChannelIdentity, Follow, LinkCode, PendingAction, Quote

STOP_WORDS = {"stop", "stopall", "unsubscribe", "end", "quit"}
START_WORDS = {"start", "unstop", "subscribe"}
ASK_LINK = re.compile(r"^(?:link|connect)(?: my)?(?: (?:accounts?|channels?|chats?))?[.!]?$", re.IGNORECASE)
USE_LINK = re.compile(r"^(?:link|connect)\s+([A-Za-z0-9]{6})$", re.IGNORECASE)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
LINK_TTL = timedelta(minutes=15)


def keyword(text: str) -> str | None:
    """ "stop" or "start" when the whole message is an opt-out / opt-in keyword."""
    word = text.strip().strip(".!").lower()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


def set_opt_out(db: Database, channel: str, external_id: str, stopped: bool, now: datetime) -> None:
    """Record that this identity said STOP (or START again)."""
    with db.session() as session:
        session.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
            .values(opted_out_at=now if stopped else None)
        )


def identity(db: Database, channel: str, external_id: str) -> tuple[datetime | None, datetime | None] | None:
    """(last seen, opted out at) for an identity, or None when Roadie has never heard from it."""
    with db.session() as session:
        row = session.execute(
            select(ChannelIdentity.last_seen_at, ChannelIdentity.opted_out_at).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        ).first()
        return (row[0], row[1]) if row else None


def issue_link_code(db: Database, person_id: int, now: datetime) -> str:
    """A fresh one-time code the person says on their other channel within 15 minutes."""
    with db.session() as session:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        session.add(LinkCode(code=code, person_id=person_id, created_at=now, expires_at=now + LINK_TTL))
        return code


def redeem_link_code(db: Database, code: str, channel: str, external_id: str, now: datetime) -> int | None:
    """Move this channel identity (and what it owns) to the code's person; None when the code is not valid."""
    with db.write_session() as session:
        claimed = session.execute(
            update(LinkCode)
            .where(LinkCode.code == code.upper(), LinkCode.used_at.is_(None), LinkCode.expires_at > now)
            .values(used_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        target = session.scalars(select(LinkCode.person_id).where(LinkCode.code == code.upper())).one()
        me = session.scalars(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        ).one()
        old = me.person_id
        if old == target:
            return target
        me.person_id = target
        others = session.scalars(select(ChannelIdentity.id).where(ChannelIdentity.person_id == old)).all()
        if not [i for i in others if i != me.id]:
            # Nothing else is known by the old person: what it owns now belongs to the linked person.
            for model in (Booking, Quote, PendingAction):
                session.execute(update(model).where(model.person_id == old).values(person_id=target))
            have = set(session.scalars(select(Follow.artist_id).where(Follow.person_id == target)))
            for follow in session.scalars(select(Follow).where(Follow.person_id == old)):
                if follow.artist_id in have:
                    session.delete(follow)
                else:
                    follow.person_id = target
        return target
