"""Roadie on Slack: real slack-bolt and slack_sdk against a fake Slack Web API, through Roadie's real app.

People talk to Roadie with signed requests to /slack/events; the tests read what the fake Slack
received (messages, updates, uploads) and what Roadie's database recorded.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select

from assistant.clock import FixedClock
from assistant.db import Database
from assistant.messages import Button, Poll, Reply
from assistant.models import (
    Booking,
    ChannelIdentity,
    ConversationEvent,
    Follow,
    GroupMember,
    GroupPoll,
    Person,
    PollVote,
    ProcessedMessage,
    TripGroup,
)
from assistant.settings import Settings
from channels.base import SendRefused
from channels.slack import SlackChannel, build_slack, slack_to_text
from channels.slack_render import MAX_BLOCKS, SECTION_CHARS, markdown_to_mrkdwn, pressed, render_reply, split_text
from knowledge.embeddings import Embedder
from main import create_app
from tests.conftest import NOW
from tests.fakes.slack_api import (
    BOT_USER,
    SIGNING_SECRET,
    TEAM,
    TOKEN,
    Delivery,
    FakeSlackApi,
    buttons,
    channel_message,
    dm,
    event_callback,
    mention,
    press,
    section_text,
    slash,
)
from tests.servers import serve_in_thread

STAFF_USER = "USTAFF1"
STAFF_CHANNEL = "CSTAFF01"


@dataclass
class Workspace:
    """A Slack workspace talking to a running Roadie: send signed requests, read what Slack received."""

    roadie: httpx.Client
    slack: FakeSlackApi
    app: FastAPI
    settings: Settings

    def deliver(self, delivery: Delivery, **signing: Any) -> httpx.Response:
        """POST one request to /slack/events as Slack would (signed unless told otherwise)."""
        return self.roadie.post("/slack/events", content=delivery.body, headers=delivery.headers(**signing))

    @property
    def db(self) -> Database:
        return self.app.state.roadie.services.db  # type: ignore[no-any-return]

    def count(self, model: Any, *where: Any) -> int:
        with self.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def role_of(self, user: str) -> str | None:
        with self.db.session() as session:
            return session.scalar(
                select(Person.role)
                .join(ChannelIdentity, ChannelIdentity.person_id == Person.id)
                .where(ChannelIdentity.channel == "slack", ChannelIdentity.external_id == user)
            )

    def handled(self, event_id: str) -> bool:
        return self.count(ProcessedMessage, ProcessedMessage.message_id == event_id) > 0


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlackApi]:
    api = FakeSlackApi()
    with serve_in_thread(api.app) as base:
        api.base = base  # type: ignore[attr-defined]
        yield api


@pytest.fixture(scope="module")
def slack_settings(tmp_path_factory: pytest.TempPathFactory, seeded_template: Path, slack: FakeSlackApi) -> Settings:
    home = tmp_path_factory.mktemp("slack")
    for suffix in ("", "-wal", "-shm"):
        source = seeded_template.with_name(seeded_template.name + suffix)
        if source.exists():
            shutil.copy(source, home / source.name)
    return Settings(
        data_dir=home,
        database_url="",
        memory_url="",
        llm_base_url="",
        openai_api_key=SecretStr(""),
        slack_bot_token=SecretStr(TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_base=f"{slack.base}/api/",  # type: ignore[attr-defined]
        slack_team_id=TEAM,
        slack_staff_users=f"{STAFF_USER}, UOTHERSTAFF",
        slack_staff_channel=STAFF_CHANNEL,
    )


@pytest.fixture(scope="module")
def workspace(slack_settings: Settings, embedder: Embedder, slack: FakeSlackApi) -> Iterator[Workspace]:
    app = create_app(slack_settings, FixedClock(NOW), embedder)
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30.0) as client:
        yield Workspace(client, slack, app, slack_settings)


@pytest.fixture
def channel(slack_settings: Settings, workspace: Workspace) -> SlackChannel:
    """Roadie's Slack channel on the test's own loop, composed with the running Roadie's service (for send())."""
    built = build_slack(slack_settings)
    assert isinstance(built, SlackChannel)
    service = workspace.app.state.roadie.service
    built.attach(service.handle, service)
    return built


# Conversations in a direct message


def test_a_direct_message_is_answered_with_blocks_and_buttons(workspace: Workspace) -> None:
    ack = workspace.deliver(dm("UANA", "any Coldplay shows in Europe?"))
    assert ack.status_code == 200

    [answer] = workspace.slack.wait_for("chat.postMessage", channel="DUANA")
    text = section_text(answer)
    assert "*Coldplay* in Europe" in text
    assert "King Baudouin Stadium, Brussels" in text
    assert "**" not in text
    assert "\n• *Fri 28 May 2027, 21:00*" in text
    assert answer["text"], "a notification fallback goes with the blocks"
    assert "thread_ts" not in answer, "a top-level DM is answered top-level"
    labels = [b["text"]["text"] for b in buttons(answer)]
    assert "Full Coldplay tour" in labels
    assert len({b["action_id"] for b in buttons(answer)}) == len(labels)
    assert workspace.role_of("UANA") == "traveller"


def test_slack_asks_for_the_url_once_and_gets_its_challenge_back(workspace: Workspace) -> None:
    body = json.dumps({"token": "t", "challenge": "roadie-challenge-42", "type": "url_verification"}).encode()
    ack = workspace.deliver(Delivery(body, "application/json"))
    assert ack.status_code == 200
    assert "roadie-challenge-42" in ack.text


def test_forged_and_stale_requests_are_refused_and_change_nothing(workspace: Workspace) -> None:
    forged = dm("UMALLORY", "book everything on my card")
    assert workspace.deliver(forged, secret="not-the-signing-secret").status_code == 401
    stale = dm("UMALLORY", "find Adele concerts")
    assert workspace.deliver(stale, timestamp=int(time.time()) - 600).status_code == 401
    unsigned = workspace.roadie.post("/slack/events", content=forged.body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401

    time.sleep(0.5)
    assert workspace.slack.to("chat.postMessage", "DUMALLORY") == []
    assert not workspace.handled(forged.event_id)
    assert not workspace.handled(stale.event_id)
    assert workspace.role_of("UMALLORY") is None, "no person was created"
    assert workspace.count(ConversationEvent, ConversationEvent.conversation.contains("UMALLORY")) == 0


def test_a_redelivered_event_is_answered_once(workspace: Workspace) -> None:
    first = dm("UBO", "find Adele concerts")
    assert workspace.deliver(first).status_code == 200
    assert workspace.deliver(first, retry=1).status_code == 200
    assert workspace.deliver(first, retry=2).status_code == 200
    workspace.slack.wait_for("chat.postMessage", channel="DUBO")

    assert workspace.deliver(dm("UBO", "thanks")).status_code == 200
    answers = workspace.slack.wait_for("chat.postMessage", 2, channel="DUBO")
    time.sleep(0.3)
    assert len(workspace.slack.to("chat.postMessage", "DUBO")) == 2
    assert "Adele" in section_text(answers[0])
    assert "welcome" in section_text(answers[1])


def test_search_follow_plan_and_book_by_pressing_the_buttons(workspace: Workspace) -> None:
    said = pressed = 0

    def say(text: str) -> tuple[str, dict[str, Any]]:
        nonlocal said
        assert workspace.deliver(dm("UFLOR", text)).status_code == 200
        said += 1
        return workspace.slack.posted("DUFLOR", said)[-1]

    def tap(message: tuple[str, dict[str, Any]], label: str) -> tuple[str, dict[str, Any]]:
        nonlocal said, pressed
        ts, posted = message
        value = next(b["value"] for b in buttons(posted) if b["text"]["text"] == label)
        assert workspace.deliver(press("UFLOR", posted, ts, value)).status_code == 200
        said, pressed = said + 1, pressed + 1
        marked = workspace.slack.wait_for("chat.update", pressed, channel="DUFLOR")[-1]
        assert marked["ts"] == ts
        assert f"chose *{label}*" in json.dumps(marked["blocks"])
        return workspace.slack.posted("DUFLOR", said)[-1]

    shows = say("any Coldplay shows in Europe?")
    assert "King Baudouin Stadium, Brussels" in section_text(shows[1])
    following = say("follow Coldplay")
    assert "now following *Coldplay*" in section_text(following[1])
    plan = say("plan a trip to the Brussels show for 2 from London")
    quote = section_text(plan[1])
    assert "Trip to *Coldplay* at King Baudouin Stadium, Brussels" in quote
    assert "*Total €886*" in quote
    confirm = tap(plan, "Book it")
    assert "Shall I book *Coldplay* in Brussels" in section_text(confirm[1])
    booked = tap(confirm, "Yes, book it")
    assert "Booked! Reference *RD-" in section_text(booked[1])

    with workspace.db.session() as session:
        person = session.scalar(
            select(ChannelIdentity.person_id).where(
                ChannelIdentity.channel == "slack", ChannelIdentity.external_id == "UFLOR"
            )
        )
        assert session.scalar(select(func.count()).select_from(Booking).where(Booking.person_id == person)) == 1
        assert session.scalar(select(func.count()).select_from(Follow).where(Follow.person_id == person)) == 1


def test_a_slow_slack_does_not_slow_the_acknowledgement(workspace: Workspace) -> None:
    workspace.slack.delays["chat.postMessage"] = 4.0
    try:
        started = time.perf_counter()
        ack = workspace.deliver(dm("USLOW", "show me the Taylor Swift tour"))
        acked_in = time.perf_counter() - started
        workspace.slack.wait_for("chat.postMessage", channel="DUSLOW")
    finally:
        workspace.slack.delays.clear()
    assert ack.status_code == 200
    assert acked_in < 3.0, f"Slack needs its 200 within 3 s; it took {acked_in:.2f} s"
    time.sleep(4.5)  # the slow answer completes; it is still one answer
    assert len(workspace.slack.to("chat.postMessage", "DUSLOW")) == 1


def test_a_rate_limited_answer_waits_as_told_and_is_sent_once(workspace: Workspace) -> None:
    workspace.slack.rate_limited["chat.postMessage"] = 1
    assert workspace.deliver(dm("URATE", "find Metallica concerts")).status_code == 200
    attempts = workspace.slack.wait_for("chat.postMessage", 2, channel="DURATE")
    refused_at, sent_at = (c.at for c in workspace.slack.calls_to("chat.postMessage", "DURATE"))
    assert sent_at - refused_at >= 0.95, "Roadie waited for the Retry-After Slack sent"
    assert attempts[0] == attempts[1]
    assert "Metallica" in section_text(attempts[1])
    time.sleep(0.3)
    assert len(workspace.slack.to("chat.postMessage", "DURATE")) == 2


# Buttons, polls and the slash command


def test_a_button_press_is_acknowledged_marked_and_answered(workspace: Workspace) -> None:
    workspace.deliver(dm("UCLEO", "hi"))
    [(posted_ts, greeting)] = workspace.slack.posted("DUCLEO")
    value = buttons(greeting)[0]["value"]

    started = time.perf_counter()
    ack = workspace.deliver(press("UCLEO", greeting, posted_ts, value))
    assert ack.status_code == 200
    assert time.perf_counter() - started < 3.0

    [update] = workspace.slack.wait_for("chat.update", channel="DUCLEO")
    assert update["ts"] == posted_ts
    assert not [b for b in update["blocks"] if b["type"] == "actions"], "the buttons are gone"
    marked = json.dumps(update["blocks"])
    assert "<@UCLEO> chose *Coldplay in Europe*" in marked
    answers = workspace.slack.wait_for("chat.postMessage", 2, channel="DUCLEO")
    assert "*Coldplay* in Europe" in section_text(answers[1])

    workspace.deliver(press("UCLEO", greeting, posted_ts, value))  # a second press of the same message
    workspace.deliver(dm("UCLEO", "thanks"))
    answers = workspace.slack.wait_for("chat.postMessage", 3, channel="DUCLEO")
    time.sleep(0.3)
    assert len(workspace.slack.to("chat.postMessage", "DUCLEO")) == 3
    assert "welcome" in section_text(answers[2])


def test_roadie_slash_command_answers_in_the_channel(workspace: Workspace) -> None:
    command = slash("UDAN", "CGENERAL1", "find Metallica concerts")
    ack = workspace.deliver(command)
    assert ack.status_code == 200
    assert ack.text == ""
    [answer] = workspace.slack.wait_for("chat.postMessage", channel="CGENERAL1")
    assert "Metallica" in section_text(answer)


def test_slash_command_where_roadie_is_not_a_member_answers_privately(workspace: Workspace) -> None:
    workspace.slack.not_in_channel.add("CPRIVATE1")
    hook = f"{workspace.slack.base}/response/cmd-1"  # type: ignore[attr-defined]
    assert workspace.deliver(slash("UDAN", "CPRIVATE1", "find Adele concerts", response_url=hook)).status_code == 200
    [private] = workspace.slack.wait_for("response_url")
    assert private["hook"] == "cmd-1"
    assert private["response_type"] == "ephemeral"
    assert "Adele" in section_text(private)


# Channels: mentions only, threads as conversations


def test_in_a_channel_roadie_answers_mentions_in_threads_and_ignores_chatter(workspace: Workspace) -> None:
    chatter = channel_message("UEVA", "CTRIP01", "anyone going to Coldplay?")
    assert workspace.deliver(chatter).status_code == 200
    by_a_bot = channel_message("UEVA", "CTRIP01", "a bot said this", bot_id="BOTHER", subtype="bot_message")
    assert workspace.deliver(by_a_bot).status_code == 200
    edit = channel_message("UEVA", "CTRIP01", "edited", subtype="message_changed")
    assert workspace.deliver(edit).status_code == 200

    top = mention("UEVA", "CTRIP01", "any Coldplay shows in Europe?", ts="1790000100.000100")
    assert workspace.deliver(top).status_code == 200
    [first] = workspace.slack.wait_for("chat.postMessage", channel="CTRIP01")
    assert first["thread_ts"] == "1790000100.000100", "a top-level mention is answered in a thread on it"
    assert "*Coldplay* in Europe" in section_text(first)

    follow_up = mention("UEVA", "CTRIP01", "what about in May?", thread_ts="1790000100.000100")
    assert workspace.deliver(follow_up).status_code == 200
    answers = workspace.slack.wait_for("chat.postMessage", 2, channel="CTRIP01")
    assert answers[1]["thread_ts"] == "1790000100.000100"
    assert "May 2027" in section_text(answers[1]), "the thread remembers it was about Coldplay in Europe"

    time.sleep(0.3)
    assert len(workspace.slack.to("chat.postMessage", "CTRIP01")) == 2
    for ignored in (chatter, by_a_bot, edit):
        assert not workspace.handled(ignored.event_id)


def test_roadies_own_messages_are_not_answered(workspace: Workspace) -> None:
    own = dm(BOT_USER, "Here are the shows", channel="DUFAY", bot_id="BROADIE")
    assert workspace.deliver(own).status_code == 200
    time.sleep(0.5)
    assert workspace.slack.to("chat.postMessage", "DUFAY") == []
    assert not workspace.handled(own.event_id)


# A trip group planned in a channel: mentions create and join it, the poll is Block Kit buttons


def test_a_slack_channel_creates_a_trip_group_joins_it_and_decides_by_buttons(workspace: Workspace) -> None:
    trip, started = "CGROUPTRIP", "1790000400.000100"
    workspace.slack.names.update({"UTRIPANA": "Ana", "UTRIPBEN": "Ben"})  # Cy has set no name in Slack
    said = 0

    def answer(delivery: Delivery) -> tuple[str, dict[str, Any]]:
        """Deliver `delivery` and wait for Roadie's next message in the trip channel."""
        nonlocal said
        assert workspace.deliver(delivery).status_code == 200
        said += 1
        return workspace.slack.posted(trip, said)[-1]

    assert workspace.deliver(channel_message("UTRIPDEV", trip, "I'm in")).status_code == 200  # not said to Roadie
    _, created = answer(mention("UTRIPANA", trip, "create a group for Coldplay", ts=started))
    assert created["thread_ts"] == started
    found = re.search(r"Join code: \*(G-[A-Z0-9]{6})\*", section_text(created))
    assert found, section_text(created)
    code = found.group(1)
    assert f"/roadie join group {code}" in section_text(created), "the answer says how to join from Slack"

    _, joined = answer(mention("UTRIPBEN", trip, "I'm in", thread_ts=started))
    assert "Welcome to *Coldplay trip*, Ben!" in section_text(joined), "the name Slack shows for Ben"
    assert workspace.deliver(slash("UTRIPCY", "DUTRIPCY", f"join group {code}")).status_code == 200
    [welcome] = workspace.slack.wait_for("chat.postMessage", channel="DUTRIPCY")
    assert "Welcome to *Coldplay trip*, utripcy!" in section_text(welcome), "no Slack name: the command's user name"
    said += 1
    _, told = workspace.slack.posted(trip, said)[-1]
    assert "utripcy joined *Coldplay trip* and is going." in section_text(told), "the channel hears of Cy joining"
    with workspace.db.session() as session:
        group = session.scalars(select(TripGroup).where(TripGroup.join_code == code)).one()
        assert group.chat_key == f"slack:{trip}"

    poll_ts, poll = answer(mention("UTRIPANA", trip, "poll: Brussels 28 May or Munich 24 April?", thread_ts=started))
    assert poll["thread_ts"] == started
    votes = buttons(poll)
    assert [b["text"]["text"] for b in votes] == ["Brussels 28 May", "Munich 24 April"]
    assert all(b["action_id"].startswith("roadie_vote_") for b in votes)
    brussels, munich = (b["value"] for b in votes)

    def vote(user: str, value: str) -> str:
        _, answered = answer(press(user, poll, poll_ts, value))
        assert answered["thread_ts"] == started, "votes are answered in the thread"
        return section_text(answered)

    assert "1 of 3 have voted" in vote("UTRIPBEN", brussels)
    assert "2 of 3 have voted" in vote("UTRIPCY", munich)
    assert "2 of 3 have voted" in vote("UTRIPCY", munich), "a second click is the same vote"
    assert "Changed your vote to *Brussels 28 May*. 2 of 3 have voted" in vote("UTRIPCY", brussels)
    result = vote("UTRIPANA", munich)
    assert "Everyone has voted" in result
    assert "*Brussels 28 May* wins (Brussels 28 May 2, Munich 24 April 1)" in result
    marked = workspace.slack.to("chat.update", trip)[-1]
    assert marked["ts"] == poll_ts
    assert "<@UTRIPANA> voted for *Munich 24 April*" in json.dumps(marked["blocks"])
    assert buttons(marked), "the vote buttons stay for the others"
    polls = select(GroupPoll.id).where(GroupPoll.group_id == group.id)
    assert workspace.count(PollVote, PollVote.poll_id.in_(polls)) == 3, "one vote per person"
    assert workspace.count(GroupMember, GroupMember.group_id == group.id) == 3, "Dev did not join by chatting"

    chatter = channel_message("UTRIPBEN", trip, "Brussels it is, booking the time off")
    assert workspace.deliver(chatter).status_code == 200
    time.sleep(1.0)
    assert len(workspace.slack.to("chat.postMessage", trip)) == said
    assert not workspace.handled(chatter.event_id)
    status = section_text(answer(mention("UTRIPBEN", trip, "group status", thread_ts=started))[1])
    assert "• Ana ✓ going (slack)\n• Ben ✓ going (slack)\n• utripcy ✓ going (slack)" in status, status


async def test_names_come_from_slack_once_and_without_users_read_from_the_request(
    channel: SlackChannel, workspace: Workspace
) -> None:
    workspace.slack.names["UNAMED"] = "Nadia"
    assert await channel.name_of("UNAMED") == "Nadia"
    assert await channel.name_of("UNAMED") == "Nadia"
    assert len([c for c in workspace.slack.to("users.info") if c["user"] == "UNAMED"]) == 1, "asked once"

    workspace.slack.errors["users.info"] = "missing_scope"
    try:
        assert await channel.name_of("UNOSCOPE") == ""
        assert await channel.name_of("UNOSCOPE2") == ""
    finally:
        del workspace.slack.errors["users.info"]
    assert [c["user"] for c in workspace.slack.to("users.info") if c["user"].startswith("UNOSCOPE")] == ["UNOSCOPE"]


def test_someone_first_seen_without_a_name_is_named_when_slack_tells_it(workspace: Workspace) -> None:
    workspace.deliver(dm("ULATE", "hi"))
    workspace.slack.wait_for("chat.postMessage", channel="DULATE")
    assert workspace.role_of("ULATE") == "traveller"
    name = select(Person.display_name).join(ChannelIdentity).where(ChannelIdentity.external_id == "ULATE")
    with workspace.db.session() as session:
        assert session.scalar(name) == "", "a DM carries no name, and this person set none in Slack"
    workspace.deliver(slash("ULATE", "DULATE", "hi"))
    workspace.slack.wait_for("chat.postMessage", 2, channel="DULATE")
    with workspace.db.session() as session:
        assert session.scalar(name) == "ulate", "the slash command's user name fills it in"


# Who is staff


def test_staff_comes_from_configuration_and_other_workspaces_are_refused(workspace: Workspace) -> None:
    # One at a time: a person's first contact is written while another's is (see the report on SQLite locking).
    workspace.deliver(dm(STAFF_USER, "hi"))
    workspace.slack.wait_for("chat.postMessage", channel=f"D{STAFF_USER}")
    workspace.deliver(mention("UOPS", STAFF_CHANNEL, "hi"))
    workspace.slack.wait_for("chat.postMessage", channel=STAFF_CHANNEL)
    workspace.deliver(dm("UTRAVELLER", "hi"))
    workspace.slack.wait_for("chat.postMessage", channel="DUTRAVELLER")
    outsider = event_callback(
        {"type": "app_mention", "channel": STAFF_CHANNEL, "user": "UGUEST", "user_team": "TPARTNER",
         "text": f"<@{BOT_USER}> hi", "ts": "1790000200.000100"}
    )  # fmt: skip
    workspace.deliver(outsider)
    workspace.slack.wait_for("chat.postMessage", 2, channel=STAFF_CHANNEL)

    assert workspace.role_of(STAFF_USER) == "staff", "allow-listed user"
    assert workspace.role_of("UOPS") == "staff", "anyone of the workspace in the staff channel"
    assert workspace.role_of("UTRAVELLER") == "traveller"
    assert workspace.role_of("UGUEST") == "traveller", "a guest from another workspace in a shared channel"

    elsewhere = dm("UFOREIGN", "hi", team="TELSEWHERE")
    assert workspace.deliver(elsewhere).status_code == 200
    time.sleep(0.5)
    assert workspace.slack.to("chat.postMessage", "DUFOREIGN") == []
    assert workspace.role_of("UFOREIGN") is None
    assert not workspace.handled(elsewhere.event_id)


def test_staff_settings_without_a_workspace_keep_slack_off() -> None:
    base = Settings(slack_bot_token=SecretStr(TOKEN), slack_signing_secret=SecretStr(SIGNING_SECRET))
    assert isinstance(build_slack(base), SlackChannel)
    assert "ROADIE_SLACK_TEAM_ID" in str(build_slack(base.model_copy(update={"slack_staff_channel": "C1"})))
    no_token = build_slack(base.model_copy(update={"slack_bot_token": SecretStr("")}))
    assert no_token == "ROADIE_SLACK_BOT_TOKEN not set"
    assert "ROADIE_SLACK_SIGNING_SECRET" in str(build_slack(Settings()))


# Proactive messages, long replies and charts


async def test_a_long_reply_is_split_at_paragraphs_under_slacks_limits(
    channel: SlackChannel, workspace: Workspace
) -> None:
    paragraphs = [f"**Day {n}.** " + " ".join(f"stop{n}-{w}" for w in range(200)) for n in range(60)]
    reply = Reply("\n\n".join(paragraphs), buttons=[Button("Book it", "book the first option")])
    await channel.send("ULONG", reply)

    messages = workspace.slack.to("chat.postMessage", "ULONG")
    assert len(messages) == 2
    assert all(len(m["blocks"]) <= MAX_BLOCKS for m in messages)
    sections = [b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section"]
    assert all(len(s) <= SECTION_CHARS for s in sections)
    assert [s.split(".*")[0] for s in sections] == [f"*Day {n}" for n in range(60)], "cut at paragraphs, in order"
    assert not buttons(messages[0])
    assert [b["value"] for b in buttons(messages[1])] == ["book the first option"]


async def test_proactive_messages_respect_stop_and_threads(channel: SlackChannel, workspace: Workspace) -> None:
    workspace.deliver(dm("UGIL", "STOP"))
    [done] = workspace.slack.wait_for("chat.postMessage", channel="DUGIL")
    assert "won't send you alerts" in section_text(done)
    with pytest.raises(SendRefused):
        await channel.send("UGIL", Reply("Coldplay added a date in Lisbon!"))
    assert workspace.slack.to("chat.postMessage", "UGIL") == []

    await channel.send(f"{STAFF_CHANNEL}:1790000300.000100", Reply("**Daily digest**: 12 bookings"))
    [digest] = [m for m in workspace.slack.to("chat.postMessage", STAFF_CHANNEL) if "digest" in section_text(m)]
    assert digest["thread_ts"] == "1790000300.000100"
    assert section_text(digest) == "*Daily digest*: 12 bookings"


async def test_a_chart_is_uploaded_as_a_file_into_the_conversation(
    channel: SlackChannel, workspace: Workspace, slack_settings: Settings
) -> None:
    chart = slack_settings.data_dir / "media" / "charts" / "coldplay-prices.png"
    chart.parent.mkdir(parents=True, exist_ok=True)
    chart.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 500)
    await channel.send(
        "UHAL", Reply("Prices for **Coldplay** over the last 30 days", image="/media/charts/coldplay-prices.png")
    )

    [message] = workspace.slack.to("chat.postMessage", "UHAL")
    assert "*Coldplay*" in section_text(message)
    [asked] = workspace.slack.to("files.getUploadURLExternal")[-1:]
    assert asked["filename"] == "coldplay-prices.png"
    assert int(asked["length"]) == 508
    uploaded = workspace.slack.to("upload")[-1]
    assert uploaded["bytes"] == 508
    assert workspace.slack.uploads[uploaded["file_id"]].startswith(b"\x89PNG")
    [shared] = workspace.slack.to("files.completeUploadExternal")[-1:]
    assert shared["channel_id"] == "DUHAL"
    assert json.loads(shared["files"])[0]["id"] == uploaded["file_id"]

    await channel.send("UHAL", Reply("Nothing here", image="/media/../roadie.sqlite"))
    assert len(workspace.slack.to("upload")) == 1, "only files inside the media folder are uploaded"


# Rendering


def test_markdown_becomes_slack_mrkdwn() -> None:
    assert markdown_to_mrkdwn("**Coldplay** — *Music of the Spheres*") == "*Coldplay* — _Music of the Spheres_"
    assert markdown_to_mrkdwn("[tickets](https://t.example/a?b=1&c=2)") == "<https://t.example/a?b=1&amp;c=2|tickets>"
    assert markdown_to_mrkdwn("## Your trip") == "*Your trip*"
    assert markdown_to_mrkdwn("- one\n- two") == "• one\n• two"
    assert markdown_to_mrkdwn("1 < 2 & 3 > 2") == "1 &lt; 2 &amp; 3 &gt; 2"
    table = markdown_to_mrkdwn("| City | From |\n|---|---:|\n| **London** | €141 |\n| Brussels | €158 |")
    assert table == "```\nCity     | From\n---------+-----\nLondon   | €141\nBrussels | €158\n```"


def test_a_cut_code_block_stays_a_code_block() -> None:
    code = "```\n" + "\n".join(f"row {n} " + "x" * 80 for n in range(100)) + "\n```"
    pieces = split_text(code, limit=1000)
    assert len(pieces) > 1
    assert all(p.startswith("```") and p.endswith("```") and len(p) <= 1000 for p in pieces)


def test_a_poll_is_a_question_with_vote_buttons() -> None:
    [message] = render_reply(Reply("Where shall we go?", poll=Poll("p7", "Which show?", ("Brussels", "Milan"))))
    values = [b["value"] for b in buttons(message.blocks and {"blocks": message.blocks})]
    assert values == ["vote p7 1", "vote p7 2"]
    assert "*Which show?*\n1. Brussels\n2. Milan" in section_text({"blocks": message.blocks})


def test_a_vote_keeps_the_poll_open_and_a_choice_closes_the_buttons() -> None:
    [poll] = render_reply(Reply("Vote!", poll=Poll("p7", "Which show?", ("Brussels", "Milan"))))
    after_ana = pressed(poll.blocks, "Brussels", "UANA", vote=True)
    after_ben = pressed(after_ana, "Milan", "UBEN", vote=True)
    assert buttons({"blocks": after_ben}), "others can still vote"
    votes = [e["text"] for b in after_ben if b["type"] == "context" for e in b["elements"]]
    assert votes == ["✓ <@UANA> voted for *Brussels*", "✓ <@UBEN> voted for *Milan*"]

    [offer] = render_reply(Reply("Book?", buttons=[Button("Yes, book it", "yes"), Button("No", "no")]))
    chosen = pressed(offer.blocks, "Yes, book it", "UANA", vote=False)
    assert not buttons({"blocks": chosen})
    assert chosen[0] == offer.blocks[0]


def test_button_labels_are_cut_to_slacks_limit_and_image_urls_become_image_blocks() -> None:
    [message] = render_reply(Reply("Chart", buttons=[Button("x" * 100, "go")], image="https://cdn.example/c.png"))
    [button] = buttons({"blocks": message.blocks})
    assert len(button["text"]["text"]) == 75
    assert message.blocks[-1] == {"type": "image", "image_url": "https://cdn.example/c.png", "alt_text": "chart"}


def test_what_people_type_is_read_without_slack_markup() -> None:
    said = slack_to_text(
        f"<@{BOT_USER}> trip with <@U42|sam> to <#C1|paris> see <https://x.example|this> &amp; more", BOT_USER
    )
    assert said == "trip with @sam to #paris see this & more"


# Staff analytics in Slack


def test_staff_ask_for_a_trend_and_get_a_table_and_the_chart_uploaded(workspace: Workspace) -> None:
    uploads_before = len(workspace.slack.to("files.completeUploadExternal"))
    assert workspace.deliver(dm("UOTHERSTAFF", "bookings per day this week")).status_code == 200
    [answer] = workspace.slack.wait_for("chat.postMessage", channel="DUOTHERSTAFF")
    text = section_text(answer)
    assert text.startswith("*Bookings* · this week (16–21 Nov 2026): *")
    assert "```\nDay" in text, "the table is a code block in Slack"
    assert "\nSat 21 Nov" in text
    shared = workspace.slack.wait_for("files.completeUploadExternal", uploads_before + 1)[-1]
    assert shared["channel_id"] == "DUOTHERSTAFF"
    assert workspace.slack.to("files.getUploadURLExternal")[-1]["filename"].endswith(".png")
    file_id = json.loads(shared["files"])[0]["id"]
    assert workspace.slack.uploads[file_id].startswith(b"\x89PNG"), "a real PNG went to Slack"


def test_a_traveller_on_slack_asking_for_revenue_is_refused_and_it_is_logged(workspace: Workspace) -> None:
    assert workspace.deliver(dm("UCURIOUS", "what's Roadie's revenue this month?")).status_code == 200
    [answer] = workspace.slack.wait_for("chat.postMessage", channel="DUCURIOUS")
    assert "only for Roadie staff" in section_text(answer)
    assert "€" not in section_text(answer)
    assert workspace.role_of("UCURIOUS") == "traveller"
    assert (
        workspace.count(
            ConversationEvent,
            ConversationEvent.kind == "refusal",
            ConversationEvent.conversation.contains("UCURIOUS"),
        )
        == 1
    )
