"""Roadie speaking first: tour alerts, trip reminders, money owed in a group, poll deadlines, shows near you — once each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
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
    ChannelIdentity,
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


class Audience:
    """What proactive messages to many people need, loaded once: time zones, today's counts and addresses."""

    def __init__(self, session: Session, people: list[Person], now: datetime) -> None:
        self.session = session
        ids = [p.id for p in people]
        self.zones = {city: ZoneInfo(zone) for city, zone in session.execute(select(Venue.city, Venue.timezone))}
        self.recent: dict[int, int] = {}
        self.addresses: dict[int, tuple[str, str]] = {}
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            counted = session.execute(
                select(OutboxMessage.person_id, func.count())
                .where(
                    OutboxMessage.person_id.in_(chunk),
                    OutboxMessage.due_at > now - timedelta(hours=24),
                    OutboxMessage.status != "refused",
                )
                .group_by(OutboxMessage.person_id)
            ).all()
            self.recent.update({person_id: n for person_id, n in counted if person_id is not None})
            rows = session.execute(
                select(ChannelIdentity.person_id, ChannelIdentity.channel, ChannelIdentity.external_id)
                .where(ChannelIdentity.person_id.in_(chunk), ChannelIdentity.opted_out_at.is_(None))
                .order_by(ChannelIdentity.last_seen_at.asc().nulls_first(), ChannelIdentity.id)
            ).all()
            self.addresses.update({person_id: (channel, address) for person_id, channel, address in rows})

    def zone(self, person: Person) -> ZoneInfo | None:
        """The person's time zone, from their home city."""
        return self.zones.get(person.home_city or "")


def allowed_at(session: Session, person: Person, now: datetime, audience: Audience | None = None) -> datetime:
    """The first moment from `now` outside the person's quiet hours, in their time zone."""
    zone = (audience or Audience(session, [], now)).zone(person)
    if zone is None:
        return now
    start, end = (person.notify or {}).get("quiet_hours") or QUIET
    local = now.astimezone(zone)
    quiet = local.hour >= start or local.hour < end if start > end else start <= local.hour < end
    if not quiet:
        return now
    morning = datetime.combine(local.date() + timedelta(days=1 if local.hour >= end else 0), time(end), zone)
    return morning.astimezone(now.tzinfo)


def outgoing(
    audience: Audience, person: Person, kind: str, reply: Reply, key: str, now: datetime, report: JobReport
) -> outbox.Outgoing | None:
    """The message for one person, if they want this kind: quiet hours and the daily cap move it later."""
    setting = PREFERENCE.get(kind)
    if setting and not (person.notify or {}).get(setting, DEFAULT_ON.get(setting, True)):
        report.skip("turned off")
        return None
    due = allowed_at(audience.session, person, now, audience)
    if audience.recent.get(person.id, 0) >= DAILY_CAP:
        due += timedelta(hours=24)
    audience.recent[person.id] = audience.recent.get(person.id, 0) + 1
    channel, address = audience.addresses.get(person.id, ("", ""))
    return outbox.Outgoing(person.id, kind, reply, key, due, channel, address)


def queue(audience: Audience, messages: list[outbox.Outgoing | None], now: datetime, report: JobReport) -> None:
    """Queue the messages once each (keys seen before are skipped) and count them in the report."""
    wanted = [m for m in messages if m is not None]
    queued = outbox.enqueue_many(audience.session, wanted, now)
    report.queued += queued
    if len(wanted) > queued:
        report.skip("already sent or unreachable")


def notify(
    audience: Audience, person: Person, kind: str, reply: Reply, key: str, now: datetime, report: JobReport
) -> None:
    """Queue one proactive message, as `outgoing` decides."""
    queue(audience, [outgoing(audience, person, kind, reply, key, now, report)], now, report)


def alert_followers(session: Session, change: TourChange, now: datetime) -> JobReport:
    """A new, moved or cancelled date → each follower who wants tour alerts, nearest dates first, once.

    Called in the transaction that records the change, so the alert exists exactly when the change does.
    """
    report = JobReport()
    event = session.get(Event, change.event_id, options=[joinedload(Event.artist), joinedload(Event.venue)])
    if event is None:
        return report
    followers = list(
        session.scalars(
            select(Person).join(Follow, Follow.person_id == Person.id).where(Follow.artist_id == change.artist_id)
        )
    )
    audience = Audience(session, followers, now)
    replies: dict[str | None, Reply] = {}  # the alert reads the same for everyone in one home city
    messages = []
    for person in followers:
        if person.home_city not in replies:
            replies[person.home_city] = _tour_reply(session, person, event, change.kind, now)
        key = f"tour:{change.id}:{person.id}"
        messages.append(outgoing(audience, person, "tour_alert", replies[person.home_city], key, now, report))
    queue(audience, messages, now, report)
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
        zone = Audience(session, [], now).zone(person) or ZoneInfo(booking.event.venue.timezone)
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
        notify(
            Audience(session, [person], now), person, "trip_reminder", reply, f"remind:{booking.id}:{days}", now, report
        )
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
            notify(
                Audience(session, [person], now),
                person,
                "group_owes",
                reply,
                f"owes:{group.id}:{person_id}:{week}",
                now,
                report,
            )
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
        notify(
            Audience(session, [person], now),
            person,
            "shows_near_you",
            Reply("\n".join(lines)),
            f"weekly:{person.id}:{week}",
            now,
            report,
        )
    return report


DIGEST_HOUR = 8  # UTC: staff get yesterday's numbers from 08:00, once a day


def staff_digest_job(services: Services, now: datetime) -> JobReport:
    """Once a day from DIGEST_HOUR: yesterday's digest to the Slack staff channel, or else to each staff member."""
    report = JobReport()
    if now.astimezone(UTC).hour < DIGEST_HOUR:
        return report
    from tools.analytics import staff_digest  # analytics pulls in charts; only the digest needs them

    day = (now.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    with services.db.session() as session:
        sent = session.scalar(select(func.count()).where(OutboxMessage.dedupe_key.like(f"digest:{day}:%")))
        staff = list(session.scalars(select(Person.id).where(Person.role == "staff").order_by(Person.id)))
    channel = services.settings.slack_staff_channel.strip()
    if sent or not (channel or staff):
        return report
    digest = staff_digest(services, now)  # reads only; computed outside the write transaction
    with services.db.write_session() as session:
        if channel:
            queued = outbox.enqueue(
                session,
                person_id=None,
                kind="staff_digest",
                reply=digest,
                dedupe_key=f"digest:{day}:slack:{channel}",
                due_at=now,
                channel="slack",
                address=channel,
            )
            report.queued += int(queued)
        else:
            for person_id in staff:
                queued = outbox.enqueue(
                    session,
                    person_id=person_id,
                    kind="staff_digest",
                    reply=digest,
                    dedupe_key=f"digest:{day}:person:{person_id}",
                    due_at=now,
                )
                report.queued += int(queued)
    return report


def run_job(services: Services, name: str, now: datetime) -> Any:
    """Run one job by name in its own transaction (the scheduler calls this)."""
    if name == "staff_digest":
        return staff_digest_job(services, now)
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
