"""Roadie speaking first: messages queued in the outbox reach travellers once, where they can be reached.

The database is the real one (a copy of the demo database, or PostgreSQL when reachable); the channels are
FakeChannels that keep what they were sent, or small stand-ins that refuse or break the way platforms do.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from assistant.clock import FixedClock
from assistant.db import Database
from assistant.messages import Button, Poll, Reply
from assistant.models import ChannelIdentity, OutboxMessage, Person
from assistant.outbox import DeliveryReport, Sender, deliver_due, enqueue, reachable
from channels.base import SendRefused
from channels.fake import FakeChannel
from main import Roadie, outbox_delivery
from tests.conftest import NOW


def traveller(db: Database, name: str, *identities: tuple[str, str, datetime]) -> int:
    """A person known on each (channel, external id, last seen) given; returns their id."""
    with db.session() as session:
        person = Person(display_name=name, created_at=NOW - timedelta(days=30))
        session.add(person)
        session.flush()
        for channel, external_id, seen in identities:
            session.add(
                ChannelIdentity(person_id=person.id, channel=channel, external_id=external_id, last_seen_at=seen)
            )
        return person.id


def say_stop(db: Database, channel: str, external_id: str) -> None:
    with db.session() as session:
        identity = session.scalars(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        ).one()
        identity.opted_out_at = NOW - timedelta(hours=1)


def queue(
    db: Database, person_id: int, text: str, key: str, due_at: datetime = NOW, channel: str | None = None
) -> bool:
    with db.session() as session:
        return enqueue(
            session,
            person_id=person_id,
            kind="group_notice",
            reply=Reply(text),
            dedupe_key=key,
            due_at=due_at,
            channel=channel,
        )


def outbox_row(db: Database, key: str) -> OutboxMessage:
    with db.session() as session:
        return session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()


async def deliver(db: Database, *channels: Sender, now: datetime = NOW) -> DeliveryReport:
    return await deliver_due(db, {c.name: c for c in channels}, now, refusal=SendRefused)


@dataclass
class ClosedWindow:
    """WhatsApp for someone who last wrote two days ago, with no approved template: every send is refused."""

    name: str = "whatsapp"
    tried: int = 0

    async def send(self, address: str, reply: Reply) -> None:
        self.tried += 1
        raise SendRefused("outside the 24-hour WhatsApp session window and no template is configured")


@dataclass
class Outage:
    """A platform that is down: every send fails with a connection error until `up` is set."""

    name: str = "telegram"
    up: bool = False
    tried: int = 0
    sent: list[tuple[str, Reply]] = field(default_factory=list)

    async def send(self, address: str, reply: Reply) -> None:
        self.tried += 1
        if not self.up:
            raise ConnectionError("api.telegram.org: connection reset")
        self.sent.append((address, reply))


@pytest.fixture
def db(roadie: Roadie) -> Database:
    return roadie.services.db


@pytest.fixture
def telegram(roadie: Roadie) -> FakeChannel:
    return FakeChannel(roadie.service.handle, name="telegram")


@pytest.fixture
def whatsapp(roadie: Roadie) -> FakeChannel:
    return FakeChannel(roadie.service.handle, name="whatsapp")


async def test_ana_hears_that_bruno_joined_her_group_once_even_with_two_dispatchers(
    db: Database, telegram: FakeChannel
) -> None:
    ana = traveller(db, "Ana", ("telegram", "5001", NOW))
    notice = Reply(
        "**Bruno** joined *Lisbon weekend*. Vote on the hotel:",
        buttons=[Button("See the group", "group status")],
        poll=Poll("p7", "Which hotel?", ("Tivoli", "Lumiares")),
        image="/media/lisbon.png",
    )
    with db.session() as session:
        assert enqueue(
            session, person_id=ana, kind="group_joined", reply=notice, dedupe_key="g1:joined:bruno", due_at=NOW
        )
    other_worker = Database(db.url)
    try:
        reports = await asyncio.gather(
            deliver_due(db, {"telegram": telegram}, NOW, refusal=SendRefused),
            deliver_due(other_worker, {"telegram": telegram}, NOW, refusal=SendRefused),
        )
    finally:
        other_worker.dispose()

    assert telegram.sent == [("5001", notice)]  # the text, buttons, poll and image survive the outbox
    assert sorted(r.sent for r in reports) == [0, 1]
    row = outbox_row(db, "g1:joined:bruno")
    assert (row.status, row.sent_at, row.attempts, row.due_at) == ("sent", NOW, 1, NOW)
    assert (await deliver(db, telegram)).handled == 0
    assert len(telegram.sent) == 1


async def test_a_busy_evening_of_notices_is_shared_by_two_dispatchers_without_repeats(
    db: Database, telegram: FakeChannel
) -> None:
    people = [traveller(db, f"fan{i}", ("telegram", f"61{i:02d}", NOW)) for i in range(30)]
    for person in people:
        queue(db, person, "Your group's flight is now €20 cheaper", f"drop:{person}")
    other_worker = Database(db.url)
    try:
        reports = await asyncio.gather(
            deliver_due(db, {"telegram": telegram}, NOW, limit=20, refusal=SendRefused),
            deliver_due(other_worker, {"telegram": telegram}, NOW, limit=20, refusal=SendRefused),
        )
    finally:
        other_worker.dispose()

    addresses = [address for address, _ in telegram.sent]
    assert sorted(addresses) == sorted(f"61{i:02d}" for i in range(30))
    assert sum(r.sent for r in reports) == 30


async def test_the_same_group_notice_is_queued_once_and_the_callers_transaction_goes_on(
    db: Database, telegram: FakeChannel
) -> None:
    carla = traveller(db, "Carla", ("telegram", "5002", NOW))
    with db.session() as session:
        first = enqueue(
            session, person_id=carla, kind="group_joined", reply=Reply("Dani joined"), dedupe_key="g2:dani", due_at=NOW
        )
        again = enqueue(
            session, person_id=carla, kind="group_joined", reply=Reply("Dani joined"), dedupe_key="g2:dani", due_at=NOW
        )
        session.add(Person(display_name="Dani", created_at=NOW))  # the caller's own write still commits
        later = enqueue(
            session, person_id=carla, kind="group_poll", reply=Reply("New poll"), dedupe_key="g2:poll", due_at=NOW
        )
    assert (first, again, later) == (True, False, True)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person).where(Person.display_name == "Dani")) == 1
    assert queue(db, carla, "Dani joined", "g2:dani") is False

    await deliver(db, telegram)
    assert [reply.text for _, reply in telegram.sent] == ["Dani joined", "New poll"]


async def test_after_stop_on_telegram_eva_is_reached_on_whatsapp(
    db: Database, telegram: FakeChannel, whatsapp: FakeChannel
) -> None:
    eva = traveller(
        db,
        "Eva",
        ("telegram", "5003", NOW - timedelta(hours=1)),
        ("whatsapp", "+351910000003", NOW - timedelta(days=3)),
    )
    with db.session() as session:
        assert reachable(session, eva) == ("telegram", "5003")
    say_stop(db, "telegram", "5003")
    with db.session() as session:
        assert reachable(session, eva) == ("whatsapp", "+351910000003")

    assert queue(db, eva, "Vote closes tonight: Tivoli or Lumiares?", "g3:reminder")
    await deliver(db, telegram, whatsapp)
    assert telegram.sent == []
    assert [(address, reply.text) for address, reply in whatsapp.sent] == [
        ("+351910000003", "Vote closes tonight: Tivoli or Lumiares?")
    ]


async def test_after_stop_on_his_only_channel_filipe_gets_nothing_and_the_outbox_says_why(
    db: Database, telegram: FakeChannel
) -> None:
    filipe = traveller(db, "Filipe", ("telegram", "5004", NOW))
    say_stop(db, "telegram", "5004")

    assert queue(db, filipe, "Gil joined your group", "g4:gil") is False
    assert queue(db, filipe, "Gil joined your group", "g5:gil", channel="telegram") is False
    report = await deliver(db, telegram)

    assert telegram.sent == []
    assert report.handled == 0
    for key in ("g4:gil", "g5:gil"):
        row = outbox_row(db, key)
        assert (row.status, row.last_error) == ("refused", "no channel the person can be reached on")


async def test_whatsapp_refusing_outside_the_session_window_is_recorded_not_retried(db: Database) -> None:
    hugo = traveller(db, "Hugo", ("whatsapp", "+351910000005", NOW - timedelta(days=2)))
    queue(db, hugo, "Your group trip to Lisbon is in 3 days", "g6:reminder")
    closed = ClosedWindow()

    report = await deliver(db, closed)
    assert (report.refused, report.retrying) == (1, 0)
    row = outbox_row(db, "g6:reminder")
    assert row.status == "refused"
    assert row.last_error == "outside the 24-hour WhatsApp session window and no template is configured"
    await deliver(db, closed, now=NOW + timedelta(hours=1))
    assert closed.tried == 1


async def test_a_telegram_outage_is_retried_after_1_2_4_and_8_minutes_then_given_up(db: Database) -> None:
    ines = traveller(db, "Ines", ("telegram", "5006", NOW))
    queue(db, ines, "Jo paid €45 for the hotel", "g7:expense")
    outage = Outage()

    now = NOW
    for attempt, wait in enumerate((1, 2, 4, 8), start=1):
        report = await deliver(db, outage, now=now)
        assert report.retrying == 1
        row = outbox_row(db, "g7:expense")
        assert (row.status, row.attempts, row.due_at) == ("queued", attempt, now + timedelta(minutes=wait))
        assert row.last_error == "ConnectionError: api.telegram.org: connection reset"
        assert (await deliver(db, outage, now=row.due_at - timedelta(seconds=1))).handled == 0  # not before
        now = row.due_at

    report = await deliver(db, outage, now=now)
    assert report.failed == 1
    row = outbox_row(db, "g7:expense")
    assert (row.status, row.attempts, row.sent_at) == ("failed", 5, None)
    assert row.last_error == "ConnectionError: api.telegram.org: connection reset"

    outage.up = True
    await deliver(db, outage, now=now + timedelta(hours=1))
    assert (outage.tried, outage.sent) == (5, [])


async def test_a_message_recovers_when_the_outage_ends(db: Database) -> None:
    jo = traveller(db, "Jo", ("telegram", "5007", NOW))
    queue(db, jo, "Ines settled up with you", "g8:settled")
    outage = Outage()
    await deliver(db, outage)
    outage.up = True
    report = await deliver(db, outage, now=NOW + timedelta(minutes=1))
    assert report.sent == 1
    assert [reply.text for _, reply in outage.sent] == ["Ines settled up with you"]
    row = outbox_row(db, "g8:settled")
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, NOW + timedelta(minutes=1))


async def test_a_reminder_for_tomorrow_waits_until_tomorrow(db: Database, telegram: FakeChannel) -> None:
    kai = traveller(db, "Kai", ("telegram", "5008", NOW))
    tomorrow = NOW + timedelta(days=1)
    queue(db, kai, "Doors open at 19:00 tonight", "g9:doors", due_at=tomorrow)

    assert (await deliver(db, telegram)).handled == 0
    assert (await deliver(db, telegram, now=tomorrow - timedelta(minutes=1))).handled == 0
    assert telegram.sent == []
    await deliver(db, telegram, now=tomorrow)
    assert [reply.text for _, reply in telegram.sent] == ["Doors open at 19:00 tonight"]


async def test_messages_for_whatsapp_wait_while_it_is_off_and_the_log_says_so_once(
    db: Database, telegram: FakeChannel, whatsapp: FakeChannel, caplog: pytest.LogCaptureFixture
) -> None:
    lea = traveller(db, "Lea", ("whatsapp", "+351910000009", NOW))
    queue(db, lea, "Mo created a poll: which night?", "g10:poll")

    with caplog.at_level(logging.WARNING, logger="assistant.outbox"):
        first = await deliver(db, telegram)
        second = await deliver(db, telegram)
    assert first.waiting == second.waiting == {"whatsapp": 1}
    assert [r.getMessage() for r in caplog.records if "whatsapp" in r.getMessage()] == [
        "outbox: 1 message(s) wait for channel whatsapp, which is not running"
    ]
    assert outbox_row(db, "g10:poll").status == "queued"

    await deliver(db, telegram, whatsapp)
    assert [reply.text for _, reply in whatsapp.sent] == ["Mo created a poll: which night?"]


async def test_a_dispatcher_that_died_mid_send_leaves_the_message_to_the_next_one(
    db: Database, telegram: FakeChannel
) -> None:
    nia = traveller(db, "Nia", ("telegram", "5010", NOW))
    queue(db, nia, "Your group is complete", "g11:complete")

    class Crash(BaseException):
        """The process going away in the middle of a send."""

    @dataclass
    class Dying:
        name: str = "telegram"

        async def send(self, address: str, reply: Reply) -> None:
            raise Crash

    with pytest.raises(Crash):
        await deliver(db, Dying())
    assert outbox_row(db, "g11:complete").status == "sending"
    assert (await deliver(db, telegram, now=NOW + timedelta(minutes=5))).handled == 0  # still someone else's
    await deliver(db, telegram, now=NOW + timedelta(minutes=10))
    assert [reply.text for _, reply in telegram.sent] == ["Your group is complete"]


async def test_while_roadie_serves_the_outbox_goes_out_by_itself_and_stops_cleanly(
    roadie: Roadie, db: Database, telegram: FakeChannel
) -> None:
    olga = traveller(db, "Olga", ("telegram", "5011", NOW))
    settings = roadie.settings.model_copy(update={"outbox_interval_s": 0.05})
    async with outbox_delivery(settings, db, FixedClock(NOW), {"telegram": telegram}):
        queue(db, olga, "Pia joined your group", "g12:pia")
        for _ in range(100):
            if telegram.sent:
                break
            await asyncio.sleep(0.02)
    assert [reply.text for _, reply in telegram.sent] == ["Pia joined your group"]

    queue(db, olga, "Quim joined your group", "g12:quim")
    off = roadie.settings.model_copy(update={"outbox_interval_s": 0})
    async with outbox_delivery(off, db, FixedClock(NOW), {"telegram": telegram}):
        await asyncio.sleep(0.1)
    assert len(telegram.sent) == 1


async def test_two_dispatchers_on_postgresql_send_each_notice_once(postgres_database: str) -> None:
    db = Database(postgres_database)
    other_worker = Database(postgres_database)
    try:
        await asyncio.to_thread(db.migrate)
        people = [traveller(db, f"fan{i}", ("telegram", f"71{i:02d}", NOW)) for i in range(40)]
        for person in people:
            queue(db, person, "The group vote is closed: Tivoli it is", f"vote:{person}")
        assert queue(db, people[0], "The group vote is closed: Tivoli it is", f"vote:{people[0]}") is False
        telegram = Outage(up=True)

        reports = await asyncio.gather(
            *(
                deliver_due(worker, {"telegram": telegram}, NOW, limit=15, refusal=SendRefused)
                for worker in (db, other_worker)
            ),
            *(
                deliver_due(worker, {"telegram": telegram}, NOW, limit=15, refusal=SendRefused)
                for worker in (db, other_worker)
            ),
        )
        assert sorted(address for address, _ in telegram.sent) == sorted(f"71{i:02d}" for i in range(40))
        assert sum(r.sent for r in reports) == 40
        with db.session() as session:
            assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}
    finally:
        other_worker.dispose()
        db.dispose()
