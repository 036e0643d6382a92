"""Roadie on Telegram: aiogram talks over real HTTP to a fake Bot API, and we check what that server received.

Most conversations go through the webhook of the real app (main.create_app); long polling, proactive
sends and what exactly reaches the core are checked on a second Roadie that reads getUpdates.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import func, select

from assistant.clock import FixedClock
from assistant.messages import Button, Inbound, Poll, Reply
from assistant.models import Booking, GroupMember, GroupPoll, Person, PollVote, ProcessedMessage, TripGroup
from assistant.settings import Settings
from channels.base import Handler, SendRefused
from channels.registry import configured
from channels.telegram import EXPIRED, TelegramChannel, build_telegram
from channels.telegram_render import render_chunks, units
from knowledge.embeddings import Embedder
from main import Roadie, create_app, start_roadie
from tests.conftest import NOW
from tests.fakes.telegram_api import Call, FakeTelegram
from tests.servers import serve_in_thread

TOKEN = "123456789:AAE-roadie-test-token_abcdefghijk"
SECRET = "webhook-secret-for-tests_1"
BOT = "roadie_test_bot"
GROUP = -1001234567890
FENCE_LINE = re.compile(r"(?m)^\s{0,3}```\s*[\w+#.-]{0,32}\s*$")
TELEGRAM_TAGS = {"b", "i", "u", "s", "a", "code", "pre", "blockquote", "tg-spoiler"}
T = TypeVar("T")
update_ids = itertools.count(5000)


def copy_of_demo_db(template: Path, into: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        source = template.with_name(template.name + suffix)
        if source.exists():
            shutil.copy(source, into / source.name)
    return into


def telegram_settings(data_dir: Path, api_base: str, **more: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url="",
        memory_url="",
        llm_base_url="",
        openai_api_key="",
        telegram_bot_token=TOKEN,
        telegram_webhook_secret=SECRET,
        telegram_api_base=api_base,
        **more,
    )


# The platform side: updates shaped like Telegram's.


def user(user_id: int, name: str = "Ana") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name}


def chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Ana"}
    return {"id": chat_id, "type": "supergroup", "title": "Coldplay trip 2027"}


def message_update(chat_id: int, text: str, sender: int | None = None, **extra: Any) -> dict[str, Any]:
    message = {
        "message_id": next(update_ids),
        "date": int(time.time()),
        "chat": chat(chat_id),
        "from": user(sender or chat_id),
        "text": text,
        **extra,
    }
    return {"update_id": next(update_ids), "message": message}


def press_update(answer: Call, label: str, presser: int) -> dict[str, Any]:
    """The callback query Telegram sends when `presser` taps the button `label` under the message `answer`."""
    keyboard = answer["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in keyboard for b in row if b["text"] == label)
    message = {
        "message_id": 777,
        "date": int(time.time()),
        "chat": chat(answer["chat_id"]),
        "from": {"id": 123456789, "is_bot": True, "first_name": "Roadie", "username": BOT},
        "text": "…",
        "reply_markup": answer["reply_markup"],
    }
    query = {"id": f"cbq-{next(update_ids)}", "from": user(presser), "chat_instance": "ci-1", "data": data}
    return {"update_id": next(update_ids), "callback_query": {**query, "message": message}}


def labels(answer: Call) -> list[str]:
    return [b["text"] for row in answer["reply_markup"]["inline_keyboard"] for b in row]


def at_least(count: int, calls: list[Call]) -> list[Call]:
    """`calls` once there are `count` of them, else nothing (for `eventually`)."""
    return calls if len(calls) >= count else []


async def eventually(probe: Callable[[], T], timeout_s: float = 30.0) -> T:
    """The first truthy value of `probe()`, polled for at most `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := probe():
            return value
        await asyncio.sleep(0.05)
    return probe()


# Servers: the fake Bot API, the real app with its webhook, and a Roadie reading getUpdates.


@pytest.fixture(scope="module")
def telegram() -> Iterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram(TOKEN, username=BOT)
    with serve_in_thread(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="module")
def fake(telegram: tuple[FakeTelegram, str]) -> FakeTelegram:
    return telegram[0]


@pytest.fixture(scope="module")
def app_settings(
    telegram: tuple[FakeTelegram, str], seeded_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    data_dir = copy_of_demo_db(seeded_template, tmp_path_factory.mktemp("telegram-app"))
    return telegram_settings(
        data_dir,
        telegram[1],
        public_base_url="https://roadie.example",
        telegram_bot_username=BOT,
        outbox_interval_s=0.5,
    )


@pytest.fixture(scope="module")
def app(app_settings: Settings, embedder: Embedder) -> Iterator[tuple[Any, str]]:
    application = create_app(app_settings, FixedClock(NOW), embedder)
    with serve_in_thread(application) as url:
        yield application, url


@pytest_asyncio.fixture(scope="module")
async def webhook(app: tuple[Any, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app[1], timeout=10) as client:
        yield client


def app_roadie(app: tuple[Any, str]) -> Roadie:
    roadie: Roadie = app[0].state.roadie
    return roadie


async def deliver(webhook: httpx.AsyncClient, update: dict[str, Any], secret: str | None = SECRET) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    response = await webhook.post("/telegram/webhook", json=update, headers=headers)
    return response.status_code


class Forwarded:
    """The core's real `handle`, seen from the channel: every Inbound the channel forwarded is kept."""

    def __init__(self, handle: Handler) -> None:
        self._handle = handle
        self.inbound: list[Inbound] = []

    async def __call__(self, inbound: Inbound) -> Reply | None:
        self.inbound.append(inbound)
        return await self._handle(inbound)

    def texts(self, chat_id: int) -> list[str]:
        return [i.text for i in self.inbound if i.key.chat_id == str(chat_id)]


class Poller:
    """A second Roadie on Telegram long polling, as `python main.py telegram-poll` runs it."""

    def __init__(self, roadie: Roadie, channel: TelegramChannel, forwarded: Forwarded) -> None:
        self.roadie = roadie
        self.channel = channel
        self.forwarded = forwarded


@pytest_asyncio.fixture(scope="module")
async def poller(
    telegram: tuple[FakeTelegram, str],
    seeded_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    embedder: Embedder,
) -> AsyncIterator[Poller]:
    data_dir = copy_of_demo_db(seeded_template, tmp_path_factory.mktemp("telegram-poll"))
    settings = telegram_settings(data_dir, telegram[1])
    async with start_roadie(settings, FixedClock(NOW), embedder) as roadie:
        channel = TelegramChannel.from_settings(settings)
        forwarded = Forwarded(roadie.service.handle)
        channel.attach(forwarded, roadie.service)
        polling = asyncio.create_task(channel.poll(handle_signals=False, polling_timeout=1))
        try:
            yield Poller(roadie, channel, forwarded)
        finally:
            await channel.stop_polling()
            await asyncio.wait_for(polling, timeout=10)
            await channel.stop()


def count_rows(roadie: Roadie) -> tuple[int, int]:
    with roadie.services.db.session() as session:
        processed = session.scalar(select(func.count()).select_from(ProcessedMessage)) or 0
        people = session.scalar(select(func.count()).select_from(Person)) or 0
    return processed, people


def was_forwarded(roadie: Roadie, update_id: int) -> bool:
    with roadie.services.db.session() as session:
        found = session.scalars(
            select(ProcessedMessage).where(
                ProcessedMessage.channel == "telegram", ProcessedMessage.message_id == str(update_id)
            )
        ).first()
    return found is not None


# Turning the channel on.


def test_telegram_stays_off_without_a_token_or_a_webhook_secret(settings: Settings) -> None:
    assert build_telegram(settings) == "ROADIE_TELEGRAM_BOT_TOKEN is not set"
    no_secret = settings.model_copy(update={"telegram_bot_token": SecretStr(TOKEN)})
    reason = build_telegram(no_secret)
    assert isinstance(reason, str)
    assert reason.startswith("set ROADIE_TELEGRAM_WEBHOOK_SECRET")
    assert configured(no_secret)[1]["telegram"] == reason
    bad_secret = no_secret.model_copy(update={"telegram_webhook_secret": SecretStr("has spaces!")})
    assert "ROADIE_TELEGRAM_WEBHOOK_SECRET" in str(build_telegram(bad_secret))
    bad_token = no_secret.model_copy(
        update={"telegram_bot_token": SecretStr("not-a-token"), "telegram_webhook_secret": SecretStr(SECRET)}
    )
    assert "does not look like a bot token" in str(build_telegram(bad_token))
    both = no_secret.model_copy(update={"telegram_webhook_secret": SecretStr(SECRET)})
    assert isinstance(build_telegram(both), TelegramChannel)


def test_on_start_roadie_learns_its_username_and_registers_the_webhook(app: Any, fake: FakeTelegram) -> None:
    assert fake.called("getMe")
    registered = fake.called("setWebhook")
    assert registered
    assert registered[0]["url"] == "https://roadie.example/telegram/webhook"
    assert registered[0]["secret_token"] == SECRET
    assert set(registered[0]["allowed_updates"]) == {"message", "callback_query", "poll_answer"}


# Private chats through the webhook.


async def test_a_private_message_is_answered_in_telegram_html(webhook: httpx.AsyncClient, fake: FakeTelegram) -> None:
    ana = 1001
    assert await deliver(webhook, message_update(ana, "any Coldplay shows in Europe?")) == 200
    [answer] = await eventually(lambda: fake.called("sendMessage", ana))
    assert answer["parse_mode"] == "HTML"
    assert "<b>Coldplay</b>" in answer["text"]
    assert "• <b>" in answer["text"]
    assert "**" not in answer["text"]
    assert "<p>" not in answer["text"]
    assert "<li>" not in answer["text"]
    assert "King Baudouin Stadium, Brussels" in answer["text"]
    assert labels(answer) == ["Full Coldplay tour", "Only London"]
    assert "reply_parameters" not in answer.params


async def test_forged_updates_are_refused_and_change_nothing(
    app: tuple[Any, str], webhook: httpx.AsyncClient, fake: FakeTelegram
) -> None:
    mallory = 1002
    before = count_rows(app_roadie(app))
    assert await deliver(webhook, message_update(mallory, "book it"), secret="guessed-secret") == 401
    assert await deliver(webhook, message_update(mallory, "book it"), secret=None) == 401
    assert await deliver(webhook, message_update(mallory, "book it"), secret=SECRET[:-1]) == 401
    huge = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    oversized = await webhook.post(
        "/telegram/webhook", content=b'{"update_id": 1, "x": "' + b"a" * 300_000 + b'"}', headers=huge
    )
    assert oversized.status_code == 413
    malformed = await webhook.post("/telegram/webhook", content=b"{not json", headers=huge)
    assert malformed.status_code == 400
    not_an_update = await webhook.post("/telegram/webhook", json={"message": "hi"}, headers=huge)
    assert not_an_update.status_code == 400
    await asyncio.sleep(1.0)
    assert fake.sent(mallory) == []
    assert count_rows(app_roadie(app)) == before


async def test_a_redelivered_update_is_answered_once(
    app: tuple[Any, str], webhook: httpx.AsyncClient, fake: FakeTelegram
) -> None:
    ben = 1003
    update = message_update(ben, "find Metallica concerts")
    assert await deliver(webhook, update) == 200
    assert await deliver(webhook, update) == 200
    await eventually(lambda: fake.called("sendMessage", ben))
    await asyncio.sleep(1.5)
    assert len(fake.called("sendMessage", ben)) == 1
    assert was_forwarded(app_roadie(app), update["update_id"])


async def test_pressing_a_button_answers_the_query_and_continues_the_conversation(
    webhook: httpx.AsyncClient, fake: FakeTelegram
) -> None:
    cleo = 1004
    await deliver(webhook, message_update(cleo, "any Coldplay shows in Europe?"))
    [search] = await eventually(lambda: fake.called("sendMessage", cleo))
    press = press_update(search, "Full Coldplay tour", presser=cleo)
    assert await deliver(webhook, press) == 200
    query_id = press["callback_query"]["id"]
    [acknowledged] = await eventually(
        lambda: [c for c in fake.called("answerCallbackQuery") if c["callback_query_id"] == query_id]
    )
    assert acknowledged.get("text") is None
    assert await eventually(lambda: fake.called("editMessageReplyMarkup", cleo))
    _, tour = await eventually(lambda: at_least(2, fake.called("sendMessage", cleo)))
    assert "Music of the Spheres" in tour["text"]


async def test_an_expired_button_says_so_and_runs_no_turn(
    app: tuple[Any, str], webhook: httpx.AsyncClient, fake: FakeTelegram
) -> None:
    dev = 1005
    fake_answer = Call(
        "sendMessage",
        {"chat_id": dev, "reply_markup": {"inline_keyboard": [[{"text": "Old", "callback_data": "h:forgotten"}]]}},
        {},
        200,
        0.0,
    )
    press = press_update(fake_answer, "Old", presser=dev)
    assert await deliver(webhook, press) == 200
    query_id = press["callback_query"]["id"]
    answered = await eventually(
        lambda: [c for c in fake.called("answerCallbackQuery") if c["callback_query_id"] == query_id]
    )
    assert answered[0]["text"] == EXPIRED
    await asyncio.sleep(0.5)
    assert fake.sent(dev) == []
    assert not was_forwarded(app_roadie(app), press["update_id"])


class Traveller:
    """Someone chatting with Roadie in a private Telegram chat through the real webhook."""

    def __init__(self, webhook: httpx.AsyncClient, fake: FakeTelegram, user_id: int) -> None:
        self.webhook, self.fake, self.user_id = webhook, fake, user_id

    async def _answer_to(self, update: dict[str, Any]) -> Call:
        before = len(self.fake.called("sendMessage", self.user_id))
        assert await deliver(self.webhook, update) == 200
        answers = await eventually(lambda: self.fake.called("sendMessage", self.user_id)[before:])
        return answers[-1]

    async def say(self, text: str) -> Call:
        """Send `text` and return Roadie's answer as the Bot API received it."""
        return await self._answer_to(message_update(self.user_id, text))

    async def press(self, answer: Call, label: str) -> Call:
        """Tap the inline button `label` under `answer`, and return Roadie's next answer."""
        return await self._answer_to(press_update(answer, label, presser=self.user_id))


async def test_search_follow_plan_and_book_by_pressing_the_buttons(
    app: tuple[Any, str], webhook: httpx.AsyncClient, fake: FakeTelegram
) -> None:
    nina = Traveller(webhook, fake, 1006)
    search = await nina.say("any Coldplay shows in Europe?")
    assert "King Baudouin Stadium, Brussels" in search["text"]
    follow = await nina.say("follow Coldplay")
    assert "following <b>Coldplay</b>" in follow["text"]
    plan = await nina.say("plan a trip to the Brussels show for 2 from London")
    assert "Trip to <b>Coldplay</b> at King Baudouin Stadium, Brussels" in plan["text"]
    assert "Book it" in labels(plan)
    confirm = await nina.press(plan, "Book it")
    assert "Shall I book <b>Coldplay</b> in Brussels" in confirm["text"]
    assert labels(confirm) == ["Yes, book it", "No"]
    booked = await nina.press(confirm, "Yes, book it")
    assert booked["text"].startswith("Booked! Reference <b>RD-")
    reference = booked["text"].split("<b>", 1)[1].split("</b>", 1)[0]
    with app_roadie(app).services.db.session() as session:
        booking = session.scalars(select(Booking).where(Booking.reference == reference)).one()
        assert booking.travellers == 2
    assert len(fake.called("editMessageReplyMarkup", 1006)) == 2


# Groups through the webhook: Roadie answers only when addressed.


async def test_in_a_group_roadie_answers_only_when_addressed(
    app: tuple[Any, str], webhook: httpx.AsyncClient, fake: FakeTelegram
) -> None:
    ana, ben = 2001, 2002
    chatter = message_update(GROUP, "anyone up for Coldplay next year?", sender=ana)
    other_bot = message_update(GROUP, "/help@some_other_bot", sender=ben)
    addressed = message_update(GROUP, f"@{BOT} any Coldplay shows in Europe?", sender=ben)
    for update in (chatter, other_bot, addressed):
        assert await deliver(webhook, update) == 200
    [answer] = await eventually(lambda: fake.called("sendMessage", GROUP))
    assert "<b>Coldplay</b>" in answer["text"]
    assert answer["reply_parameters"]["message_id"] == addressed["message"]["message_id"]
    await asyncio.sleep(0.5)
    assert len(fake.called("sendMessage", GROUP)) == 1
    roadie = app_roadie(app)
    assert was_forwarded(roadie, addressed["update_id"])
    assert not was_forwarded(roadie, chatter["update_id"])
    assert not was_forwarded(roadie, other_bot["update_id"])


async def test_in_a_group_a_reply_to_roadie_and_a_command_are_addressed_too(
    webhook: httpx.AsyncClient, fake: FakeTelegram
) -> None:
    group, cleo = -1009876543210, 2003
    roadie_said = {
        "message_id": 9,
        "date": 0,
        "chat": chat(group),
        "from": {"id": 123456789, "is_bot": True, "first_name": "Roadie"},
        "text": "…",
    }
    topic = {"message_thread_id": 42, "is_topic_message": True}
    await deliver(webhook, message_update(group, "what about Berlin?", sender=cleo, reply_to_message=roadie_said))
    [answer] = await eventually(lambda: fake.called("sendMessage", group))
    assert "Berlin" in answer["text"]
    await deliver(webhook, message_update(group, f"/help@{BOT}", sender=cleo, **topic))
    answers = await eventually(lambda: at_least(2, fake.called("sendMessage", group)))
    assert [a.get("message_thread_id") for a in answers] == [None, 42]
    assert "Roadie" in answers[1]["text"]
    assert all(a["reply_parameters"]["allow_sending_without_reply"] for a in answers)


# A trip group planned in a Telegram supergroup: created and joined there or by deep link, decided by a native poll.


def roadie_message(chat_id: int) -> dict[str, Any]:
    """A message Roadie sent in `chat_id`, as Telegram shows it inside a reply to it."""
    bot = {"id": int(TOKEN.split(":", 1)[0]), "is_bot": True, "first_name": "Roadie", "username": BOT}
    return {"message_id": 9, "date": 0, "chat": chat(chat_id), "from": bot, "text": "…"}


def vote_update(poll_id: str, voter: int, name: str, *option_ids: int) -> dict[str, Any]:
    """The poll_answer Telegram sends when `voter` votes (no option ids: they took their vote back)."""
    answer = {
        "poll_id": poll_id,
        "user": user(voter, name),
        "option_ids": list(option_ids),
        "option_persistent_ids": [str(n) for n in option_ids],
    }
    return {"update_id": next(update_ids), "poll_answer": answer}


class GroupChat:
    """A Telegram supergroup with Roadie in it, spoken to through the real webhook."""

    def __init__(self, webhook: httpx.AsyncClient, fake: FakeTelegram, chat_id: int) -> None:
        self.webhook, self.fake, self.chat_id = webhook, fake, chat_id

    def answers(self) -> list[str]:
        return [c["text"] for c in self.fake.called("sendMessage", self.chat_id)]

    async def deliver(self, update: dict[str, Any]) -> str:
        """Deliver `update` and return the text of Roadie's next message in the group."""
        before = len(self.answers())
        assert await deliver(self.webhook, update) == 200
        answers = await eventually(lambda: self.answers()[before:])
        assert answers, f"no answer in the group to {update}"
        return answers[-1]

    async def say(self, sender: int, name: str, text: str, **extra: Any) -> str:
        update = message_update(self.chat_id, text, sender=sender, **extra)
        update["message"]["from"] = user(sender, name)
        return await self.deliver(update)

    async def chatter(self, sender: int, name: str, text: str) -> None:
        """A message among the members, not addressed to Roadie."""
        update = message_update(self.chat_id, text, sender=sender)
        update["message"]["from"] = user(sender, name)
        assert await deliver(self.webhook, update) == 200


async def test_a_telegram_group_creates_a_trip_group_joins_it_and_decides_by_native_poll(
    app: tuple[Any, str], webhook: httpx.AsyncClient, fake: FakeTelegram
) -> None:
    group = GroupChat(webhook, fake, -1004440001)
    ana, ben, cy, dev = 4001, 4002, 4003, 4004

    created = await group.say(ana, "Ana", f"@{BOT} create a group for Coldplay")
    found = re.search(r"Join code: <b>(G-[A-Z0-9]{6})</b>", created)
    assert found, created
    code = found.group(1)
    link = f"https://t.me/{BOT}?start=join_{code}"
    assert link in created, "the answer carries the deep link friends tap to join"
    with app_roadie(app).services.db.session() as session:
        planned = session.scalars(select(TripGroup).where(TripGroup.join_code == code)).one()
        assert planned.chat_key == f"telegram:{group.chat_id}", "the supergroup knows which trip group it plans"

    await group.chatter(dev, "Dev", "I'm in")  # said to the others, not to Roadie: not a join
    joined = await group.say(ben, "Ben", "I'm in", reply_to_message=roadie_message(group.chat_id))
    assert "Welcome to <b>Coldplay trip</b>, Ben!" in joined

    cy_private = Traveller(webhook, fake, cy)
    start = message_update(cy, "/start " + link.rsplit("start=", 1)[1])
    start["message"]["from"] = user(cy, "Cy")
    welcome = await cy_private._answer_to(start)
    assert "Welcome to <b>Coldplay trip</b>, Cy!" in welcome["text"]
    told = await eventually(lambda: [t for t in group.answers() if "Cy joined" in t])
    assert told == ["Cy joined <b>Coldplay trip</b> and is going."], "the group chat hears of a deep-link join"

    asked = await group.say(ana, "Ana", f"@{BOT} poll: Brussels 28 May or Munich 24 April?")
    assert "Brussels 28 May" in asked
    [sent] = await eventually(lambda: fake.called("sendPoll", group.chat_id))
    assert [o if isinstance(o, str) else o["text"] for o in sent["options"]] == ["Brussels 28 May", "Munich 24 April"]
    assert sent["is_anonymous"] is False, "Roadie must see who voted"
    [native] = fake.polls_in(group.chat_id)

    first = vote_update(native["id"], ben, "Ben", 0)
    assert "1 of 3 have voted" in await group.deliver(first)
    assert "2 of 3 have voted" in await group.deliver(vote_update(native["id"], cy, "Cy", 1))
    assert await deliver(webhook, vote_update(native["id"], cy, "Cy")) == 200  # Cy takes the vote back…
    changed = await group.deliver(vote_update(native["id"], cy, "Cy", 0))  # …and votes again
    assert "Changed your vote to <b>Brussels 28 May</b>. 2 of 3 have voted" in changed
    assert await deliver(webhook, first) == 200  # Telegram delivering an update again
    result = await group.deliver(vote_update(native["id"], ana, "Ana", 1))
    assert "Everyone has voted" in result
    assert "<b>Brussels 28 May</b> wins (Brussels 28 May 2, Munich 24 April 1)" in result
    [stopped] = await eventually(lambda: fake.called("stopPoll", group.chat_id))
    assert stopped["message_id"] == fake.poll_message(native["id"]), "the decided poll is closed in the chat"
    assert fake.polls[native["id"]]["is_closed"]
    late = await group.deliver(vote_update(native["id"], ben, "Ben", 1))  # a vote that raced the close
    assert "That poll has closed, so the vote wasn't counted" in late
    assert len(fake.called("stopPoll", group.chat_id)) == 1, "stopped once; asking again is refused and ignored"
    with app_roadie(app).services.db.session() as session:
        votes = session.scalar(
            select(func.count()).select_from(PollVote).join(GroupPoll).where(GroupPoll.group_id == planned.id)
        )
        assert votes == 3, "one vote per person"
        members = session.scalar(
            select(func.count()).select_from(GroupMember).where(GroupMember.group_id == planned.id)
        )
        assert members == 3, "Dev's unaddressed 'I'm in' did not join him"

    await group.chatter(ben, "Ben", "Brussels it is, I'll book the time off")
    await asyncio.sleep(1.0)
    said = group.answers()
    assert not [t for t in said if "Dev" in t or "time off" in t]
    # Created, Ben's welcome, Cy joined, the poll's text, four votes (the last with the result), the late vote.
    assert len(said) == 9, said
    assert len(fake.called("sendPoll", group.chat_id)) == 1


# Long polling, exactly what reaches the core, and proactive messages (a second Roadie reading getUpdates).


async def test_polling_reads_updates_and_start_deep_links_join_a_group(poller: Poller, fake: FakeTelegram) -> None:
    dana = 3001
    fake.push_update(message_update(dana, "/start"))
    fake.push_update(message_update(dana, "/start join_ABC123"))
    fake.push_update(message_update(dana, "/start follow_Coldplay"))
    answers = await eventually(lambda: at_least(3, fake.called("sendMessage", dana)))
    assert fake.called("deleteWebhook")
    assert fake.called("getUpdates")
    assert sorted(poller.forwarded.texts(dana)) == ["follow Coldplay", "hi", "join group ABC123"]
    assert any(a["text"].startswith("Hi! I'm Roadie") for a in answers)
    assert any("following <b>Coldplay</b>" in a["text"] for a in answers)


async def test_a_group_mention_is_stripped_and_the_topic_kept(poller: Poller, fake: FakeTelegram) -> None:
    group, eli = -1005550001, 3002
    update = message_update(
        group, "@Roadie_Test_Bot, find Metallica concerts", sender=eli, message_thread_id=7, is_topic_message=True
    )
    fake.push_update(update)
    [answer] = await eventually(lambda: fake.called("sendMessage", group))
    [inbound] = [i for i in poller.forwarded.inbound if i.key.chat_id == str(group)]
    assert inbound.text == "find Metallica concerts"
    assert inbound.in_group
    assert (inbound.key.user_id, inbound.key.thread_id) == (str(eli), "7")
    assert inbound.message_id == str(update["update_id"])
    assert answer["message_thread_id"] == 7


async def test_a_poll_goes_out_as_a_native_poll_and_votes_come_back(poller: Poller, fake: FakeTelegram) -> None:
    group, fay = -1005550002, 3003
    poll = Poll("p-weekend", "Which weekend?", ("28 May, Brussels", "2 Jul, Manchester"))
    await poller.channel.send(str(group), Reply("Time to choose:", poll=poll))
    [sent] = fake.called("sendPoll", group)
    assert sent["question"] == "Which weekend?"
    assert sent["is_anonymous"] is False
    assert [o if isinstance(o, str) else o["text"] for o in sent["options"]] == list(poll.options)
    assert fake.called("sendMessage", group)[0]["text"] == "Time to choose:"
    telegram_poll = next(p for p in fake.polls.values() if p["question"] == "Which weekend?")
    fake.push_update(
        {
            "update_id": next(update_ids),
            "poll_answer": {
                "poll_id": telegram_poll["id"],
                "user": user(fay),
                "option_ids": [1],
                "option_persistent_ids": ["1"],
            },
        }
    )
    await eventually(lambda: poller.forwarded.texts(group))
    [vote] = [i for i in poller.forwarded.inbound if i.key.chat_id == str(group)]
    assert vote.text == "vote p-weekend 2"
    assert vote.key.user_id == str(fay)
    assert vote.in_group
    assert await eventually(lambda: len(fake.called("sendMessage", group)) >= 2)


async def test_a_long_reply_is_split_into_messages_under_telegrams_limit(poller: Poller, fake: FakeTelegram) -> None:
    gus = 3004
    paragraphs = [f"**Day {n}** — " + "a walk along the river & a show. " * 30 for n in range(1, 6)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 5000
    await poller.channel.send(str(gus), Reply(text, buttons=[Button("Book it", "book it")]))
    messages = fake.called("sendMessage", gus)
    assert len(messages) == 2
    assert all(len(m["text"]) <= 4096 for m in messages)
    assert messages[0]["text"].startswith("<b>Day 1</b>")
    assert messages[1]["text"].startswith("<b>Day")
    assert "&amp;" in messages[0]["text"]
    assert "reply_markup" not in messages[0].params
    assert labels(messages[1]) == ["Book it"]
    assert messages[1].at - messages[0].at >= 0.9


async def test_a_chart_goes_out_as_a_photo_uploaded_from_media(poller: Poller, fake: FakeTelegram) -> None:
    hal = 3005
    media = poller.roadie.settings.data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    (media / "prices.png").write_bytes(b"\x89PNG\r\n\x1a\nchart-bytes")
    await poller.channel.send(str(hal), Reply("**Prices** for the Brussels show", image="/media/prices.png"))
    [photo] = fake.called("sendPhoto", hal)
    assert photo["caption"] == "<b>Prices</b> for the Brussels show"
    assert [data for _, data in photo.files.values()] == [b"\x89PNG\r\n\x1a\nchart-bytes"]
    await poller.channel.send(str(hal), Reply("x" * 1500, image="https://charts.example/p.png"))
    by_url = fake.called("sendPhoto", hal)[1]
    assert by_url["photo"] == "https://charts.example/p.png"
    assert "caption" not in by_url.params
    assert fake.called("sendMessage", hal)[0]["text"] == "x" * 1500
    await poller.channel.send(str(hal), Reply("no such chart", image="/media/../roadie.sqlite"))
    assert len(fake.called("sendPhoto", hal)) == 2
    assert fake.called("sendMessage", hal)[1]["text"] == "no such chart"


async def test_long_button_values_travel_through_a_short_id(poller: Poller, fake: FakeTelegram) -> None:
    ivy = 3006
    long_value = "plan a trip to Coldplay in Brussels on 28 May 2027 for 2 from London in General admission standing"
    await poller.channel.send(str(ivy), Reply("Or standing?", buttons=[Button("Standing", long_value)]))
    [offer] = fake.called("sendMessage", ivy)
    data = offer["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert len(data.encode()) <= 64
    fake.push_update(press_update(offer, "Standing", presser=ivy))
    assert await eventually(lambda: poller.forwarded.texts(ivy)) == [long_value]
    assert await eventually(lambda: len(fake.called("sendMessage", ivy)) >= 2)


async def test_buttons_and_polls_sent_before_a_restart_work_on_another_worker(
    poller: Poller, fake: FakeTelegram
) -> None:
    kim, group = 3010, -1005550003
    long_value = (
        "plan a trip to Metallica in Berlin on 12 June 2027 for 3 from Madrid in the front-of-stage standing area"
    )
    await poller.channel.send(str(kim), Reply("Or up front?", buttons=[Button("Up front", long_value)]))
    [offer] = fake.called("sendMessage", kim)
    await poller.channel.send(str(group), Reply("Vote:", poll=Poll("p-city", "Which city?", ("Berlin", "Paris"))))
    telegram_poll = next(p for p in fake.polls.values() if p["question"] == "Which city?")
    other = TelegramChannel.from_settings(poller.roadie.settings)  # a second worker, or this one restarted
    forwarded = Forwarded(poller.roadie.service.handle)
    other.attach(forwarded, poller.roadie.service)
    vote = {"poll_id": telegram_poll["id"], "user": user(kim), "option_ids": [1], "option_persistent_ids": ["1"]}
    try:
        await other.dispatcher.feed_webhook_update(other.bot, press_update(offer, "Up front", presser=kim))
        await other.dispatcher.feed_webhook_update(other.bot, {"update_id": next(update_ids), "poll_answer": vote})
        assert await eventually(lambda: forwarded.texts(kim)) == [long_value]
        assert await eventually(lambda: forwarded.texts(group)) == ["vote p-city 2"]
    finally:
        await other.stop()


async def test_rate_limited_sends_wait_as_long_as_telegram_says(poller: Poller, fake: FakeTelegram) -> None:
    jo = 3007
    fake.fail_next("sendMessage", 429, retry_after=1)
    started = time.monotonic()
    await poller.channel.send(str(jo), Reply("Your trip to Brussels is confirmed."))
    refused = [c for c in fake.calls if c.method == "sendMessage" and c.status == 429]
    [delivered] = fake.called("sendMessage", jo)
    assert refused
    assert delivered["text"] == "Your trip to Brussels is confirmed."
    assert delivered.at - refused[-1].at >= 1.0
    assert time.monotonic() - started >= 1.0


async def test_html_telegram_cannot_parse_is_resent_as_plain_text(poller: Poller, fake: FakeTelegram) -> None:
    kim = 3008
    fake.fail_next("sendMessage", 400, "Bad Request: can't parse entities: Unsupported start tag")
    await poller.channel.send(str(kim), Reply("**Tom & Jerry** <live>"))
    [plain] = fake.called("sendMessage", kim)
    assert plain["text"] == "Tom & Jerry <live>"
    assert "parse_mode" not in plain.params


async def test_no_proactive_messages_after_stop(poller: Poller, fake: FakeTelegram) -> None:
    lea = 3009
    fake.push_update(message_update(lea, "STOP"))
    [confirmed] = await eventually(lambda: fake.called("sendMessage", lea))
    assert "won't send you alerts" in confirmed["text"]
    with pytest.raises(SendRefused):
        await poller.channel.send(str(lea), Reply("Coldplay announced a new date!"))
    assert len(fake.called("sendMessage", lea)) == 1
    fake.push_update(message_update(lea, "START"))
    await eventually(lambda: len(fake.called("sendMessage", lea)) >= 2)
    await poller.channel.send(str(lea), Reply("Coldplay announced a new date!"))
    assert fake.called("sendMessage", lea)[-1]["text"] == "Coldplay announced a new date!"


# Rendering: Telegram's HTML subset, escaped, split without breaking a tag.


class VisibleText(HTMLParser):
    """What a Telegram chat shows for one message (and the link targets), failing on tags Telegram refuses."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.shown: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in TELEGRAM_TAGS, tag
        self.open.append(tag)
        self.shown.extend(value or "" for name, value in attrs if name == "href")

    def handle_endtag(self, tag: str) -> None:
        assert self.open, tag
        assert self.open[-1] == tag, (self.open, tag)
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.shown.append(data)


def shown(chunk: str) -> str:
    parser = VisibleText()
    parser.feed(chunk)
    parser.close()
    assert parser.open == [], parser.open
    return "".join(parser.shown)


def test_markdown_becomes_telegram_html() -> None:
    markdown = (
        "# Your trip\n"
        "**Coldplay** in *Brussels* — [tickets](https://t.example/?a=1&b=2)\n"
        "- Fri 28 May · `RD8677` <LHR> & back\n"
        "1. __ticket__ ~~€400~~ €316\n"
        "> Doors open at 18:00\n"
        "\n"
        "```\nprint(1 < 2)\n```"
    )
    assert render_chunks(markdown) == [
        "<b>Your trip</b>\n"
        '<b>Coldplay</b> in <i>Brussels</i> — <a href="https://t.example/?a=1&amp;b=2">tickets</a>\n'
        "• Fri 28 May · <code>RD8677</code> &lt;LHR&gt; &amp; back\n"
        "1. <b>ticket</b> <s>€400</s> €316\n"
        "<blockquote>Doors open at 18:00</blockquote>\n"
        "\n"
        "<pre>print(1 &lt; 2)</pre>"
    ]


def test_a_long_code_block_is_closed_and_reopened_across_messages() -> None:
    chunks = render_chunks("```\n" + "row <x>\n" * 600 + "```")
    assert len(chunks) == 3
    assert all(c.startswith("<pre>") and c.endswith("</pre>") and units(c) <= 4096 for c in chunks)


MARKDOWN_PIECES = st.sampled_from(
    [
        "**",
        "*",
        "_",
        "__",
        "~~",
        "`",
        "```",
        "```py",
        "\n",
        "\n\n",
        "# ",
        "- ",
        "* ",
        "> ",
        "1. ",
        "&",
        "<b>",
        ">",
        "[link](https://x.example/a?b=1&c=2)",
        " ",
        "word",
        "😀",
        "é",
        "\t",
    ]
)
MARKDOWN = st.lists(st.one_of(MARKDOWN_PIECES, st.text(max_size=40)), max_size=400).map("".join)


@examples(max_examples=300, deadline=None)
@given(markdown=MARKDOWN, limit=st.sampled_from([200, 1024, 4096]), repeat=st.sampled_from([1, 1, 25]))
def test_any_markdown_renders_to_messages_within_the_limit_with_balanced_tags(
    markdown: str, limit: int, repeat: int
) -> None:
    text = markdown * repeat
    chunks = render_chunks(text, limit)
    for chunk in chunks:
        assert units(chunk) <= limit
        assert shown(chunk).strip()
    without_fences = FENCE_LINE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))  # fences show no text
    alphanumeric = Counter(c for c in without_fences if c.isalnum())
    assert Counter(c for chunk in chunks for c in shown(chunk) if c.isalnum()) == alphanumeric
