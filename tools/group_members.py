"""The people in a trip group: finding the group meant, its members by name, and telling them about changes."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assistant import outbox
from assistant.context import TurnContext
from assistant.messages import Button, Reply
from assistant.models import ChannelIdentity, GroupMember, Person, TripGroup
from assistant.toolkit import UserFacingError
from tools.common import normal_reference, person

CODE_PREFIX = "G"


@dataclass(frozen=True)
class Member:
    """A group member as the others see them."""

    person_id: int
    name: str
    confirmed: bool
    channel: str


def normal_code(text: str) -> str:
    """A join code as typed ("g 7kq2mx", "G7KQ2MX", "join_G-7KQ2MX") in its stored form ("G-7KQ2MX")."""
    return normal_reference(text.strip().removeprefix("join_"))


def members(session: Session, group: TripGroup) -> list[Member]:
    """Everyone in the group, in the order they joined."""
    rows = session.execute(
        select(Person, GroupMember.confirmed)
        .join(GroupMember, GroupMember.person_id == Person.id)
        .where(GroupMember.group_id == group.id)
        .order_by(GroupMember.joined_at, GroupMember.id)
    ).all()
    channels = dict(
        session.execute(
            select(ChannelIdentity.person_id, ChannelIdentity.channel)
            .where(ChannelIdentity.person_id.in_([p.id for p, _ in rows]))
            .order_by(ChannelIdentity.last_seen_at)
        ).all()
    )
    return [
        Member(p.id, p.display_name or f"Traveller {p.id}", confirmed, channels.get(p.id, "")) for p, confirmed in rows
    ]


def is_member(session: Session, group: TripGroup, person_id: int) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(GroupMember)
            .where(GroupMember.group_id == group.id, GroupMember.person_id == person_id)
        )
        or 0
    ) > 0


def chat_group(session: Session, ctx: TurnContext) -> TripGroup | None:
    """The group this group chat plans, if it plans one."""
    if not ctx.caller.in_group:
        return None
    return session.scalars(select(TripGroup).where(TripGroup.chat_key == ctx.caller.chat)).first()


def my_group(session: Session, ctx: TurnContext, code: str | None = None) -> TripGroup:
    """The group meant: by code, else this chat's group, else the caller's only open group; members only."""
    caller = ctx.caller.person_id
    if code:
        group = session.scalars(select(TripGroup).where(TripGroup.join_code == normal_code(code))).first()
        if group is None or not is_member(session, group, caller):
            raise UserFacingError(
                f"I can't find a group **{code}** among yours. To join one, send `join group {code}`.",
                data={"unknown": {"group": code}},
            )
        return group
    here = chat_group(session, ctx)
    if here is not None:
        if not is_member(session, here, caller):
            raise UserFacingError(
                f"This chat plans **{here.name}**, and you're not in it yet — say \"I'm in\" to join.",
                buttons=[Button("I'm in", "I'm in")],
            )
        return here
    mine = list(
        session.scalars(
            select(TripGroup)
            .join(GroupMember, GroupMember.group_id == TripGroup.id)
            .where(GroupMember.person_id == caller)
            .order_by(TripGroup.status.desc(), TripGroup.created_at.desc())
        )
    )
    open_groups = [g for g in mine if g.status == "open"] or mine
    if not open_groups:
        raise UserFacingError(
            'You\'re not in a trip group yet. Start one with "create a group for Coldplay in Brussels", '
            "or join friends with the code they sent you: `join group G-XXXXXX`.",
            buttons=[Button("Create a group", "create a trip group")],
        )
    if len(open_groups) > 1:
        raise UserFacingError(
            "You're in several groups — which one? "
            + ", ".join(f"**{g.name}** ({g.join_code})" for g in open_groups[:5]),
            buttons=[Button(g.name[:30], f"group status {g.join_code}") for g in open_groups[:3]],
        )
    return open_groups[0]


def join_links(ctx: TurnContext, code: str) -> list[str]:
    """How friends join, on each channel Roadie runs on."""
    settings = ctx.services.settings
    lines = [f"- Any chat with Roadie: send `join group {code}`"]
    if settings.telegram_bot_username:
        lines.append(f"- Telegram: https://t.me/{settings.telegram_bot_username.lstrip('@')}?start=join_{code}")
    if settings.twilio_whatsapp_from:
        number = "".join(ch for ch in settings.twilio_whatsapp_from if ch.isdigit())
        lines.append(f"- WhatsApp: https://wa.me/{number}?text={urllib.parse.quote(f'join group {code}')}")
    if settings.slack_bot_token.get_secret_value():
        lines.append(f"- Slack: `/roadie join group {code}`")
    if settings.public_base_url:
        lines.append(f"- Web chat: {settings.public_base_url.rstrip('/')}/ then send `join group {code}`")
    return lines


def tell_group(
    session: Session,
    ctx: TurnContext,
    group: TripGroup,
    kind: str,
    reply: Reply,
    key: str,
    skip: frozenset[int] = frozenset(),
) -> int:
    """Tell the group about a change through each member's own channel (the group chat once, if it has one).

    The person who made the change sees Roadie's answer already, so they are skipped, and so is a
    group chat the change was made in. Returns how many messages were queued.
    """
    now = ctx.services.clock.now()
    queued = 0
    in_chat: set[int] = set()
    if group.chat_key and ":" in group.chat_key:
        channel, address = group.chat_key.split(":", 1)
        in_chat = set(
            session.scalars(
                select(ChannelIdentity.person_id).where(
                    ChannelIdentity.channel == channel,
                    ChannelIdentity.person_id.in_(
                        select(GroupMember.person_id).where(GroupMember.group_id == group.id)
                    ),
                )
            )
        )
        if ctx.caller.chat != group.chat_key:
            queued += outbox.enqueue(
                session,
                person_id=None,
                kind=kind,
                reply=reply,
                dedupe_key=f"{key}:chat",
                due_at=now,
                channel=channel,
                address=address,
            )
    for member in members(session, group):
        if member.person_id in in_chat or member.person_id in skip or member.person_id == ctx.caller.person_id:
            continue
        queued += outbox.enqueue(
            session,
            person_id=member.person_id,
            kind=kind,
            reply=reply,
            dedupe_key=f"{key}:{member.person_id}",
            due_at=now,
        )
    return queued


def add_member(session: Session, ctx: TurnContext, group: TripGroup, going: bool) -> None:
    session.add(
        GroupMember(
            group_id=group.id, person_id=ctx.caller.person_id, confirmed=going, joined_at=ctx.services.clock.now()
        )
    )
    session.flush()


def name_of(ctx: TurnContext, session: Session) -> str:
    return person(session, ctx).display_name or ctx.caller.display_name or "A traveller"


def organiser_only(group: TripGroup, ctx: TurnContext, what: str) -> None:
    if group.organiser_id != ctx.caller.person_id:
        raise UserFacingError(f"Only the organiser of **{group.name}** can {what}.")


def find_member(session: Session, group: TripGroup, name: str) -> Member:
    """The member called `name` (first name or full, any case); a clear answer when nobody matches."""
    wanted = name.strip().lower().lstrip("@")
    people = members(session, group)
    exact = [m for m in people if m.name.lower() == wanted]
    starts = [m for m in people if m.name.lower().split() and m.name.lower().split()[0] == wanted]
    loose = [m for m in people if m.name.lower().startswith(wanted)] if len(wanted) >= 2 else []
    found = exact or starts or loose
    if len(found) == 1:
        return found[0]
    names = ", ".join(m.name for m in people)
    if not found:
        raise UserFacingError(f"There's nobody called **{name}** in **{group.name}**. Members: {names}.")
    raise UserFacingError(f"More than one member matches **{name}** — which one? {', '.join(m.name for m in found)}.")
