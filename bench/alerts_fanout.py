"""Benchmark: a new tour date for an artist with 10,000 followers on Telegram — queued, then sent at Telegram's rate.

A fresh database holds one artist, one venue and the followers (each with a Telegram identity). The new date
and its 10,000 alerts are written in one transaction (`record_tour_change`); then the outbox dispatcher sends
them through Roadie's real Telegram channel (aiogram, with its pacing of 30 messages a second overall) to the
fake Bot API from the tests. Reported: time to queue, the achieved send rate against the allowed one, and
duplicates and lost alerts counted from what the fake Bot API received.

Run: .venv/bin/python bench/alerts_fanout.py [--followers 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from assistant import outbox
from assistant.db import Database
from assistant.models import Artist, ChannelIdentity, Event, Follow, Person, Venue
from assistant.settings import Settings
from channels.base import SendRefused
from channels.telegram import OVERALL_PER_S, TelegramChannel
from tests.fakes.telegram_api import FakeTelegram
from tests.servers import serve_in_thread
from tools.tours import record_tour_change

TOKEN = "123456789:AAE-roadie-bench-token_abcdefghijk"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def followers(db: Database, count: int) -> int:
    """One artist and venue, and `count` fans following the artist on Telegram; the artist's id."""
    with db.write_session() as session:
        artist = Artist(name="Coldplay", genre="pop rock", aliases=[])
        session.add(artist)
        session.add(
            Venue(
                name="Wembley Stadium",
                city="London",
                country="United Kingdom",
                region="Europe",
                airport="LHR",
                latitude=51.556,
                longitude=-0.2796,
                timezone="Europe/London",
                capacity=90000,
            )
        )
        session.flush()
        people = session.scalars(
            insert(Person).returning(Person.id, sort_by_parameter_order=True),
            [{"display_name": f"fan {i}", "created_at": NOW, "notify": {"quiet_hours": [0, 0]}} for i in range(count)],
        ).all()
        session.execute(
            insert(ChannelIdentity),
            [
                {"person_id": p, "channel": "telegram", "external_id": str(10_000_000 + i), "last_seen_at": NOW}
                for i, p in enumerate(people)
            ],
        )
        session.execute(insert(Follow), [{"person_id": p, "artist_id": artist.id, "created_at": NOW} for p in people])
        return artist.id


def announce(db: Database, artist_id: int) -> tuple[int, float]:
    """The new date and every follower's alert in one transaction; how many were queued and how long it took."""
    started = time.perf_counter()
    with db.write_session() as session:
        venue = session.scalars(select(Venue)).one()
        starts = NOW + timedelta(days=120)
        event = Event(
            artist_id=artist_id,
            venue_id=venue.id,
            starts_at=starts,
            doors_at=starts - timedelta(hours=2),
            status="scheduled",
            announced_at=NOW,
        )
        session.add(event)
        session.flush()
        queued = record_tour_change(session, event, "announced", {"venue": venue.name}, NOW)
    return queued, time.perf_counter() - started


async def dispatch(db: Database, channel: TelegramChannel, total: int) -> float:
    """Send everything queued through the channel; seconds taken."""
    started = time.perf_counter()
    sent = 0
    while sent < total:
        report = await outbox.deliver_due(db, {"telegram": channel}, NOW, limit=500, refusal=SendRefused)
        if not report.handled:
            break
        sent += report.handled
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--followers", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/roadie.sqlite")
        db.migrate()
        artist_id = followers(db, args.followers)
        queued, seconds = announce(db, artist_id)
        print(f"new date: {queued:,} alerts queued in {seconds:.2f} s (one transaction with the tour change)")
        fake = FakeTelegram(TOKEN)
        with serve_in_thread(fake.app) as base:
            settings = Settings(data_dir=Path(folder), telegram_bot_token=TOKEN, telegram_api_base=base)  # type: ignore[call-arg]
            channel = TelegramChannel.from_settings(settings)

            async def run() -> float:
                try:
                    return await dispatch(db, channel, queued)
                finally:
                    await channel.bot.session.close()

            took = asyncio.run(run())
        chats = Counter(call.params.get("chat_id") for call in fake.called("sendMessage"))
        duplicates = sum(n - 1 for n in chats.values() if n > 1)
        lost = queued - len(chats)
        rate = len(chats) / took if took else 0.0
        print(
            f"dispatched {sum(chats.values()):,} in {took:.0f} s: {rate:.1f} messages/s against Telegram's "
            f"{OVERALL_PER_S:g}/s ({rate / OVERALL_PER_S:.0%}); {duplicates} duplicates, {lost} lost"
        )
        db.dispose()


if __name__ == "__main__":
    main()
