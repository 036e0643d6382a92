"""Roadie speaking first: tour alerts, trip reminders, money owed in a group, poll deadlines, shows near you — once each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from langchain.tools import ToolRuntime
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from assistant import outbox
from assistant.context import Caller, Services, TurnContext
from assistant.messages import Button, Reply
from assistant.models import (
    Booking,
    Event,
    Follow,
    GroupPoll,
    OutboxMessage,
    Person,
    TourChange,
    TripGroup,
    Venue,
)
from assistant.money import format_money
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import describe_when, local_time, upcoming

QUIET = (22, 8)  # local hours: nothing is sent from 22:00 to 08:00 unless the person set other hours
DAILY_CAP = 5  # proactive messages a person gets in 24 hours; more wait for the next day
PREFERENCE = {  # which of the person's alert settings allows each kind (all on unless they turned it off)
    "tour_alert": "tour_alerts",
    "trip_reminder": "reminders",
    "group_owes": "reminders",
    "shows_near_you": "weekly",
}
DEFAULT_ON = {"tour_alerts": True, "reminders": True, "weekly": False}


@dataclass
class JobReport:
    """What a job did."""

    queued: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def __str__(self) -> str:
        skipped = ", ".join(f"{n} {why}" for why, n in self.skipped.items())
        return f"{self.queued} queued" + (f"; skipped {skipped}" if skipped else "")


def person_zone(session: Session, person: Person) -> ZoneInfo | None:
    """The person's time zone, from their home city."""
    if not person.home_city:
        return None
    zone = session.scalars(select(Venue.timezone).where(Venue.city == person.home_city)).first()
    return ZoneInfo(zone) if zone else None


def allowed_at(session: Session, person: Person, now: datetime) -> datetime:
    """The first moment from `now` outside the person's quiet hours, in their time zone."""
    zone = person_zone(session, person)
    if zone is None:
        return now
    start, end = (person.notify or {}).get("quiet_hours") or QUIET
    local = now.astimezone(zone)
    quiet = local.hour >= start or local.hour < end if start > end else start <= local.hour < end
    if not quiet:
        return now
    morning = datetime.combine(local.date() + timedelta(days=1 if local.hour >= end else 0), time(end), zone)
    return morning.astimezone(now.tzinfo)


def notify(
    session: Session, person: Person, kind: str, reply: Reply, key: str, now: datetime, report: JobReport
) -> None:
    """Queue one proactive message if the person wants this kind; quiet hours and the daily cap move it later."""
    setting = PREFERENCE.get(kind)
    if setting and not (person.notify or {}).get(setting, DEFAULT_ON.get(setting, True)):
        report.skip("turned off")
        return
    due = allowed_at(session, person, now)
    recent = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.person_id == person.id,
            OutboxMessage.due_at > due - timedelta(hours=24),
            OutboxMessage.status != "refused",
        )
    )
    if (recent or 0) >= DAILY_CAP:
        due += timedelta(hours=24)
    if outbox.enqueue(session, person_id=person.id, kind=kind, reply=reply, dedupe_key=key, due_at=due, now=now):
        report.queued += 1
    else:
        report.skip("already sent or unreachable")


def alert_followers(session: Session, change: TourChange, now: datetime) -> JobReport:
    """A new, moved or cancelled date → each follower who wants tour alerts, nearest dates first, once.

    Called in the transaction that records the change, so the alert exists exactly when the change does.
    """
    report = JobReport()
    event = session.get(Event, change.event_id, options=[joinedload(Event.artist), joinedload(Event.venue)])
    if event is None:
        return report
    followers = session.scalars(
        select(Person).join(Follow, Follow.person_id == Person.id).where(Follow.artist_id == change.artist_id)
    ).all()
    for person in followers:
        reply = _tour_reply(session, person, event, change.kind, now)
        notify(session, person, "tour_alert", reply, f"tour:{change.id}:{person.id}", now, report)
    return report


def _tour_reply(session: Session, person: Person, event: Event, kind: str, now: datetime) -> Reply:
    what = {"announced": "announced a new date", "rescheduled": "moved a date", "cancelled": "cancelled a date"}.get(
        kind, "changed a date"
    )
    lines = [f"**{event.artist.name}** {what}: {event.venue.name}, {event.venue.city} — {describe_when(event)}."]
    others = list(session.scalars(upcoming(now).where(Event.artist_id == event.artist_id)).unique())
    home = session.scalars(select(Venue).where(Venue.city == person.home_city)).first() if person.home_city else None
    if home is not None and others:
        nearest = sorted(others, key=lambda e: _km(home, e.venue))[:3]
        lines.append(
            f"Nearest to {home.city}: " + "; ".join(f"{e.venue.city} {describe_when(e)}" for e in nearest) + "."
        )
    day = local_time(event.starts_at, event.venue.timezone)
    buttons = (
        []
        if kind == "cancelled"
        else [Button("Plan a trip", f"plan a trip to {event.artist.name} in {event.venue.city} on {day:%-d %B %Y}")]
    )
    lines.append("Reply STOP to pause alerts here.")
    return Reply("\n".join(lines), buttons=buttons)


def _km(a: Venue, b: Venue) -> float:
    from math import asin, cos, radians, sin, sqrt

    dlat, dlon = radians(b.latitude - a.latitude), radians(b.longitude - a.longitude)
    h = sin(dlat / 2) ** 2 + cos(radians(a.latitude)) * cos(radians(b.latitude)) * sin(dlon / 2) ** 2
    return 12742 * asin(sqrt(h))


def trip_reminders(session: Session, now: datetime) -> JobReport:
    """Booked trips a week and a day before the show, by the calendar where the traveller lives."""
    report = JobReport()
    bookings = session.scalars(
        select(Booking)
        .join(Event, Event.id == Booking.event_id)
        .where(
            Booking.status.in_(("paid", "confirmed")), Event.starts_at > now, Event.starts_at < now + timedelta(days=8)
        )
        .options(joinedload(Booking.event).joinedload(Event.artist), joinedload(Booking.event).joinedload(Event.venue))
    ).all()
    for booking in bookings:
        person = session.get(Person, booking.person_id) if booking.person_id else None
        if person is None:
            continue
        zone = person_zone(session, person) or ZoneInfo(booking.event.venue.timezone)
        days = (
            local_time(booking.event.starts_at, booking.event.venue.timezone).date() - now.astimezone(zone).date()
        ).days
        if days not in (7, 1):
            continue
        event = booking.event
        when = "tomorrow" if days == 1 else "in a week"
        reply = Reply(
            f"Your trip is {when}: **{event.artist.name}** at {event.venue.name}, {event.venue.city} — "
            f"{describe_when(event)}, booking {booking.reference}. Doors open "
            f"{local_time(event.doors_at, event.venue.timezone):%H:%M}; keep your booking reference to hand.",
            buttons=[
                Button("Getting there", f"how do I get to {event.venue.name} from the airport?"),
                Button("Bag policy", f"can I bring a bag into {event.venue.name}?"),
            ],
        )
        notify(session, person, "trip_reminder", reply, f"remind:{booking.id}:{days}", now, report)
    return report


def group_payment_reminders(session: Session, now: datetime) -> JobReport:
    """Members who still owe money in a group: a nudge once a week."""
    from tools.expenses import group_balances

    report = JobReport()
    week = now.strftime("%G-W%V")
    for group in session.scalars(select(TripGroup)).all():
        for person_id, balance in group_balances(session, group).items():
            person = session.get(Person, person_id)
            if balance >= 0 or person is None:
                continue
            reply = Reply(
                f"You owe {format_money(-balance, group.currency)} in **{group.name}**. "
                'Say "settle up" to see who to pay.',
                buttons=[Button("Settle up", f"settle up {group.join_code}")],
            )
            notify(session, person, "group_owes", reply, f"owes:{group.id}:{person_id}:{week}", now, report)
    return report


def poll_deadlines(services: Services, session: Session, now: datetime) -> JobReport:
    """Polls whose time is up are closed, and the group hears the result."""
    from tools.polls import close

    report = JobReport()
    ctx = TurnContext(Caller(person_id=0, role="staff", channel="scheduler", conversation="scheduler"), services)
    for poll in session.scalars(select(GroupPoll).where(GroupPoll.status == "open", GroupPoll.closes_at <= now)).all():
        group = session.get_one(TripGroup, poll.group_id)
        close(session, ctx, poll, group)
        report.queued += 1
    return report


def shows_near_you(session: Session, now: datetime) -> JobReport:
    """Once a week, for people who asked for it: shows in their country in the next 30 days."""
    report = JobReport()
    week = now.strftime("%G-W%V")
    for person in session.scalars(select(Person).where(Person.home_city.is_not(None))).all():
        if not (person.notify or {}).get("weekly"):
            continue
        country = session.scalars(select(Venue.country).where(Venue.city == person.home_city)).first()
        shows = list(
            session.scalars(
                upcoming(now).where(Venue.country == country, Event.starts_at < now + timedelta(days=30))
            ).unique()
        )[:5]
        if not shows:
            continue
        lines = [f"Shows in {country} in the next 30 days:"] + [
            f"- {e.artist.name}, {e.venue.city} — {describe_when(e)}" for e in shows
        ]
        notify(session, person, "shows_near_you", Reply("\n".join(lines)), f"weekly:{person.id}:{week}", now, report)
    return report


def run_job(services: Services, name: str, now: datetime) -> Any:
    """Run one job by name in its own transaction (the scheduler calls this)."""
    with services.db.write_session() as session:
        if name == "poll_deadlines":
            return poll_deadlines(services, session, now)
        return JOBS[name](session, now)


JOBS = {
    "trip_reminders": trip_reminders,
    "group_payment_reminders": group_payment_reminders,
    "shows_near_you": shows_near_you,
}


@roadie_tool(
    summary="staff: what proactive messages are queued, sent, refused or failed, and why",
    staff_only=True,
    examples=(
        "what's in the outbox?",
        "show failed messages",
        "why did alerts fail?",
        "how many alerts are queued",
        "outbox status",
        "which notifications were refused",
        "did the reminders go out?",
    ),
)
def outbox_status(runtime: ToolRuntime[Any, Any], hours: int = 24) -> ToolAnswer:
    """Staff only: the outbox over the last hours — counts by status and kind, and the latest failures with their reasons.

    Args:
        hours: How far back to look, in hours (default 24).
    """
    ctx = turn_context(runtime)
    if ctx.caller.role != "staff":
        raise UserFacingError("That's for Roadie's staff only.")
    since = ctx.services.clock.now() - timedelta(hours=max(1, min(hours, 24 * 30)))
    with ctx.services.db.session() as session:
        counts = session.execute(
            select(OutboxMessage.status, OutboxMessage.kind, func.count())
            .where(OutboxMessage.created_at >= since)
            .group_by(OutboxMessage.status, OutboxMessage.kind)
            .order_by(OutboxMessage.status, OutboxMessage.kind)
        ).all()
        failed = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.created_at >= since, OutboxMessage.status.in_(("failed", "refused")))
            .order_by(OutboxMessage.id.desc())
            .limit(10)
        ).all()
    if not counts:
        return ToolAnswer(f"Nothing went through the outbox in the last {hours} hours.", data={"counts": {}})
    lines = [f"Outbox, last {hours} hours:", "```", f"{'status':<10} {'kind':<16} {'count':>6}"]
    lines += [f"{status:<10} {kind:<16} {n:>6}" for status, kind, n in counts]
    lines.append("```")
    if failed:
        lines.append("Latest failed or refused:")
        lines += [
            f"- #{m.id} {m.kind} to {f'{m.channel}:{m.address}' if m.address else 'nobody reachable'} — "
            f"{m.status}: {m.last_error}"
            for m in failed
        ]
        lines.append('Say "resend message N" to queue one again.')
    return ToolAnswer(
        "\n".join(lines), data={"counts": {f"{s}:{k}": n for s, k, n in counts}, "failed": [m.id for m in failed]}
    )


@roadie_tool(
    summary="staff: queue a failed or refused proactive message again",
    write=True,
    staff_only=True,
    examples=("resend message 42", "retry outbox message 17", "send message 8 again"),
)
def resend_message(runtime: ToolRuntime[Any, Any], message: int) -> ToolAnswer:
    """Staff only: queue a failed or refused outbox message again, due now (sent or waiting ones are left alone).

    Args:
        message: The outbox message number, as outbox_status shows it.
    """
    ctx = turn_context(runtime)
    if ctx.caller.role != "staff":
        raise UserFacingError("That's for Roadie's staff only.")
    now = ctx.services.clock.now()
    with ctx.services.db.write_session() as session:
        row = session.get(OutboxMessage, message)
        if row is None:
            raise UserFacingError(f"There's no outbox message #{message}.")
        if row.status not in ("failed", "refused"):
            return ToolAnswer(f"Message #{message} is {row.status}; only failed or refused ones are resent.")
        if not row.address:
            found = outbox.reachable(session, row.person_id) if row.person_id else None
            if found is None:
                raise UserFacingError(f"Message #{message} still has nobody to go to: {row.last_error}.")
            row.channel, row.address = found
        row.status, row.attempts, row.due_at, row.last_error = "queued", 0, now, None
        return ToolAnswer(
            f"Message #{message} ({row.kind}) is queued again for {row.channel}.", data={"resent": message}
        )
