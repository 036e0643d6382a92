"""Roadie speaking first: a new tour date reaches the followers who want it, on their own app, exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from assistant import outbox
from assistant.clock import FixedClock
from assistant.db import Database
from assistant.messages import Reply
from assistant.models import Artist, Booking, Event, OutboxMessage, Person, SchedulerLease, TourChange, Venue
from assistant.scheduler import Job, Lease, Scheduler
from channels.base import SendRefused
from channels.fake import FakeChannel
from main import Roadie
from tests.conftest import NOW
from tools.alerts import DIGEST_HOUR, alert_followers, allowed_at, staff_digest_job, trip_reminders
from tools.tours import record_tour_change


async def followers_of_coldplay(roadie: Roadie) -> tuple[FakeChannel, FakeChannel]:
    """Ana (Telegram) and Ben (WhatsApp) follow Coldplay; Cy follows but turned tour alerts off; Dana said STOP."""
    telegram = FakeChannel(roadie.service.handle, name="telegram")
    whatsapp = FakeChannel(roadie.service.handle, name="whatsapp")
    for channel, who in ((telegram, "ana"), (whatsapp, "ben"), (telegram, "cy"), (whatsapp, "dana")):
        reply = await channel.say("follow Coldplay", user=who)
        assert reply is not None
        assert "following **Coldplay**" in reply.text
    off = await telegram.say("turn off tour alerts", user="cy")
    assert off is not None
    stop = await whatsapp.say("STOP", user="dana")
    assert stop is not None
    assert "START" in stop.text, "someone who stops is told how to come back"
    return telegram, whatsapp


def new_coldplay_date(roadie: Roadie) -> int:
    """Coldplay announce a second Wembley night; the change and its alerts are written together."""
    with roadie.services.db.write_session() as session:
        artist = session.scalars(select(Artist).where(Artist.name == "Coldplay")).one()
        venue = session.scalars(select(Venue).where(Venue.name == "Wembley Stadium")).one()
        starts = NOW + timedelta(days=150)
        event = Event(
            artist_id=artist.id,
            venue_id=venue.id,
            tour_name="Music of the Spheres",
            starts_at=starts,
            doors_at=starts - timedelta(hours=2),
            status="scheduled",
            announced_at=NOW,
        )
        session.add(event)
        session.flush()
        return record_tour_change(session, event, "announced", {"venue": venue.name}, NOW)


async def deliver(roadie: Roadie, *channels: FakeChannel) -> outbox.DeliveryReport:
    return await outbox.deliver_due(roadie.services.db, {c.name: c for c in channels}, NOW, refusal=SendRefused)


async def test_a_new_date_reaches_each_follower_who_wants_it_once(roadie: Roadie) -> None:
    telegram, whatsapp = await followers_of_coldplay(roadie)
    new_coldplay_date(roadie)
    with roadie.services.db.write_session() as session:
        change = session.scalars(select(TourChange).order_by(TourChange.id.desc())).first()
        assert change is not None
        assert alert_followers(session, change, NOW).queued == 0, "alerting the same change again queues nothing"
    await asyncio.gather(deliver(roadie, telegram, whatsapp), deliver(roadie, telegram, whatsapp))
    await deliver(roadie, telegram, whatsapp)
    ours = {"ana", "ben", "cy", "dana"}  # the demo catalogue's own fans are followers too
    assert [address for address, _ in telegram.sent if address in ours] == ["ana"]
    assert [address for address, _ in whatsapp.sent if address in ours] == ["ben"]
    assert len({address for address, _ in telegram.sent + whatsapp.sent}) == len(telegram.sent + whatsapp.sent)
    alert = next(reply for address, reply in telegram.sent if address == "ana")
    assert "**Coldplay** announced a new date: Wembley Stadium, London" in alert.text
    assert alert.buttons[0].value.startswith("plan a trip to Coldplay in London on")
    with roadie.services.db.session() as session:
        dana = session.scalars(
            select(OutboxMessage)
            .join(Person, Person.id == OutboxMessage.person_id)
            .where(Person.display_name == "dana")
        ).one()
        assert (dana.status, dana.last_error) == ("refused", "no channel the person can be reached on")


async def test_a_dispatcher_dying_mid_batch_loses_nothing_and_repeats_nothing(roadie: Roadie) -> None:
    telegram, _ = await followers_of_coldplay(roadie)
    for extra in ("eve", "finn", "gus"):
        await telegram.say("follow Coldplay", user=extra)
    new_coldplay_date(roadie)

    class Dies(FakeChannel):
        async def send(self, address: str, reply: object) -> None:
            if len(self.sent) == 2:
                raise asyncio.CancelledError  # the process is killed before the third message goes out
            await super().send(address, reply)  # type: ignore[arg-type]

    dying = Dies(roadie.service.handle, name="telegram")
    with pytest.raises(asyncio.CancelledError):
        await outbox.deliver_due(roadie.services.db, {"telegram": dying}, NOW, refusal=SendRefused)
    later = NOW + timedelta(minutes=15)  # the dead dispatcher's claim has lapsed
    await outbox.deliver_due(roadie.services.db, {"telegram": telegram}, later, refusal=SendRefused)
    got = [a for a, _ in dying.sent] + [a for a, _ in telegram.sent]
    assert len(got) == len(set(got)), "nobody hears it twice"
    assert {"ana", "eve", "finn", "gus"} <= set(got), "and nobody is left out"


async def test_trip_reminders_come_a_week_and_a_day_before_once_each(roadie: Roadie) -> None:
    with roadie.services.db.write_session() as session:
        booking = session.scalars(
            select(Booking).join(Event).where(Booking.status == "paid", Event.starts_at > NOW + timedelta(days=9))
        ).first()
        assert booking is not None
        event = session.get_one(Event, booking.event_id)
        person = session.get_one(Person, booking.person_id)
        person.notify = {**(person.notify or {}), "quiet_hours": [0, 0]}
        starts = event.starts_at
    for days, expected in ((8, 0), (7, 1), (7, 0), (3, 0), (1, 1)):
        with roadie.services.db.write_session() as session:
            report = trip_reminders(session, starts - timedelta(days=days, hours=2))
            mine = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.dedupe_key.like(f"remind:{booking.id}:%"))
            )
        assert report.queued >= expected
        assert mine == {8: 0, 7: 1, 3: 1, 1: 2}[days]


def test_quiet_hours_hold_a_message_until_morning_where_the_person_lives(roadie: Roadie) -> None:
    with roadie.services.db.write_session() as session:
        person = Person(display_name="Ana", home_city="London", created_at=NOW)
        session.add(person)
        late = NOW.replace(hour=23, minute=30)  # 23:30 in London in November
        assert allowed_at(session, person, late) == (NOW + timedelta(days=1)).replace(hour=8, minute=0)
        assert allowed_at(session, person, NOW) == NOW


def test_only_one_scheduler_fires_and_the_other_takes_over_when_it_lapses(roadie: Roadie) -> None:
    clock = FixedClock(NOW)
    fired: list[str] = []
    first = Scheduler(
        roadie.services.db, clock, [Job("count", timedelta(minutes=1), lambda now: fired.append("first"))]
    )
    second = Scheduler(
        roadie.services.db, clock, [Job("count", timedelta(minutes=1), lambda now: fired.append("second"))]
    )
    assert first.run_once() == ["count"]
    assert second.run_once() == [], "the second scheduler stands by while the first holds the lease"
    assert first.run_once() == ["count"]
    clock.set(NOW + timedelta(minutes=5))  # the first died: its lease lapsed
    assert second.run_once() == ["count"]
    assert first.run_once() == []
    assert fired == ["first", "first", "second"]


def test_two_schedulers_on_postgresql_never_both_lead(postgres_database: str) -> None:
    db = Database(postgres_database)
    db.migrate()
    clock = FixedClock(NOW)
    leases = [Lease(db, clock) for _ in range(6)]
    held = [lease.acquire() for lease in leases]
    assert held.count(True) == 1
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SchedulerLease)) == 1
    db.dispose()


async def test_staff_see_what_failed_and_why_and_can_send_it_again(roadie: Roadie) -> None:
    telegram, whatsapp = await followers_of_coldplay(roadie)
    new_coldplay_date(roadie)
    staff = FakeChannel(roadie.service.handle, name="slack")
    status = await staff.say("outbox status", user="sam", role="staff")
    assert status is not None
    assert "tour_alert" in status.text
    assert "no channel the person can be reached on" in status.text, "Dana's STOP is the reason her alert did not go"
    refused = re.search(r"#(\d+) tour_alert to nobody reachable — refused", status.text)
    assert refused, status.text
    assert (
        "still has nobody to go to"
        in (await staff.say(f"resend message {refused.group(1)}", user="sam", role="staff") or Reply("")).text
    )
    await whatsapp.say("START", user="dana")
    again = await staff.say(f"resend message {refused.group(1)}", user="sam", role="staff")
    assert again is not None
    assert "is queued again for whatsapp" in again.text
    await deliver(roadie, telegram, whatsapp)
    assert "dana" in [address for address, _ in whatsapp.sent]
    traveller = await telegram.say("outbox status", user="ana")
    assert traveller is not None
    assert "tour_alert" not in traveller.text, "travellers never see the outbox"


async def test_staff_get_yesterdays_digest_once_a_day_in_their_slack_channel(roadie: Roadie) -> None:
    services = dataclasses.replace(
        roadie.services, settings=roadie.settings.model_copy(update={"slack_staff_channel": "C0STAFF"})
    )
    early = NOW.replace(hour=DIGEST_HOUR - 1)
    assert staff_digest_job(services, early).queued == 0, "no digest before the morning hour"
    assert staff_digest_job(services, NOW).queued == 1
    assert staff_digest_job(services, NOW + timedelta(hours=1)).queued == 0, "one digest a day"
    slack = FakeChannel(roadie.service.handle, name="slack")
    await deliver(roadie, slack)
    [(address, digest)] = [(a, r) for a, r in slack.sent if "daily digest" in r.text]
    assert address == "C0STAFF"
    assert digest.text.startswith("**Roadie daily digest — Fri 20 Nov 2026**")
    assert digest.image is not None, "the 14-day revenue chart goes with it"


async def test_without_a_staff_channel_each_staff_member_gets_the_digest_where_they_talk(roadie: Roadie) -> None:
    web = FakeChannel(roadie.service.handle, name="web")
    await web.say("hi", user="sam-ops", role="staff")
    later = NOW + timedelta(days=1)
    queued = staff_digest_job(roadie.services, later).queued
    assert queued >= 1
    with roadie.services.db.session() as session:
        staff = session.scalar(select(func.count()).select_from(Person).where(Person.role == "staff"))
        rows = session.scalar(select(func.count()).where(OutboxMessage.dedupe_key.like("digest:2026-11-21:person:%")))
    assert rows == staff, "every staff member's digest is accounted for (refused with the reason when unreachable)"
    await outbox.deliver_due(roadie.services.db, {"web": web}, later, refusal=SendRefused)
    assert any(address == "sam-ops" and "Sat 21 Nov 2026" in reply.text for address, reply in web.sent)
