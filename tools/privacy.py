"""A person's own data: "export my data" hands them a JSON file of everything Roadie holds on them,
"delete my data" (after their own "yes") erases them.

What erasing does, in one write transaction (then the conversation service forgets the chats' memory):
- bookings stay for accounting with their amounts, dates, show, channel and route, but without the person
  (`person_id` NULL, no quote link); the quotes, follows, price watches, link codes, pending confirmations,
  queued or sent outbox messages, dedupe rows and channel identities are deleted, and the person row too
  (their preferences live on it). Their next message starts a new person.
- trip groups they organise pass to the member who joined first; a group with nobody else in it is deleted
  (its bookings stay, anonymised, without the group). Their private group documents (itineraries) are
  removed from the vector store either way.
- in groups they were part of, their membership and votes are deleted; expenses they paid and their shares
  stay, so the others' balances still add up, but point at an anonymous "former member" row that holds
  nothing about them (no name, no channel, no city).
- the assistant's log keeps its rows for the staff metrics (turns, latency, tools) with no person, no
  conversation key and no message text; data export files they asked for are deleted.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from langchain.tools import ToolRuntime
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from assistant.context import TurnContext
from assistant.messages import Button
from assistant.models import (
    Base,
    Booking,
    ChannelIdentity,
    ConversationEvent,
    Expense,
    ExpenseShare,
    Follow,
    GroupMember,
    GroupPoll,
    LinkCode,
    OutboxMessage,
    PendingAction,
    Person,
    PollVote,
    PriceWatch,
    ProcessedMessage,
    Quote,
    TripGroup,
)
from assistant.toolkit import ToolAnswer, roadie_tool, turn_context
from tools import confirmation
from tools.common import log_event

log = logging.getLogger(__name__)
EXPORTS = "exports"
EXPORT_KEPT_S = 24 * 3600  # an export's link works for a day; older files are removed on the next export
ERASED_ROLE = "erased"  # the anonymous row that keeps a former member's group expenses adding up
KEPT_LOG_DETAIL = {"reason", "topic"}  # what a log row's detail may keep once its person is gone (never text)


def _row(row: Base) -> dict[str, Any]:
    """Every column of a row, as JSON-friendly values."""
    out: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = value.hex()
        out[column.key] = value
    return out


def collect(session: Session, person_id: int) -> dict[str, Any]:
    """Everything Roadie holds on `person_id`, table by table (other people's details left out)."""
    person = session.get_one(Person, person_id)
    mine = {
        "channel_identities": select(ChannelIdentity).where(ChannelIdentity.person_id == person_id),
        "bookings": select(Booking).where(Booking.person_id == person_id).order_by(Booking.id),
        "quotes": select(Quote).where(Quote.person_id == person_id).order_by(Quote.id),
        "follows": select(Follow).where(Follow.person_id == person_id).order_by(Follow.id),
        "price_watches": select(PriceWatch).where(PriceWatch.person_id == person_id).order_by(PriceWatch.id),
        "poll_votes": select(PollVote).where(PollVote.person_id == person_id).order_by(PollVote.id),
        "pending_confirmations": select(PendingAction).where(PendingAction.person_id == person_id),
        "conversation_log": select(ConversationEvent)
        .where(ConversationEvent.person_id == person_id)
        .order_by(ConversationEvent.id),
        "outbox": select(OutboxMessage).where(OutboxMessage.person_id == person_id).order_by(OutboxMessage.id),
    }
    data: dict[str, Any] = {"profile": _row(person)}
    for name, query in mine.items():
        data[name] = [_row(r) for r in session.scalars(query)]
    group_ids = set(session.scalars(select(GroupMember.group_id).where(GroupMember.person_id == person_id)))
    group_ids |= set(session.scalars(select(TripGroup.id).where(TripGroup.organiser_id == person_id)))
    groups = []
    for group in session.scalars(select(TripGroup).where(TripGroup.id.in_(group_ids)).order_by(TripGroup.id)):
        membership = session.scalars(
            select(GroupMember).where(GroupMember.group_id == group.id, GroupMember.person_id == person_id)
        ).first()
        shares = {
            s.expense_id: s.amount_minor
            for s in session.scalars(
                select(ExpenseShare)
                .join(Expense, Expense.id == ExpenseShare.expense_id)
                .where(Expense.group_id == group.id, ExpenseShare.person_id == person_id)
            )
        }
        expenses = session.scalars(
            select(Expense)
            .where(Expense.group_id == group.id)
            .where(or_(Expense.paid_by == person_id, Expense.created_by == person_id, Expense.id.in_(shares)))
            .order_by(Expense.id)
        )
        groups.append(
            {
                "group": _row(group),
                "you_organise": group.organiser_id == person_id,
                "membership": _row(membership) if membership else None,
                "expenses": [_row(e) | {"your_share_minor": shares.get(e.id, 0)} for e in expenses],
                "polls_you_created": [
                    _row(p)
                    for p in session.scalars(
                        select(GroupPoll).where(GroupPoll.group_id == group.id, GroupPoll.created_by == person_id)
                    )
                ],
            }
        )
    data["groups"] = groups
    return data


def _prune_exports(folder: Path) -> None:
    """Remove export files older than a day (their links stop working)."""
    if not folder.is_dir():
        return
    cutoff = time.time() - EXPORT_KEPT_S
    for entry in folder.iterdir():
        if entry.is_dir() and entry.stat().st_mtime < cutoff:
            shutil.rmtree(entry, ignore_errors=True)


def write_export(media: Path, data: dict[str, Any], today: date) -> str:
    """Write `data` under an unguessable folder in {media}/exports and return its /media/ path."""
    folder = media / EXPORTS
    _prune_exports(folder)
    token = secrets.token_urlsafe(24)
    path = folder / token / f"roadie-my-data-{today.isoformat()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return f"/media/{EXPORTS}/{token}/{path.name}"


@roadie_tool(
    summary="export everything Roadie holds on you as a file",
    examples=(
        "export my data",
        "export",
        "/export",
        "download my data",
        "send me all the data you have on me",
        "what data do you hold about me?",
        "what do you know about me?",
        "give me a copy of my personal data",
        "I want a copy of everything you know about me",
        "GDPR data request",
        "my data please",
        "exportar mis datos",
        "descargar mis datos",
        "meine Daten exportieren",
        "welche Daten habt ihr über mich?",
        "exporter mes données",
        "télécharger mes données personnelles",
        "exportar meus dados",
        "quero uma cópia dos meus dados",
    ),
)
def export_my_data(runtime: ToolRuntime[Any, Any]) -> ToolAnswer:
    """Send the person a JSON file of everything Roadie holds on them: profile, linked apps, bookings, quotes,
    follows, price watches, groups with their expenses and shares, preferences, the conversation log and messages.

    Only the caller's own data; takes no arguments.
    """
    ctx = turn_context(runtime)
    settings = ctx.services.settings
    with ctx.services.db.session() as session:
        data = collect(session, ctx.caller.person_id)
        data["exported_at"] = ctx.services.clock.now().isoformat()
        path = write_export(settings.data_dir / "media", data, ctx.services.clock.now().date())
        log_event(session, ctx, "privacy", "export_my_data", {"export": path})
        threads = {e["conversation"] for e in data["conversation_log"] if e["conversation"]}
    link = (settings.public_base_url.rstrip("/") + path) if settings.public_base_url else path
    counts = ", ".join(
        f"{len(data[k])} {k.replace('_', ' ')}" for k in ("bookings", "quotes", "follows", "price_watches", "groups")
    )
    return ToolAnswer(
        f"Here is everything Roadie holds on you, as a JSON file ({counts}, plus your profile, linked apps, "
        f"conversation log and messages): {link}\nThe link works for 24 hours; keep it to yourself. "
        'Say "delete my data" if you want Roadie to forget you.',
        # The service adds the conversations' memory (the messages themselves) to the file after the turn.
        data={"document": path, "exported": {"threads": sorted(threads | {ctx.caller.conversation})}},
    )


@dataclass
class Erasure:
    """What erasing a person changed: counts per kind, and the conversations whose memory must go."""

    counts: dict[str, int] = field(default_factory=dict)
    threads: set[str] = field(default_factory=set)
    handed_over: list[str] = field(default_factory=list)

    def add(self, kind: str, n: int) -> None:
        if n:
            self.counts[kind] = self.counts.get(kind, 0) + n


def _changed(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def erase(ctx: TurnContext, session: Session, person_id: int) -> Erasure:
    """Erase `person_id` as the module docstring says; the caller's transaction commits it."""
    done = Erasure()
    person = session.get_one(Person, person_id)
    identities = list(session.scalars(select(ChannelIdentity).where(ChannelIdentity.person_id == person_id)))
    addresses = [(i.channel, i.external_id) for i in identities]
    for conversation in session.scalars(
        select(ConversationEvent.conversation).where(ConversationEvent.person_id == person_id).distinct()
    ):
        if conversation:
            done.threads.add(conversation)
    done.threads |= set(session.scalars(select(PendingAction.conversation).where(PendingAction.person_id == person_id)))
    done.threads.add(ctx.caller.conversation)

    media = (ctx.services.settings.data_dir / "media").resolve()
    for detail in session.scalars(
        select(ConversationEvent.detail).where(
            ConversationEvent.person_id == person_id, ConversationEvent.kind == "privacy"
        )
    ):
        export = (detail or {}).get("export")
        if isinstance(export, str) and export.startswith(f"/media/{EXPORTS}/"):
            folder = (media / export.removeprefix("/media/")).parent.resolve()
            if folder.is_relative_to(media / EXPORTS) and folder != (media / EXPORTS).resolve():
                shutil.rmtree(folder, ignore_errors=True)
                done.add("export files", 1)

    # Bookings stay for accounting, without the person or the quote that named their conversation.
    done.add(
        "bookings anonymised",
        _changed(session.execute(update(Booking).where(Booking.person_id == person_id).values(person_id=None))),
    )
    quote_ids = select(Quote.id).where(Quote.person_id == person_id)
    session.execute(update(Booking).where(Booking.quote_id.in_(quote_ids)).values(quote_id=None))
    done.add("quotes", _changed(session.execute(delete(Quote).where(Quote.person_id == person_id))))

    # Groups they organise: handed to the member who joined first, or deleted when nobody else is in them.
    library = ctx.services.library
    for group in list(session.scalars(select(TripGroup).where(TripGroup.organiser_id == person_id))):
        successor = session.scalars(
            select(GroupMember.person_id)
            .where(GroupMember.group_id == group.id, GroupMember.person_id != person_id)
            .order_by(GroupMember.joined_at, GroupMember.id)
        ).first()
        if library is not None:
            for doc in [d for d in library.store.docs() if d.startswith(f"group/{group.id}/")]:
                library.store.delete(doc)
                done.add("private documents", 1)
        if successor is not None:
            group.organiser_id = successor
            done.handed_over.append(group.name)
            continue
        session.execute(update(Booking).where(Booking.group_id == group.id).values(group_id=None))
        session.execute(update(Expense).where(Expense.group_id == group.id).values(booking_id=None))
        session.delete(group)
        session.flush()  # the database cascades to members, polls, votes, expenses and shares
        done.add("groups deleted", 1)

    # What stays in other people's groups points at an anonymous former member.
    leftovers = [
        (GroupPoll, GroupPoll.created_by, "created_by"),
        (Expense, Expense.paid_by, "paid_by"),
        (Expense, Expense.created_by, "created_by"),
        (ExpenseShare, ExpenseShare.person_id, "person_id"),
    ]
    if any(session.scalars(select(column).where(column == person_id).limit(1)).first() for _, column, _ in leftovers):
        former = Person(display_name="", role=ERASED_ROLE, created_at=person.created_at, notify={})
        session.add(former)
        session.flush()
        for model, column, name in leftovers:
            done.add(
                "group records anonymised",
                _changed(session.execute(update(model).where(column == person_id).values({name: former.id}))),
            )

    for model, column, kind in (
        (GroupMember, GroupMember.person_id, "group memberships"),
        (PollVote, PollVote.person_id, "poll votes"),
        (Follow, Follow.person_id, "follows"),
        (PriceWatch, PriceWatch.person_id, "price watches"),
        (LinkCode, LinkCode.person_id, "link codes"),
        (PendingAction, PendingAction.person_id, "pending confirmations"),
    ):
        done.add(kind, _changed(session.execute(delete(model).where(column == person_id))))
    to_them: list[ColumnElement[bool]] = [OutboxMessage.person_id == person_id]
    to_them += [(OutboxMessage.channel == c) & (OutboxMessage.address == a) for c, a in addresses]
    done.add("outbox messages", _changed(session.execute(delete(OutboxMessage).where(or_(*to_them)))))

    senders = [ProcessedMessage.sender_key(c, a) for c, a in addresses]
    theirs: list[ColumnElement[bool]] = [ProcessedMessage.sender.in_(senders)] if senders else []
    theirs += [  # web rows from before senders were recorded carry the session id in the message id
        (ProcessedMessage.channel == "web") & ProcessedMessage.message_id.startswith(f"{a}:", autoescape=True)
        for c, a in addresses
        if c == "web"
    ]
    if theirs:
        done.add("dedupe records", _changed(session.execute(delete(ProcessedMessage).where(or_(*theirs)))))

    logged = list(
        session.scalars(
            select(ConversationEvent).where(
                or_(ConversationEvent.person_id == person_id, ConversationEvent.conversation.in_(done.threads))
            )
        )
    )
    for event in logged:
        event.person_id = None
        event.conversation = ""
        event.detail = {
            k: v
            for k, v in (event.detail or {}).items()
            if k in KEPT_LOG_DETAIL or (isinstance(v, int | float | bool) and not isinstance(v, str))
        }
    done.add("log entries anonymised", len(logged))
    done.add("linked apps", len(identities))
    session.execute(delete(ChannelIdentity).where(ChannelIdentity.person_id == person_id))
    session.delete(person)
    session.flush()
    return done


@roadie_tool(
    summary="delete everything Roadie holds on you (after you confirm)",
    write=True,
    examples=(
        "delete my data",
        "/delete_my_data",
        "delete my account",
        "forget me",
        "erase all my personal data",
        "remove everything you know about me",
        "I want you to delete all my information",
        "right to be forgotten",
        "close my account and wipe my data",
        "I want to close my Roadie account",
        "borrar mis datos",
        "elimina toda mi información",
        "meine Daten löschen",
        "bitte vergiss mich",
        "supprimer mes données",
        "effacez toutes mes informations",
        "apagar os meus dados",
        "excluir minha conta e meus dados",
    ),
)
def delete_my_data(runtime: ToolRuntime[Any, Any], confirm: bool = False) -> ToolAnswer:
    """Erase everything Roadie holds on the person (bookings are kept anonymised for accounting). Two steps:
    call without confirm to ask; after the person answers yes, call again with confirm=true.

    Never pass confirm=true unless the person's latest message said yes to deleting their data.

    Args:
        confirm: True only when the person has just said yes to deleting their data.
    """
    ctx = turn_context(runtime)
    target = f"person:{ctx.caller.person_id}"
    with ctx.services.db.write_session() as session:
        if not (confirm and confirmation.claim(session, ctx, "delete_my_data", target)):
            confirmation.ask(session, ctx, "delete_my_data", target)
            return ToolAnswer(
                "Delete everything Roadie holds on you? That is your profile and preferences, follows, price "
                "watches, quotes, group memberships, linked apps and our conversations, on every app. Bookings "
                "are kept for accounting but no longer linked to you, and you won't be able to manage them "
                'here any more. This can\'t be undone — say "export my data" first for a copy. '
                "Reply **yes** to delete or **no** to keep everything.",
                buttons=[Button("Yes, delete my data", "yes"), Button("No", "no")],
                data={"awaiting_confirmation": {"tool": "delete_my_data", "args": {}}},
            )
        done = erase(ctx, session, ctx.caller.person_id)
    log.info("erased a person's data: %s", done.counts)
    lines = ["Done — Roadie has deleted your data. If you write again, I'll meet you as someone new."]
    if done.handed_over:
        lines.append("Your trip groups now have a new organiser: " + ", ".join(done.handed_over) + ".")
    return ToolAnswer("\n".join(lines), data={"erased": {"threads": sorted(done.threads), "counts": done.counts}})
