"""Group trips through conversation: friends on Telegram and WhatsApp plan, vote, book, share costs and settle up."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select

from assistant import outbox
from assistant.messages import Reply
from assistant.models import Booking, Expense, ExpenseShare, GroupMember, OutboxMessage, PollVote, TripGroup
from channels.base import SendRefused
from channels.fake import FakeChannel
from main import Roadie
from tests.conftest import NOW
from tools.expenses import group_balances

GROUP_CHAT = "-100777"


@dataclass
class Friends:
    """Ana, Ben and Cy talk to Roadie in their Telegram group; Dana talks to it on WhatsApp."""

    roadie: Roadie
    telegram: FakeChannel
    whatsapp: FakeChannel
    code: str = ""
    poll: str = ""
    said: list[str] = field(default_factory=list)

    async def say(self, who: str, text: str) -> Reply:
        text = text.replace("CODE", self.code).replace("POLL", self.poll)
        if who == "dana":
            reply = await self.whatsapp.say(text, user="dana")
        else:
            reply = await self.telegram.say(text, user=who, chat=GROUP_CHAT, in_group=True)
        assert reply is not None
        assert "went wrong" not in reply.text, reply.text
        self.said.append(f"{who}: {text}\n{reply.text}")
        return reply

    async def text(self, who: str, text: str) -> str:
        return (await self.say(who, text)).text

    def group(self) -> TripGroup:
        with self.roadie.services.db.session() as session:
            group = session.scalars(select(TripGroup).where(TripGroup.join_code == self.code)).one()
            session.expunge(group)
            return group

    def count(self, model: type, *where: object) -> int:
        with self.roadie.services.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def friends(roadie: Roadie) -> Friends:
    return Friends(
        roadie, FakeChannel(roadie.service.handle, name="telegram"), FakeChannel(roadie.service.handle, name="whatsapp")
    )


async def start_group(f: Friends) -> None:
    created = await f.text("ana", "create a group for Coldplay")
    found = re.search(r"Join code: \*\*(G-[A-Z0-9]{6})\*\*", created)
    assert found, created
    f.code = found.group(1)
    assert "Welcome to **Coldplay trip**, ben" in await f.text("ben", "I'm in")
    assert "You're down as going" in await f.text("cy", "count me in")
    assert "Welcome to **Coldplay trip**, dana" in await f.text("dana", "join group CODE")


async def test_four_friends_on_two_channels_vote_book_share_and_settle(roadie: Roadie) -> None:
    f = friends(roadie)
    await start_group(f)
    group = f.group()
    assert group.chat_key == f"telegram:{GROUP_CHAT}", "the Telegram group chat knows which group it plans"

    # A vote on the date: native poll in Telegram, and Dana on WhatsApp is told with the options.
    asked = await f.say("ana", "poll: Brussels 28 May or Munich 24 April?")
    assert asked.poll is not None
    assert asked.poll.options == ("Brussels 28 May", "Munich 24 April")
    f.poll = asked.poll.poll_id
    with roadie.services.db.session() as session:
        told = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "poll_opened")).all()
        assert [(m.channel, m.address) for m in told] == [("whatsapp", "dana")]
        assert told[0].payload["poll"]["options"] == ["Brussels 28 May", "Munich 24 April"]
    assert "1 of 4 have voted" in await f.text("ben", "vote POLL 1")
    assert "2 of 4 have voted" in await f.text("cy", "vote POLL 2")
    assert "2 of 4 have voted" in await f.text("cy", "vote POLL 2"), "a second vote by the same person counts once"
    assert "3 of 4 have voted" in await f.text("dana", "vote POLL 1")
    closed = await f.say("ana", "vote POLL 1")
    assert "Everyone has voted" in closed.text
    assert "**Brussels 28 May** wins (Brussels 28 May 3, Munich 24 April 1)" in closed.text
    assert closed.closes_poll == f.poll, "the group chat's native poll is stopped with the result"
    with roadie.services.db.session() as session:
        result = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "poll_closed")).one()
        assert (result.channel, result.address) == ("whatsapp", "dana")
        assert result.payload["closes_poll"] == f.poll
    assert "has closed" in await f.text("ben", "vote POLL 2")
    assert f.count(PollVote) == 4

    # The organiser books for everyone going; each member's share is recorded.
    quote = await f.text("ana", "plan the group trip to Coldplay in Brussels from London")
    assert "For the group **Coldplay trip** (4 going)" in quote
    assert "4 travellers from London" in quote
    assert "Only the organiser" in await f.text("ben", "book it")
    assert "Reply **yes** to book" in await f.text("ana", "book it")
    booked = await f.text("ana", "yes")
    assert booked.startswith("Booked! Reference **RD-")
    with roadie.services.db.session() as session:
        booking = session.scalars(select(Booking).where(Booking.group_id == group.id)).one()
        share = session.scalars(select(Expense).where(Expense.booking_id == booking.id)).one()
        shares = session.scalars(select(ExpenseShare.amount_minor).where(ExpenseShare.expense_id == share.id)).all()
        assert share.paid_by == group.organiser_id
        assert sum(shares) == booking.total_minor
        assert len(shares) == 4

    # The itinerary is the group's own: members can ask about it, others never find it.
    assert "Source: Itinerary: Coldplay trip" in await f.text("dana", "what time is our flight to Brussels?")
    outsider = await FakeChannel(roadie.service.handle, name="whatsapp").say(
        "what time is our flight to Brussels?", user="eve"
    )
    assert outsider is not None
    assert "Itinerary" not in outsider.text

    # Three expenses, three split modes.
    asked_equal = await f.text("ben", "I paid €100.01 for the Airbnb, split equally")
    assert "ana €25.01, ben €25, cy €25, dana €25" in asked_equal
    assert "so ana pays one cent more" in asked_equal
    assert "Added **€100.01** for Airbnb" in await f.text("ben", "yes")
    asked_without = await f.text("cy", "I paid 90 euros for dinner, excluding Dana")
    assert "Not included: dana" in asked_without
    await f.text("cy", "yes")
    asked_shares = await f.text("dana", "I paid 60 for taxis, Ana 2 shares, Ben 1, Cy 1")
    assert "ana €24, ben €12, cy €12, dana €12" in asked_shares, "members not named get one share"
    await f.text("dana", "yes")
    assert f.count(Expense, Expense.kind == "expense", Expense.status == "added") == 3

    balances = group_balances_of(f)
    assert sum(balances.values()) == 0, "the balances sum to zero exactly"
    settle = await f.text("ana", "settle up")
    transfers = re.findall(r"^- (\w+) pays (\w+) €([\d,.]+)$", settle, re.M)
    assert 1 <= len(transfers) <= 3, "at most n−1 transfers for 4 people"
    assert await f.text("ana", "yes") != settle
    assert set(group_balances_of(f).values()) == {0}
    assert "everyone is square" in await f.text("dana", "group status")

    # Dana is on WhatsApp: the changes reached her there, through the outbox and the channel.
    report = await outbox.deliver_due(
        roadie.services.db, {"whatsapp": f.whatsapp, "telegram": f.telegram}, NOW, refusal=SendRefused
    )
    assert report.sent >= 4
    to_dana = [reply.text for address, reply in f.whatsapp.sent if address == "dana"]
    assert any("Poll closed" in text for text in to_dana)
    assert any("is booked" in text for text in to_dana)
    assert any("settled up" in text for text in to_dana)
    in_chat = [reply.text for address, reply in f.telegram.sent if address == GROUP_CHAT]
    assert any("dana joined **Coldplay trip**" in text for text in in_chat), "the group chat hears of Dana joining"


def group_balances_of(f: Friends) -> dict[int, int]:
    with f.roadie.services.db.session() as session:
        return group_balances(session, session.get_one(TripGroup, f.group().id))


async def test_money_mistakes_get_clear_answers_and_change_nothing(roadie: Roadie) -> None:
    f = friends(roadie)
    await start_group(f)
    before = f.count(Expense)
    assert "more than zero" in await f.text("ben", "I paid €-20 for snacks")
    short = await f.text("ben", "I paid €100 for the hotel, Ana 30, Ben 30")
    assert "add up to 60.00, not 100.00" in short
    assert "nobody called **Zed**" in await f.text("ben", "I paid €50 for petrol, excluding Zed")
    assert "nobody called **Zed**" in await f.text("ben", "Zed paid €50 for petrol")
    assert f.count(Expense) == before
    await f.text("ben", "I paid €40 for snacks")
    assert "haven't changed anything" in await f.text("ben", "no")
    assert f.count(Expense, Expense.status == "added") == 0, "no means the expense is not added"


async def test_only_members_see_a_group_and_the_organiser_runs_it(roadie: Roadie) -> None:
    f = friends(roadie)
    await start_group(f)
    stranger = FakeChannel(roadie.service.handle, name="whatsapp")
    nosy = await stranger.say(f"group status {f.code}", user="eve")
    assert nosy is not None
    assert "can't find a group" in nosy.text
    assert "dana" not in nosy.text

    assert "Only the organiser" in await f.text("ben", "remove Cy from the group")
    assert "Removed cy" in await f.text("ana", "remove Cy from the group")
    assert f.count(GroupMember, GroupMember.group_id == f.group().id) == 3
    assert "Only the organiser" in await f.text("dana", "close the group")
    assert "Closed **Coldplay trip**" in await f.text("ana", "close the group")
    late = await stranger.say(f"join group {f.code}", user="eve")
    assert late is not None
    assert "closed" in late.text
    assert f.count(GroupMember, GroupMember.group_id == f.group().id) == 3
    assert "There's no group with the code" in (await stranger.say("join group G-ZZZZZZ", user="eve") or Reply("")).text
