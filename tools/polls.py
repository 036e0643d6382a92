"""Group votes: a poll on dates, hotels or anything with options, one vote per member, closed on time or when all voted."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from langchain.tools import ToolRuntime
from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.context import TurnContext
from assistant.messages import Poll, Reply
from assistant.models import GroupPoll, PollVote, TripGroup
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import log_event, new_reference, normal_reference
from tools.group_members import is_member, members, my_group, name_of, tell_group

MAX_OPTIONS = 10
DEFAULT_OPEN = timedelta(hours=48)
MAX_OPEN = timedelta(days=30)


def tally(session: Session, poll: GroupPoll) -> Counter[int]:
    """Votes per option index."""
    return Counter(session.scalars(select(PollVote.option).where(PollVote.poll_id == poll.id)))


def result_text(poll: GroupPoll, votes: Counter[int]) -> str:
    """The outcome in a sentence, ties named as ties (the earliest listed option wins them)."""
    if not votes:
        return f"Poll closed: **{poll.question}** — nobody voted."
    top = max(votes.values())
    leaders = [i for i in range(len(poll.options)) if votes.get(i, 0) == top]
    counts = ", ".join(f"{option} {votes.get(i, 0)}" for i, option in enumerate(poll.options))
    if len(leaders) > 1:
        tied = " and ".join(poll.options[i] for i in leaders)
        return (
            f"Poll closed: **{poll.question}** — a tie between {tied} ({counts}); "
            f"**{poll.options[leaders[0]]}** goes first, so it wins unless the organiser says otherwise."
        )
    return f"Poll closed: **{poll.question}** — **{poll.options[leaders[0]]}** wins ({counts})."


def close(session: Session, ctx: TurnContext, poll: GroupPoll, group: TripGroup) -> str:
    """Close the poll, record the winner and announce the result to the group; returns the result text."""
    votes = tally(session, poll)
    poll.status = "closed"
    poll.closed_at = ctx.services.clock.now()
    if votes:
        top = max(votes.values())
        poll.winner = min(i for i, n in votes.items() if n == top)
    text = result_text(poll, votes)
    tell_group(session, ctx, group, "poll_closed", Reply(text, closes_poll=poll.reference), f"poll:{poll.id}:closed")
    return text


def close_due(session: Session, ctx: TurnContext, group: TripGroup) -> list[str]:
    """Close the group's polls whose deadline has passed; the results."""
    now = ctx.services.clock.now()
    due = session.scalars(
        select(GroupPoll).where(GroupPoll.group_id == group.id, GroupPoll.status == "open", GroupPoll.closes_at <= now)
    )
    return [close(session, ctx, poll, group) for poll in list(due)]


def close_all(session: Session, ctx: TurnContext, group: TripGroup) -> list[str]:
    """Close every open poll of the group now."""
    polls = session.scalars(select(GroupPoll).where(GroupPoll.group_id == group.id, GroupPoll.status == "open"))
    return [close(session, ctx, poll, group) for poll in list(polls)]


def open_polls(session: Session, group: TripGroup) -> list[str]:
    """One line per open poll: its question, the votes so far and when it closes."""
    lines = []
    for poll in session.scalars(
        select(GroupPoll).where(GroupPoll.group_id == group.id, GroupPoll.status == "open").order_by(GroupPoll.id)
    ):
        votes = tally(session, poll)
        counts = ", ".join(f"{option} {votes.get(i, 0)}" for i, option in enumerate(poll.options))
        lines.append(f"- {poll.question} ({poll.reference}): {counts} · closes {poll.closes_at:%-d %b %H:%M} UTC")
    return lines


def poll_payload(poll: GroupPoll) -> dict[str, Any]:
    return {"poll_id": poll.reference, "question": poll.question, "options": list(poll.options)}


def clean_options(options: list[str]) -> list[str]:
    """The options as given, trimmed and without repeats; a clear answer when there are too few or too many."""
    seen: dict[str, str] = {}
    for option in options:
        text = " ".join(str(option).split()).strip(" ?.!,")[:100]
        if text and text.lower() not in seen:
            seen[text.lower()] = text
    cleaned = list(seen.values())
    if len(cleaned) < 2:
        raise UserFacingError(
            'A poll needs at least two different options — e.g. "poll: 28 May or 24 April?"',
            data={"needs": "options"},
        )
    if len(cleaned) > MAX_OPTIONS:
        raise UserFacingError(f"A poll can have up to {MAX_OPTIONS} options — which ones matter most?")
    return cleaned


@roadie_tool(
    summary="start a vote in the trip group — dates, hotels, seats, anything with options",
    write=True,
    examples=(
        "poll: 28 May or 24 April?",
        "let's vote on the dates",
        "make a poll: Brussels or Munich",
        "ask the group: standing or seated?",
        "create a poll for the hotel: City Inn, Grand Hotel or the hostel",
        "vote between Friday and Saturday",
        "start a vote on which show we go to",
        "poll the group about the dates",
        "let everyone vote: Lisbon or Madrid",
        "encuesta: sábado o domingo",
        "Umfrage: Freitag oder Samstag",
        "sondage : vendredi ou samedi",
        "enquete: sexta ou sábado",
        "can you run a poll for the group on the hotel",
        "set up a vote so we can pick the date",
        "get everyone to vote on where we stay",
        "new poll: which city?",
        "let's put the dates to a vote",
    ),
)
def create_poll(
    runtime: ToolRuntime[Any, Any],
    options: list[str] | None = None,
    question: str | None = None,
    hours_open: int | None = None,
    code: str | None = None,
) -> ToolAnswer:
    """Start a poll in the caller's trip group; every member votes once (changing a vote is fine) from any channel.

    It closes when everyone has voted or when its time is up, and the result is announced to the group.

    Args:
        options: The choices, e.g. ["28 May", "24 April"] (2 to 10).
        question: What is being decided, e.g. "Which date?".
        hours_open: How long voting stays open, in hours (default 48).
        code: The group's join code, if the person is in several groups.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    choices = clean_options(list(options or []))
    open_for = timedelta(hours=hours_open) if hours_open is not None else DEFAULT_OPEN
    if open_for <= timedelta(0) or open_for > MAX_OPEN:
        raise UserFacingError("A poll can stay open from one hour up to 30 days — how long should this one run?")
    with ctx.services.db.write_session() as session:
        group = my_group(session, ctx, code)
        if group.status != "open":
            raise UserFacingError(f"**{group.name}** is closed, so it can't start new polls.")
        poll = GroupPoll(
            reference=new_reference("P"),
            group_id=group.id,
            question=(question or "").strip()[:300] or "Which one?",
            options=choices,
            status="open",
            created_by=ctx.caller.person_id,
            created_at=now,
            closes_at=now + open_for,
        )
        session.add(poll)
        session.flush()
        who = name_of(ctx, session)
        payload = poll_payload(poll)
        tell_group(
            session,
            ctx,
            group,
            "poll_opened",
            Reply(
                f"{who} started a poll in **{group.name}**: {poll.question}",
                poll=Poll(**payload | {"options": tuple(choices)}),
            ),
            f"poll:{poll.id}:opened",
        )
        log_event(session, ctx, "poll", "create_poll", {"group": group.join_code, "poll": poll.reference})
        hours = int(open_for.total_seconds() // 3600)
        return ToolAnswer(
            f"Poll **{poll.reference}** for **{group.name}**: {poll.question}\n"
            + "\n".join(f"{n}. {option}" for n, option in enumerate(choices, start=1))
            + f"\nEveryone gets one vote; it closes when all {len(members(session, group))} members have voted or in {hours} hours.",
            data={"poll": payload, "group": group.join_code},
        )


@roadie_tool(
    summary="vote in a group poll",
    write=True,
    examples=(
        "vote P-7KQ2MX 2",
        "vote P7KQ2MX 1",
        "I vote for option 2",
        "my vote is the first one",
        "vote 1",
        "I vote for Saturday",
        "my vote goes to the Grand Hotel",
        "put me down for option 3",
        "voto por la segunda opción",
        "ich stimme für Freitag",
        "je vote pour Lisbonne",
        "voto no sábado",
    ),
)
def cast_vote(runtime: ToolRuntime[Any, Any], poll: str, option: int) -> ToolAnswer:
    """Vote in a group poll (members only); voting again changes the vote, so each member counts once.

    Args:
        poll: The poll reference, e.g. "P-7KQ2MX".
        option: The option number, from 1.
    """
    ctx = turn_context(runtime)
    now = ctx.services.clock.now()
    with ctx.services.db.write_session() as session:
        found = session.scalars(select(GroupPoll).where(GroupPoll.reference == normal_reference(poll))).first()
        group = session.get(TripGroup, found.group_id) if found else None
        if found is None or group is None or not is_member(session, group, ctx.caller.person_id):
            raise UserFacingError(f"I can't find a poll **{poll}** in your groups.")
        if found.status == "open" and found.closes_at <= now:
            close(session, ctx, found, group)
        if found.status != "open":
            return ToolAnswer(
                "That poll has closed, so the vote wasn't counted. " + result_text(found, tally(session, found)),
                ok=False,
                data={"poll": found.reference, "closed": True, "closes_poll": found.reference},
            )
        if not 1 <= option <= len(found.options):
            raise UserFacingError(
                f"Poll {found.reference} has options 1 to {len(found.options)}: "
                + ", ".join(f"{n}. {o}" for n, o in enumerate(found.options, start=1))
            )
        vote = session.scalars(
            select(PollVote).where(PollVote.poll_id == found.id, PollVote.person_id == ctx.caller.person_id)
        ).first()
        changed = vote is not None and vote.option != option - 1
        if vote is None:
            session.add(PollVote(poll_id=found.id, person_id=ctx.caller.person_id, option=option - 1, voted_at=now))
        else:
            vote.option, vote.voted_at = option - 1, now
        session.flush()
        voters = set(session.scalars(select(PollVote.person_id).where(PollVote.poll_id == found.id)))
        everyone = {m.person_id for m in members(session, group)}
        text = f"{'Changed your vote to' if changed else 'Voted for'} **{found.options[option - 1]}**."
        if everyone <= voters:
            text += " Everyone has voted. " + close(session, ctx, found, group)
        else:
            text += f" {len(voters & everyone)} of {len(everyone)} have voted."
        closed = found.status == "closed"
        data = {"poll": found.reference, "closed": closed} | ({"closes_poll": found.reference} if closed else {})
        return ToolAnswer(text, data=data)
