"""Trip groups: create one, join by code from any channel, see who's going, and the organiser's controls."""

from __future__ import annotations

from typing import Any

from langchain.tools import ToolRuntime
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, joinedload

from assistant.messages import Button, Reply
from assistant.models import Booking, Event, GroupMember, Quote, TripGroup
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import describe_when, log_event, new_reference, person
from tools.expenses import balance_lines, group_balances
from tools.group_members import (
    CODE_PREFIX,
    add_member,
    chat_group,
    find_member,
    join_links,
    members,
    my_group,
    name_of,
    normal_code,
    organiser_only,
    tell_group,
)
from tools.polls import close_all, close_due, open_polls
from tools.trips import find_event

MAX_MEMBERS = 50


@roadie_tool(
    summary="start a trip group for friends going to a show together, with a join code",
    write=True,
    examples=(
        "create a group for the Coldplay show",
        "start a trip group",
        "make a group for our Lisbon trip",
        "set up a group so my friends can join",
        "new group for Metallica in Munich",
        "let's plan this as a group",
        "create a group chat plan for the Brussels concert",
        "I want to organise a trip with friends",
        "group trip for Taylor Swift",
        "crear un grupo para el concierto",
        "Gruppe für das Konzert erstellen",
        "créer un groupe pour le concert",
        "criar um grupo para o show",
        "make a grp for the trip",
        "can you set up a group chat for the gig so my mates can join",
        "crear un grupo para ir al concierto de Karol G en Madrid",
        "hazme un grupo para el viaje con mis amigos",
        "eine Gruppe für das Konzert in Hamburg anlegen",
        "mach eine Gruppe für unsere Reise zu Metallica",
        "erstelle eine Gruppe für unseren Trip nach Wien",
        "kannst du eine Gruppe für Coldplay in München erstellen?",
        "Gruppenreise zu Adele in London",
        "créer un groupe pour aller voir Coldplay à Lyon",
        "criar um grupo para a viagem a Lisboa",
        "faz um grupo para a galera ir ao show da Taylor Swift",
    ),
)
def create_group(
    runtime: ToolRuntime[Any, Any],
    name: str | None = None,
    artist: str | None = None,
    city: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
) -> ToolAnswer:
    """Create a trip group (for a show, or a trip still to be decided); the caller is its organiser.

    In a group chat the group belongs to that chat, so Roadie knows which group the chat plans.
    The answer gives a join code and a link per channel for friends to join.

    Args:
        name: What to call the group, e.g. "Brussels crew"; defaults to the show.
        artist: The artist of the show the group is for, if there is one.
        city: The city of that show.
        date_from: The show date (or first day of a range), YYYY-MM-DD.
        date_to: Last day of the range, YYYY-MM-DD.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    with ctx.services.db.write_session() as session:
        here = chat_group(session, ctx)
        if here is not None and here.status == "open":
            raise UserFacingError(
                f"This chat already plans **{here.name}** (code **{here.join_code}**). "
                'Say "group status" to see it, or "I\'m in" to join.',
                buttons=[Button("Group status", "group status"), Button("I'm in", "I'm in")],
            )
        event: Event | None = None
        if artist or city:
            try:
                event = find_event(session, ctx, artist, city, None, date_from, date_to)
            except UserFacingError as several:
                if not (several.answer.data or {}).get("choices"):
                    raise
                event = None  # several dates: the group can vote on them
        title = (name or "").strip()[:80] or (
            f"{event.artist.name} in {event.venue.city}"
            if event
            else f"{' '.join(p for p in (artist, city) if p) or 'Our'} trip"
        )
        group = TripGroup(
            name=title,
            join_code=new_reference(CODE_PREFIX),
            organiser_id=ctx.caller.person_id,
            event_id=event.id if event else None,
            currency=person(session, ctx).currency,
            status="open",
            chat_key=ctx.caller.chat if ctx.caller.in_group and here is None else None,
            created_at=now,
        )
        session.add(group)
        session.flush()
        add_member(session, ctx, group, going=True)
        log_event(session, ctx, "group", "create_group", {"group": group.join_code})
        lines = [f"Group **{group.name}** is ready — you're the organiser. Join code: **{group.join_code}**."]
        if event is not None:
            lines.append(f"The show: {event.artist.name} at {event.venue.name}, {describe_when(event)}.")
        lines.append("Friends can join from any app:")
        lines += join_links(ctx, group.join_code)
        lines.append(
            'Next: "poll: 28 May or 24 April?", "group status", or "I paid €120 for the hotel, split equally".'
        )
        return ToolAnswer(
            "\n".join(lines),
            buttons=[Button("Group status", "group status")],
            data={"group": group.join_code, "event_id": group.event_id},
        )


@roadie_tool(
    summary="join a friend's trip group with its code, or say you're in or out",
    write=True,
    examples=(
        "join group G-7KQ2MX",
        "join G7KQ2MX",
        "I'm in",
        "count me in",
        "I'm going",
        "add me to the group",
        "I'm out",
        "I can't come any more",
        "sign me up for the trip",
        "me apunto",
        "ich bin dabei",
        "je suis partant",
        "tô dentro",
    ),
)
def join_group(runtime: ToolRuntime[Any, Any], code: str | None = None, going: bool = True) -> ToolAnswer:
    """Join a trip group by its code (or this group chat's group), or change whether you're going.

    Anyone with the code can join while the group is open. Members confirm they're going ("I'm in")
    or drop out ("I'm out"); the organiser books for the confirmed members.

    Args:
        code: The group's join code, e.g. "G-7KQ2MX"; not needed in the group's own chat.
        going: False when the person says they're out.
    """
    ctx = turn_context(runtime)
    with ctx.services.db.write_session() as session:
        if code:
            group = session.scalars(select(TripGroup).where(TripGroup.join_code == normal_code(code))).first()
            if group is None:
                raise UserFacingError(
                    f"There's no group with the code **{code}** — check the code your friend sent (it looks like G-7KQ2MX).",
                    data={"unknown": {"group": code}},
                )
        else:
            found = chat_group(session, ctx)
            if found is None:
                mine = my_group(session, ctx)  # "I'm in" / "I'm out" about the caller's own group
                found = mine
            group = found
        member = session.scalars(
            select(GroupMember).where(GroupMember.group_id == group.id, GroupMember.person_id == ctx.caller.person_id)
        ).first()
        who = name_of(ctx, session)
        if member is None:  # not a member yet: the group's name is for its members
            if group.status != "open":
                raise UserFacingError("That group is closed, so it isn't taking new members.")
            count = session.scalar(
                select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group.id)
            )
            if (count or 0) >= MAX_MEMBERS:
                raise UserFacingError(f"That group is full ({MAX_MEMBERS} members).")
            add_member(session, ctx, group, going=going)
            tell_group(
                session,
                ctx,
                group,
                "group_joined",
                Reply(f"{who} joined **{group.name}**{' and is going' if going else ''}."),
                f"group:{group.id}:joined:{ctx.caller.person_id}",
            )
            text = f"Welcome to **{group.name}**, {who}! " + (
                "You're down as going." if going else "You're in the group, not yet going."
            )
            return ToolAnswer(
                text, buttons=[Button("Group status", "group status")], data={"group": group.join_code, "going": going}
            )
        if member.confirmed == going:
            state = "going" if going else "not going"
            return ToolAnswer(f"You're already in **{group.name}**, down as {state}.", data={"group": group.join_code})
        member.confirmed = going
        tell_group(
            session,
            ctx,
            group,
            "group_going",
            Reply(f"{who} is {'going' if going else 'out'} — **{group.name}**."),
            f"group:{group.id}:going:{ctx.caller.person_id}:{going}:{ctx.services.clock.now().isoformat()}",
        )
        text = f"Got it — you're {'going' if going else 'out'}." + ("" if going else ' Say "I\'m in" if that changes.')
        return ToolAnswer(text, data={"group": group.join_code, "going": going})


def group_booking(session: Session, group: TripGroup) -> Booking | None:
    return session.scalars(
        select(Booking)
        .where(Booking.group_id == group.id, Booking.status != "cancelled")
        .options(joinedload(Booking.event).joinedload(Event.artist), joinedload(Booking.event).joinedload(Event.venue))
        .order_by(Booking.id.desc())
    ).first()


@roadie_tool(
    summary="see a trip group: who's going, the shared itinerary, open polls and who owes what",
    examples=(
        "group status",
        "who's coming?",
        "who is going on the trip",
        "show the group",
        "what's the plan",
        "where are we with the group trip",
        "show me the itinerary for the group",
        "who has confirmed",
        "estado del grupo",
        "wer kommt mit?",
        "qui vient ?",
        "quem vai?",
        "how's the vote going?",
        "show me the poll results",
        "has everyone voted yet",
        "which hotel is ahead in the vote?",
        "any update on the poll?",
        "what's leading in the date poll?",
        "who's in the group",
        "¿quién viene?",
        "¿cómo va el grupo?",
        "on en est où avec le voyage ?",
        "qui a confirmé ?",
        "état du groupe",
        "quem está confirmado?",
        "como está o grupo?",
    ),
)
def group_status(runtime: ToolRuntime[Any, Any], code: str | None = None) -> ToolAnswer:
    """Show a trip group to one of its members: members and who's going, the show and booking with its itinerary, open polls, balances.

    Args:
        code: The group's join code, if the person is in several groups.
    """
    ctx = turn_context(runtime)
    with ctx.services.db.write_session() as session:
        group = my_group(session, ctx, code)
        close_due(session, ctx, group)
        people = members(session, group)
        going = [m for m in people if m.confirmed]
        organiser = next((m.name for m in people if m.person_id == group.organiser_id), "")
        lines = [
            f"**{group.name}** ({group.join_code}, {group.status}) — organiser {organiser}. "
            f"{len(going)} of {len(people)} going:"
        ]
        lines += [
            f"- {m.name}{' ✓ going' if m.confirmed else ' — not confirmed'}{f' ({m.channel})' if m.channel else ''}"
            for m in people
        ]
        booking = group_booking(session, group)
        event = booking.event if booking else (session.get(Event, group.event_id) if group.event_id else None)
        if booking is not None:
            lines.append(
                f"Booked: **{booking.reference}** — {booking.event.artist.name}, {booking.event.venue.city}, "
                f"{describe_when(booking.event)}, {booking.travellers} travellers."
            )
            quote = session.get(Quote, booking.quote_id) if booking.quote_id else None
            itinerary = (quote.details or {}).get("itinerary") if quote else None
            if itinerary:
                lines += ["Itinerary (local times):", *itinerary]
        elif event is not None:
            lines.append(
                f"The show: {event.artist.name} at {event.venue.name}, {event.venue.city}, {describe_when(event)} — not booked yet."
            )
        polls = open_polls(session, group)
        if polls:
            lines.append("Open polls:")
            lines += polls
        lines += balance_lines(session, ctx, group)
        return ToolAnswer(
            "\n".join(lines), data={"group": group.join_code, "members": len(people), "going": len(going)}
        )


@roadie_tool(
    summary="organiser: remove someone from the trip group",
    write=True,
    examples=(
        "remove Ben from the group",
        "kick Dana out of the trip group",
        "take Cy off the group",
        "Ben isn't coming, remove him",
        "quita a Ben del grupo",
        "Ben aus der Gruppe entfernen",
    ),
)
def remove_member(runtime: ToolRuntime[Any, Any], member: str, code: str | None = None) -> ToolAnswer:
    """Remove a member from the group (organiser only); someone who still owes or is owed money must settle first.

    Args:
        member: The member's name as the group knows it.
        code: The group's join code, if the organiser has several groups.
    """
    ctx = turn_context(runtime)
    with ctx.services.db.write_session() as session:
        group = my_group(session, ctx, code)
        organiser_only(group, ctx, "remove members")
        found = find_member(session, group, member)
        if found.person_id == group.organiser_id:
            raise UserFacingError("The organiser can't be removed — close the group instead if the trip is off.")
        owed = group_balances(session, group).get(found.person_id, 0)
        if owed:
            raise UserFacingError(
                f"{found.name} still {'is owed' if owed > 0 else 'owes'} money in this group — "
                'settle up first ("settle up"), then remove them.'
            )
        session.execute(
            delete(GroupMember).where(GroupMember.group_id == group.id, GroupMember.person_id == found.person_id)
        )
        tell_group(
            session,
            ctx,
            group,
            "group_removed",
            Reply(f"{found.name} is no longer in **{group.name}**."),
            f"group:{group.id}:removed:{found.person_id}:{ctx.services.clock.now().isoformat()}",
        )
        return ToolAnswer(f"Removed {found.name} from **{group.name}**.", data={"group": group.join_code})


@roadie_tool(
    summary="organiser: close the trip group to new members and end its polls",
    write=True,
    examples=(
        "close the group",
        "no more people can join",
        "lock the group",
        "close the trip group, we're complete",
        "cerrar el grupo",
        "Gruppe schließen",
    ),
)
def close_group(runtime: ToolRuntime[Any, Any], code: str | None = None) -> ToolAnswer:
    """Close the group (organiser only): nobody new can join and open polls end now with their result.

    Args:
        code: The group's join code, if the organiser has several groups.
    """
    ctx = turn_context(runtime)
    with ctx.services.db.write_session() as session:
        group = my_group(session, ctx, code)
        organiser_only(group, ctx, "close it")
        if group.status == "closed":
            return ToolAnswer(f"**{group.name}** is already closed.", data={"group": group.join_code})
        group.status = "closed"
        close_all(session, ctx, group)
        tell_group(
            session,
            ctx,
            group,
            "group_closed",
            Reply(f"**{group.name}** is closed to new members."),
            f"group:{group.id}:closed",
        )
        return ToolAnswer(
            f"Closed **{group.name}** — nobody new can join. Members, polls and balances stay as they are.",
            data={"group": group.join_code},
        )
