"""Travellers on WhatsApp: Twilio-signed webhooks into Roadie's real app, answers through the real twilio SDK.

Roadie runs with create_app on a copy of the demo database; the twilio Client talks over HTTP to a fake Twilio
REST API (tests/fakes/twilio_api.py), and the tests read what that fake received.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from assistant.clock import Clock, FixedClock
from assistant.messages import Button, Poll, Reply
from assistant.models import Booking, ChannelIdentity, ConversationEvent, ProcessedMessage
from assistant.service import ConversationService
from assistant.settings import Settings
from channels.base import SendRefused
from channels.whatsapp import (
    EMPTY_TWIML,
    MEDIA_NOTE,
    MEDIA_ONLY_ANSWER,
    RecentOptions,
    WhatsAppChannel,
    build_whatsapp,
    numbered,
    split_message,
    whatsapp_text,
)
from knowledge.embeddings import Embedder
from main import create_app
from tests.conftest import NOW
from tests.fakes.twilio_api import FakeTwilio
from tests.servers import serve_in_thread

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "twilio-auth-token-for-tests"
SENDER = "whatsapp:+14155238886"
PUBLIC = "https://roadie.example.com"
WEBHOOK = f"{PUBLIC}/whatsapp/webhook"
TEMPLATE = "HX" + "7" * 32
ANSWER_TIMEOUT_S = 30.0
# twilio's AsyncTwilioHttpClient passes aiohttp's deprecated BasicAuth; the SDK's to fix, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")


@pytest.fixture(scope="module")
def twilio() -> Iterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    with serve_in_thread(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="module")
def wa_settings(
    tmp_path_factory: pytest.TempPathFactory, seeded_template: Path, twilio: tuple[FakeTwilio, str]
) -> Settings:
    data = tmp_path_factory.mktemp("whatsapp")
    for suffix in ("", "-wal", "-shm"):
        source = seeded_template.with_name(seeded_template.name + suffix)
        if source.exists():
            shutil.copy(source, data / source.name)
    return Settings(  # type: ignore[arg-type]
        data_dir=data,
        database_url="",
        memory_url="",
        llm_base_url="",
        openai_api_key="",
        public_base_url=PUBLIC,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from=SENDER,
        twilio_api_base=twilio[1],
        twilio_content_sid=TEMPLATE,
    )


@pytest.fixture(scope="module")
def roadie_app(wa_settings: Settings, embedder: Embedder) -> Iterator[tuple[FastAPI, str]]:
    app = create_app(wa_settings, FixedClock(NOW), embedder)
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture(scope="module")
def fake(twilio: tuple[FakeTwilio, str]) -> FakeTwilio:
    return twilio[0]


@pytest.fixture(scope="module")
def service(roadie_app: tuple[FastAPI, str]) -> ConversationService:
    roadie: Any = roadie_app[0].state.roadie
    return roadie.service  # type: ignore[no-any-return]


@asynccontextmanager
async def whatsapp_channel(
    settings: Settings, people: ConversationService, clock: Clock
) -> AsyncIterator[WhatsAppChannel]:
    """A WhatsApp channel for proactive sends, as the scheduler process builds one, on this test's loop."""
    channel = WhatsAppChannel(settings, clock=clock)
    channel.attach(people.handle, people)
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()


@pytest_asyncio.fixture(scope="module")
async def proactive(wa_settings: Settings, service: ConversationService) -> AsyncIterator[WhatsAppChannel]:
    async with whatsapp_channel(wa_settings, service, FixedClock(NOW + timedelta(hours=1))) as channel:
        yield channel


class Traveller:
    """A person on WhatsApp: what they say reaches Roadie as Twilio would post it; what they hear is what Twilio got."""

    def __init__(self, app_url: str, fake: FakeTwilio, number: str, name: str = "Ana") -> None:
        self.app_url, self.fake, self.number, self.name = app_url, fake, number, name
        self.heard = 0

    def form(self, text: str, sid: str | None = None, media: str | None = None) -> dict[str, str]:
        sid = sid or "SM" + uuid.uuid4().hex
        params = {
            "SmsMessageSid": sid,
            "NumMedia": "1" if media else "0",
            "ProfileName": self.name,
            "MessageType": "image" if media else "text",
            "SmsSid": sid,
            "WaId": self.number.removeprefix("+"),
            "SmsStatus": "received",
            "Body": text,
            "To": SENDER,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{self.number}",
            "ApiVersion": "2010-04-01",
        }
        if media:
            params |= {"MediaUrl0": media, "MediaContentType0": "image/jpeg"}
        return params

    def post(self, params: dict[str, str], signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return httpx.post(f"{self.app_url}/whatsapp/webhook", content=urlencode(params), headers=headers, timeout=10)

    def says(self, text: str, sid: str | None = None, media: str | None = None) -> httpx.Response:
        """Send `text` signed by Twilio over Roadie's public URL; the webhook must acknowledge with empty TwiML."""
        params = self.form(text, sid, media)
        response = self.post(params, RequestValidator(AUTH_TOKEN).compute_signature(WEBHOOK, params))
        assert response.status_code == 200, response.text
        assert response.text == EMPTY_TWIML
        assert response.headers["content-type"].startswith("text/xml")
        return response

    def hears(self, count: int = 1, timeout: float = ANSWER_TIMEOUT_S) -> list[str]:
        """The next `count` WhatsApp messages Roadie sent to this number through Twilio."""
        deadline = time.monotonic() + timeout
        while len(self.fake.to(self.number)) < self.heard + count:
            assert time.monotonic() < deadline, f"{self.number} heard {self.fake.to(self.number)[self.heard :]}"
            time.sleep(0.05)
        new = self.fake.to(self.number)[self.heard : self.heard + count]
        self.heard += count
        assert all(m.from_ == SENDER for m in new)
        return [m.body for m in new]

    def hear(self) -> str:
        return self.hears(1)[0]


def traveller(roadie_app: tuple[FastAPI, str], fake: FakeTwilio, number: str, name: str = "Ana") -> Traveller:
    return Traveller(roadie_app[1], fake, number, name)


def rows(service: ConversationService, number: str, sids: list[str]) -> tuple[int, int, int]:
    """(identities, processed messages, turns) Roadie holds for this number and these message ids."""
    with service.services.db.session() as session:
        identities = session.scalars(select(ChannelIdentity).where(ChannelIdentity.external_id == number)).all()
        processed = session.scalars(select(ProcessedMessage).where(ProcessedMessage.message_id.in_(sids))).all()
        turns = session.scalars(
            select(ConversationEvent).where(
                ConversationEvent.conversation.contains(number), ConversationEvent.kind == "turn"
            )
        ).all()
        return len(identities), len(processed), len(turns)


def test_a_verified_message_is_answered_once_through_the_rest_api(roadie_app: Any, fake: FakeTwilio) -> None:
    ana = traveller(roadie_app, fake, "+447700900001")
    ana.says("any Coldplay shows in Europe?")
    answer = ana.hear()
    assert answer.startswith("*Coldplay* in Europe")
    assert "• *Fri 28 May 2027, 21:00* · King Baudouin Stadium, Brussels" in answer
    assert "**" not in answer
    assert answer.endswith("1. Full Coldplay tour\n2. Only London\nReply 1 or 2.")
    assert len(fake.to(ana.number)) == 1


def test_forged_missing_or_misaddressed_signatures_are_refused_and_change_nothing(
    roadie_app: Any, fake: FakeTwilio, service: ConversationService
) -> None:
    mallory = traveller(roadie_app, fake, "+447700900666", "Mallory")
    signer = RequestValidator(AUTH_TOKEN)
    forged = mallory.form("book me everything")
    assert mallory.post(forged, RequestValidator("not-the-token").compute_signature(WEBHOOK, forged)).status_code == 403
    missing = mallory.form("book me everything")
    assert mallory.post(missing, None).status_code == 403
    # Signed for the address the request arrived on, not the public URL Twilio calls: refused.
    local = mallory.form("book me everything")
    assert mallory.post(local, signer.compute_signature(roadie_app[1] + "/whatsapp/webhook", local)).status_code == 403
    tampered = mallory.form("hi")
    signature = signer.compute_signature(WEBHOOK, tampered)
    assert mallory.post({**tampered, "Body": "book me everything"}, signature).status_code == 403

    # A real message after them is answered; by then nothing of Mallory's has run.
    bea = traveller(roadie_app, fake, "+447700900002", "Bea")
    bea.says("find Adele concerts")
    assert "Adele" in bea.hear()
    sids = [p["MessageSid"] for p in (forged, missing, local, tampered)]
    assert rows(service, mallory.number, sids) == (0, 0, 0)
    assert fake.to(mallory.number) == []


def test_an_oversized_body_is_refused(roadie_app: Any, fake: FakeTwilio) -> None:
    huge = traveller(roadie_app, fake, "+447700900003").form("x" * 70_000)
    response = httpx.post(
        f"{roadie_app[1]}/whatsapp/webhook",
        content=urlencode(huge),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "whatever"},
    )
    assert response.status_code == 413


def test_a_redelivered_message_sid_is_answered_once(
    roadie_app: Any, fake: FakeTwilio, service: ConversationService
) -> None:
    cleo = traveller(roadie_app, fake, "+447700900004", "Cleo")
    cleo.says("find Metallica concerts", sid="SMredelivered0001")
    cleo.says("find Metallica concerts", sid="SMredelivered0001")
    assert "Metallica" in cleo.hear()
    cleo.says("thanks")
    assert "welcome" in cleo.hear()
    assert len(fake.to(cleo.number)) == 2
    assert rows(service, cleo.number, ["SMredelivered0001"]) == (1, 1, 2)


def test_a_numbered_answer_runs_the_option_it_names(roadie_app: Any, fake: FakeTwilio) -> None:
    dan = traveller(roadie_app, fake, "+447700900005", "Dan")
    dan.says("hi")
    assert dan.hear().endswith("1. Coldplay in Europe\n2. Taylor Swift's tour\nReply 1 or 2.")
    dan.says(" 1. ")
    europe = dan.hear()
    assert europe.startswith("*Coldplay* in Europe")
    assert europe.endswith("1. Full Coldplay tour\n2. Only London\nReply 1 or 2.")
    dan.says("2")
    london = dan.hear()
    assert "Wembley Stadium, London" in london
    assert "Munich" not in london


def test_a_photo_without_words_is_acknowledged_without_a_turn(
    roadie_app: Any, fake: FakeTwilio, service: ConversationService
) -> None:
    eve = traveller(roadie_app, fake, "+447700900006", "Eve")
    photo = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1"
    eve.says("", sid="SMphoto0001", media=photo)
    eve.says("", sid="SMphoto0001", media=photo)  # Twilio redelivers it
    assert eve.hear() == MEDIA_ONLY_ANSWER
    assert rows(service, eve.number, ["SMphoto0001"]) == (0, 0, 0)

    eve.says("any Coldplay shows in Europe?", media=photo)
    with_words = eve.hear()
    assert with_words.startswith(MEDIA_NOTE)
    assert "King Baudouin Stadium" in with_words
    assert len(fake.to(eve.number)) == 2


async def test_stop_refuses_proactive_messages_until_start(
    roadie_app: Any, fake: FakeTwilio, proactive: WhatsAppChannel
) -> None:
    finn = traveller(roadie_app, fake, "+447700900007", "Finn")
    finn.says("STOP")
    assert "won't send you alerts" in finn.hear()
    with pytest.raises(SendRefused, match="opted out"):
        await proactive.send(f"whatsapp:{finn.number}", Reply("**Coldplay** added a date in Paris"))
    assert len(fake.to(finn.number)) == 1

    finn.says("start")
    assert "Welcome back" in finn.hear()
    await proactive.send(finn.number, Reply("**Coldplay** added a date in Paris"))
    assert finn.hear() == "*Coldplay* added a date in Paris"


async def test_outside_the_24_hour_window_the_approved_template_goes_out(
    roadie_app: Any, fake: FakeTwilio, wa_settings: Settings, service: ConversationService, proactive: WhatsAppChannel
) -> None:
    never_wrote = "+447700900008"
    await proactive.send(never_wrote, Reply("**Coldplay** added a date in Paris\nTickets from €120."))
    [template] = fake.to(never_wrote)
    assert template.content_sid == TEMPLATE
    assert json.loads(template.content_variables) == {"1": "Coldplay added a date in Paris"}
    assert template.body == ""

    gus = traveller(roadie_app, fake, "+447700900009", "Gus")
    gus.says("hello")
    gus.hear()
    async with whatsapp_channel(wa_settings, service, FixedClock(NOW + timedelta(hours=25))) as next_day:
        await next_day.send(gus.number, Reply("Your Brussels trip is in 3 days"))
    assert fake.to(gus.number)[-1].content_sid == TEMPLATE


async def test_outside_the_window_without_a_template_nothing_is_sent(
    fake: FakeTwilio, wa_settings: Settings, service: ConversationService
) -> None:
    untemplated = wa_settings.model_copy(update={"twilio_content_sid": ""})
    async with whatsapp_channel(untemplated, service, FixedClock(NOW)) as channel:
        with pytest.raises(SendRefused, match="outside the 24-hour WhatsApp session window"):
            await channel.send("+447700900010", Reply("Coldplay added a date in Paris"))
    assert fake.to("+447700900010") == []


async def test_a_long_reply_is_split_at_paragraphs_under_twilios_limit(
    roadie_app: Any, fake: FakeTwilio, proactive: WhatsAppChannel
) -> None:
    hana = traveller(roadie_app, fake, "+447700900011", "Hana")
    hana.says("hi")
    hana.hear()
    paragraphs = [f"**Day {n}**: " + " ".join(["a long day of music and travel"] * 12) for n in range(1, 11)]
    reply = Reply("\n\n".join(paragraphs), buttons=[Button("Book it", "book it"), Button("Not now", "not now")])
    await proactive.send(hana.number, reply)
    parts = [m.body for m in fake.to(hana.number)[1:]]
    assert len(parts) >= 3
    assert all(len(p) <= 1600 for p in parts)
    assert all(p.startswith("*Day ") for p in parts)
    assert "\n\n".join(parts) == numbered(reply)[0]
    assert parts[-1].endswith("1. Book it\n2. Not now\nReply 1 or 2.")


async def test_images_go_out_as_public_media_urls(
    roadie_app: Any, fake: FakeTwilio, proactive: WhatsAppChannel
) -> None:
    ivy = traveller(roadie_app, fake, "+447700900012", "Ivy")
    ivy.says("hi")
    ivy.hear()
    await proactive.send(ivy.number, Reply("Your seat map", image="/media/seatmap.png"))
    await proactive.send(ivy.number, Reply("The venue", image="https://cdn.example.com/venue.jpg"))
    seat_map, venue = fake.to(ivy.number)[1:]
    assert (seat_map.body, seat_map.media_urls) == ("Your seat map", (f"{PUBLIC}/media/seatmap.png",))
    assert venue.media_urls == ("https://cdn.example.com/venue.jpg",)


@pytest.mark.parametrize(
    ("number", "retry_after", "at_least_s"), [("+447700900013", "2", 1.9), ("+447700900014", None, 0.9)]
)
def test_twilio_429_is_retried_after_the_wait_it_asks_for(
    roadie_app: Any, fake: FakeTwilio, number: str, retry_after: str | None, at_least_s: float
) -> None:
    jo = traveller(roadie_app, fake, number, "Jo")
    fake.fail_next(number, 429, retry_after)
    jo.says("find Adele concerts")
    assert "Adele" in jo.hear()
    limited, accepted = [r for r in fake.requests if r.to == f"whatsapp:{number}"]
    assert (limited.status, accepted.status) == (429, 201)
    assert limited.body == accepted.body
    assert accepted.at - limited.at >= at_least_s


def test_polls_and_buttons_become_numbered_options() -> None:
    reply = Reply(
        "Which show should the group go to?",
        poll=Poll("p42", "Pick a date", ("Fri 28 May", "Sat 29 May")),
        buttons=[Button("Skip", "skip the vote")],
    )
    text, values = numbered(reply)
    assert text == (
        "Which show should the group go to?\n\n*Pick a date*\n1. Fri 28 May\n2. Sat 29 May\n3. Skip\nReply 1, 2 or 3."
    )
    assert values == ["vote p42 1", "vote p42 2", "skip the vote"]
    options = RecentOptions(capacity=2)
    options.remember("+1", values)
    assert [options.pick("+1", said) for said in ("2", " 2 ", "2.", "3)")] == [
        "vote p42 2",
        "vote p42 2",
        "vote p42 2",
        "skip the vote",
    ]
    assert options.pick("+1", "4") is None
    assert options.pick("+1", "2 tickets please") is None
    options.remember("+2", ["a"])
    options.remember("+3", ["b"])
    assert options.pick("+1", "1") is None  # forgotten: only the newest numbers are kept
    options.remember("+3", [])
    assert options.pick("+3", "1") is None


def test_markdown_becomes_whatsapp_formatting_and_long_text_splits_cleanly() -> None:
    assert whatsapp_text("**Coldplay** — *Music of the Spheres*\n- [tickets](https://t.example/1)") == (
        "*Coldplay* — _Music of the Spheres_\n• tickets (https://t.example/1)"
    )
    lines = "\n".join(f"line {n:03d} " + "x" * 60 for n in range(60))
    parts = split_message(lines, 1600)
    assert all(len(p) <= 1600 for p in parts)
    assert "\n".join(parts) == lines
    assert split_message("word " * 500, 100)[0] == ("word " * 20).strip()


def test_the_channel_stays_off_without_credentials() -> None:
    reason = build_whatsapp(Settings(public_base_url="", twilio_account_sid=""))  # type: ignore[call-arg]
    assert isinstance(reason, str)
    assert "ROADIE_TWILIO_ACCOUNT_SID" in reason
    assert "ROADIE_PUBLIC_BASE_URL" in reason


def test_the_conversation_search_follow_plan_confirm(
    roadie_app: Any, fake: FakeTwilio, service: ConversationService
) -> None:
    kim = traveller(roadie_app, fake, "+447700900099", "Kim")
    kim.says("any Coldplay shows in Europe?")
    assert "King Baudouin Stadium, Brussels" in kim.hear()

    kim.says("follow Coldplay")
    assert "You're now following *Coldplay*" in kim.hear()

    kim.says("plan a trip to the Brussels show for 2 from London")
    quote = kim.hear()
    assert "Trip to *Coldplay* at King Baudouin Stadium, Brussels" in quote
    assert "2 travellers from London" in quote
    assert "\n1. Book it\n" in quote

    kim.says("1")  # the numbered option "Book it"
    ask = kim.hear()
    assert "Shall I book *Coldplay* in Brussels" in ask
    assert ask.endswith("1. Yes, book it\n2. No\nReply 1 or 2.")
    assert _bookings(service, kim.number) == []  # nothing is booked before the yes

    kim.says("1")  # "Yes, book it"
    booked = kim.hear()
    assert booked.startswith("Booked! Reference *")
    assert "no card was charged" in booked
    assert _bookings(service, kim.number) == [booked.removeprefix("Booked! Reference *").split("*")[0]]


def _bookings(service: ConversationService, number: str) -> list[str]:
    """References of the bookings held by the person behind this WhatsApp number."""
    with service.services.db.session() as session:
        return list(
            session.scalars(
                select(Booking.reference)
                .join(ChannelIdentity, ChannelIdentity.person_id == Booking.person_id)
                .where(ChannelIdentity.channel == "whatsapp", ChannelIdentity.external_id == number)
            )
        )
