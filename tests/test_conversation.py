"""Conversations with Roadie through the fake channel: grounded answers, memory and bad input."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from assistant.models import Artist, ConversationEvent, Event, Venue
from channels.fake import FakeChannel
from main import Roadie
from tests.conftest import NOW


def upcoming(roadie: Roadie, artist: str, **where: str) -> list[Event]:
    with roadie.services.db.session() as session:
        query = (
            select(Event)
            .join(Event.artist)
            .join(Event.venue)
            .options(joinedload(Event.venue))
            .where(Artist.name == artist, Event.starts_at >= NOW)
        )
        for column, value in where.items():
            query = query.where(getattr(Venue, column) == value)
        return list(session.scalars(query.order_by(Event.starts_at)).unique())


async def test_coldplay_in_europe_then_may_narrows_it(chat: FakeChannel, roadie: Roadie) -> None:
    reply = await chat.say("any Coldplay shows in Europe?")
    assert reply is not None
    europe = upcoming(roadie, "Coldplay", region="Europe")
    assert europe, "the demo catalogue tours Coldplay in Europe"
    for event in europe[:8]:
        assert event.venue.name in reply.text
    elsewhere = [e for e in upcoming(roadie, "Coldplay") if e.venue.region != "Europe"]
    for event in elsewhere:
        assert event.venue.name not in reply.text
    assert reply.tool_calls[0].args == {"artist": "Coldplay", "region": "Europe"}

    may = await chat.say("what about in May?")
    assert may is not None
    assert may.tool_calls[0].args["artist"] == "Coldplay"
    assert may.tool_calls[0].args["region"] == "Europe"
    assert may.tool_calls[0].args["date_from"] == "2027-05-01"
    in_may = [e for e in europe if e.starts_at.astimezone(UTC).month == 5]
    if in_may:
        assert all(e.venue.name in may.text for e in in_may)
        assert "May 2027" in may.text
    else:
        assert "No **Coldplay** shows in Europe between 1 May and 31 May 2027" in may.text


async def test_metallica_then_berlin(chat: FakeChannel, roadie: Roadie) -> None:
    first = await chat.say("find Metallica concerts")
    assert first is not None
    assert "Metallica" in first.text
    berlin = await chat.say("what about Berlin?")
    assert berlin is not None
    assert berlin.tool_calls[0].args == {"artist": "Metallica", "city": "Berlin"}
    shows = upcoming(roadie, "Metallica", city="Berlin")
    if shows:
        assert all(e.venue.name in berlin.text for e in shows)
        assert "Tokyo" not in berlin.text
    else:
        assert "Metallica" in berlin.text


async def test_unknown_artist_gets_did_you_mean(chat: FakeChannel) -> None:
    reply = await chat.say("any Metalica concerts?")
    assert reply is not None
    assert "Metallica" in reply.text
    reply = await chat.say("any Radiohead concerts coming up?")
    assert reply is not None
    assert "I don't know an artist called **Radiohead**" in reply.text


async def test_dates_in_the_past_are_named_and_upcoming_shown(chat: FakeChannel) -> None:
    reply = await chat.say("Coldplay shows in March 2025")
    assert reply is not None
    assert "is in the past" in reply.text
    assert "Coldplay" in reply.text


async def test_empty_and_overlong_messages_get_a_clear_answer(chat: FakeChannel, roadie: Roadie) -> None:
    empty = await chat.say("   ")
    assert empty is not None
    assert "didn't catch anything" in empty.text
    long = await chat.say("x" * 5000)
    assert long is not None
    assert "5,000 characters" in long.text
    assert "2,000" in long.text
    with roadie.services.db.session() as session:
        assert (
            session.scalars(
                select(ConversationEvent).where(ConversationEvent.kind == "turn", ConversationEvent.channel == "fake")
            ).all()
            == []
        )


async def test_small_talk_and_out_of_scope_list_what_roadie_does(chat: FakeChannel) -> None:
    hello = await chat.say("hi")
    assert hello is not None
    assert not hello.tool_calls
    assert "Find shows" in hello.text
    assert [b.label for b in hello.buttons] == ["Coldplay in Europe", "Taylor Swift's tour"]
    weather = await chat.say("what's the weather tomorrow?")
    assert weather is not None
    assert not weather.tool_calls
    assert "not something I can help with" in weather.text


async def test_a_redelivered_message_runs_once(chat: FakeChannel, roadie: Roadie) -> None:
    first = await chat.say("find Adele concerts", message_id="dup-1")
    again = await chat.say("find Adele concerts", message_id="dup-1")
    assert first is not None
    assert again is None
    with roadie.services.db.session() as session:
        turns = session.scalars(
            select(ConversationEvent).where(ConversationEvent.kind == "turn", ConversationEvent.channel == "fake")
        ).all()
    assert len(turns) == 1


async def test_each_turn_is_logged_with_latency_and_tools(chat: FakeChannel, roadie: Roadie) -> None:
    await chat.say("Coldplay tour dates")
    with roadie.services.db.session() as session:
        turn = session.scalars(
            select(ConversationEvent).where(ConversationEvent.kind == "turn", ConversationEvent.channel == "fake")
        ).one()
    assert turn.tools == ["get_tour"]
    assert turn.ok
    assert turn.latency_ms is not None


async def test_tour_answers_in_venue_local_time(chat: FakeChannel, roadie: Roadie) -> None:
    reply = await chat.say("show me the Taylor Swift tour")
    assert reply is not None
    first = upcoming(roadie, "Taylor Swift")[0]
    from tools.common import describe_when

    with roadie.services.db.session() as session:
        event = session.scalars(select(Event).options(joinedload(Event.venue)).where(Event.id == first.id)).one()
        assert describe_when(event) in reply.text


async def test_unknown_place_and_impossible_date_are_named_not_ignored(chat: FakeChannel) -> None:
    atlantis = await chat.say("Coldplay in Atlantis")
    assert atlantis is not None
    assert "I don't know a city called **Atlantis**" in atlantis.text
    february = await chat.say("shows on 31/02")
    assert february is not None
    assert "couldn't read the date **31/02**" in february.text


async def test_a_refused_argument_is_not_carried_into_the_next_request(chat: FakeChannel) -> None:
    await chat.say("shows on 31/02")
    reply = await chat.say("any Coldplay shows in Europe?")
    assert reply is not None
    assert reply.tool_calls[0].args == {"artist": "Coldplay", "region": "Europe"}


async def test_a_new_full_request_does_not_inherit_the_last_one(chat: FakeChannel) -> None:
    await chat.say("any Coldplay shows in Europe?")
    await chat.say("what about in May?")
    reply = await chat.say("metallica at Wembley")
    assert reply is not None
    assert reply.tool_calls[0].args == {"artist": "Metallica", "venue": "Wembley Stadium"}
