"""The shared database schema: people, the catalogue, offers and prices, bookings, groups, alerts."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base for every Roadie table."""


class Person(Base):
    """Someone Roadie talks to; one person may reach us on several channels."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(16), default="traveller")
    home_city: Mapped[str | None] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    usual_travellers: Mapped[int] = mapped_column(Integer, default=1)
    budget_minor: Mapped[int | None] = mapped_column(BigInteger)
    notify: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    community_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="person")


class ChannelIdentity(Base):
    """How a person is known on one channel (a Telegram user id, a WhatsApp number, a web session)."""

    __tablename__ = "channel_identity"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # said STOP on this channel

    person: Mapped[Person] = relationship(back_populates="identities")


class Artist(Base):
    """A touring artist in the catalogue."""

    __tablename__ = "artist"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    genre: Mapped[str] = mapped_column(String(60), default="")
    description: Mapped[str] = mapped_column(Text, default="")


class Venue(Base):
    """A real venue with its city, country, coordinates and timezone."""

    __tablename__ = "venue"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    city: Mapped[str] = mapped_column(String(80), index=True)
    country: Mapped[str] = mapped_column(String(80))
    region: Mapped[str] = mapped_column(String(40))
    airport: Mapped[str] = mapped_column(String(3))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(40))
    capacity: Mapped[int] = mapped_column(Integer)


class Event(Base):
    """One tour date: an artist at a venue on a night (times are UTC; show them in the venue's zone)."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_artist_starts", "artist_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artist.id"))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"))
    tour_name: Mapped[str] = mapped_column(String(120), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    doors_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime())

    artist: Mapped[Artist] = relationship()
    venue: Mapped[Venue] = relationship()


class Offer(Base):
    """Something bookable with a price: a ticket section, a flight or a hotel stay (prices in minor units)."""

    __tablename__ = "offer"
    __table_args__ = (
        Index("ix_offer_kind_event", "kind", "event_id"),
        Index("ix_offer_flight", "kind", "origin", "destination", "departs_at"),
        CheckConstraint("available >= 0", name="ck_offer_available_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # ticket | flight | hotel
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    name: Mapped[str] = mapped_column(String(120))  # section, flight number or hotel name
    origin: Mapped[str | None] = mapped_column(String(3))
    destination: Mapped[str | None] = mapped_column(String(3))
    departs_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    arrives_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    city: Mapped[str | None] = mapped_column(String(80))
    stars: Mapped[int | None] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    capacity: Mapped[int] = mapped_column(Integer)
    available: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PricePoint(Base):
    """An observed price of an offer at a moment: the history forecasts learn from."""

    __tablename__ = "price_point"
    __table_args__ = (Index("ix_price_point_offer_time", "offer_id", "observed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id", ondelete="CASCADE"))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    price_minor: Mapped[int] = mapped_column(BigInteger)


class Quote(Base):
    """A priced trip proposal shown to a person; it can be booked until it expires."""

    __tablename__ = "quote"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(12), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    travellers: Mapped[int] = mapped_column(Integer, default=1)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    channel: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)


class Booking(Base):
    """A confirmed purchase; `idempotency_key` makes a confirmation run once."""

    __tablename__ = "booking"
    __table_args__ = (Index("ix_booking_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quote.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("trip_group.id"))
    travellers: Mapped[int] = mapped_column(Integer, default=1)
    tickets: Mapped[int] = mapped_column(Integer, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    commission_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    status: Mapped[str] = mapped_column(String(16), default="confirmed")  # confirmed|paid|cancelled
    channel: Mapped[str] = mapped_column(String(16), default="")
    route: Mapped[str | None] = mapped_column(String(8))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    event: Mapped[Event] = relationship()
    quote: Mapped[Quote | None] = relationship()


class TripGroup(Base):
    """Friends planning one trip together; joined with a short code."""

    __tablename__ = "trip_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    join_code: Mapped[str] = mapped_column(String(12), unique=True)
    organiser_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    status: Mapped[str] = mapped_column(String(16), default="open")
    chat_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GroupMember(Base):
    """A person's membership of a trip group."""

    __tablename__ = "group_member"
    __table_args__ = (UniqueConstraint("group_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("trip_group.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Follow(Base):
    """A person following an artist's tour."""

    __tablename__ = "follow"
    __table_args__ = (UniqueConstraint("person_id", "artist_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    artist_id: Mapped[int] = mapped_column(ForeignKey("artist.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PriceWatch(Base):
    """A person's request to hear when an offer or route drops under a target price."""

    __tablename__ = "price_watch"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    origin: Mapped[str | None] = mapped_column(String(3))
    destination: Mapped[str | None] = mapped_column(String(3))
    travel_date: Mapped[date | None] = mapped_column(Date)
    target_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """A proactive message waiting to go out; `dedupe_key` makes it arrive once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChannelMemo(Base):
    """What a channel must remember about messages it sent, shared by every worker and kept across restarts.

    Telegram, for one: a button value longer than callback data allows, or which group poll a native
    poll stands for. Keys are the channel's own (a hash, a platform poll id); values hold no personal data.
    """

    __tablename__ = "channel_memo"
    __table_args__ = (UniqueConstraint("channel", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(96))
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ProcessedMessage(Base):
    """Platform message ids already handled, so a redelivery never runs a second turn.

    `sender` is a hash of who sent it (`sender_key`), never the handle itself: it lets "delete my
    data" remove a person's rows without the table holding their phone number or user id.
    """

    __tablename__ = "processed_message"
    __table_args__ = (UniqueConstraint("channel", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sender: Mapped[str | None] = mapped_column(String(32), index=True)

    @staticmethod
    def sender_key(channel: str, external_id: str) -> str:
        """The hash a person's dedupe rows carry on `channel` (32 hex characters of SHA-256)."""
        return hashlib.sha256(f"{channel}:{external_id}".encode()).hexdigest()[:32]


class ConversationEvent(Base):
    """The assistant's own log: turns (with latency and tools), searches, quotes, refusals."""

    __tablename__ = "conversation_event"
    __table_args__ = (Index("ix_conversation_event_kind_time", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))
    conversation: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(24))  # turn | search | quote | booking | refusal
    tools: Mapped[list[str]] = mapped_column(JSON, default=list)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CatalogueMeta(Base):
    """Facts about the catalogue itself, such as when the demo data was seeded."""

    __tablename__ = "catalogue_meta"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LinkCode(Base):
    """A one-time code that links another channel's identity to this person."""

    __tablename__ = "link_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PendingAction(Base):
    """A write Roadie asked a person to confirm in a conversation; it runs once, on their "yes"."""

    __tablename__ = "pending_action"
    __table_args__ = (Index("ix_pending_action_person_conversation", "person_id", "conversation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    conversation: Mapped[str] = mapped_column(String(200))
    tool: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(40))  # the quote or booking reference it acts on
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TourChange(Base):
    """A tour date announced, moved or cancelled: what tour alerts tell followers about."""

    __tablename__ = "tour_change"
    __table_args__ = (
        Index("ix_tour_change_artist_time", "artist_id", "created_at"),
        Index("ix_tour_change_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    artist_id: Mapped[int] = mapped_column(ForeignKey("artist.id"))
    kind: Mapped[str] = mapped_column(String(16))  # announced | rescheduled | cancelled | venue_changed
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GroupPoll(Base):
    """A vote in a trip group: the question, its options, and when it closes."""

    __tablename__ = "group_poll"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("trip_group.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(String(300))
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    created_by: Mapped[int] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    winner: Mapped[int | None] = mapped_column(Integer)  # index into options


class PollVote(Base):
    """One member's vote in a poll; voting again changes it, so each member counts once."""

    __tablename__ = "poll_vote"
    __table_args__ = (UniqueConstraint("poll_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("group_poll.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    option: Mapped[int] = mapped_column(Integer)
    voted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Expense(Base):
    """Money one member paid for the group (or a settling transfer), in the group's currency."""

    __tablename__ = "expense"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="ck_expense_amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("trip_group.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="expense")  # expense | booking | transfer
    paid_by: Mapped[int] = mapped_column(ForeignKey("person.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(200), default="")
    split: Mapped[str] = mapped_column(String(16), default="equal")  # equal | shares | exact
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | added
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"))
    created_by: Mapped[int] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ExpenseShare(Base):
    """What one member owes of an expense, in the group's currency."""

    __tablename__ = "expense_share"
    __table_args__ = (
        UniqueConstraint("expense_id", "person_id"),
        CheckConstraint("amount_minor >= 0", name="ck_expense_share_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    expense_id: Mapped[int] = mapped_column(ForeignKey("expense.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class SchedulerLease(Base):
    """Which scheduler process may fire jobs, until when: one holder at a time, taken over when it lapses."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


# Analytics rollups (tools/rollups.py keeps them fresh; tools/metrics.py reads them with the raw tables).


class MetricBookingRollup(Base):
    """Bookings summed for analytics: per day and channel (cube "day"), per month by show (cube "event") or route.

    A booking as it was made, and (x cubes) the cancellations known when the rollup was built; the month of
    today holds the days before today. Cancellations since are read from the cancelled rows themselves.
    """

    __tablename__ = "metric_booking_rollup"
    __table_args__ = (Index("ix_metric_booking_rollup_cube", "cube", "bucket"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # day | event | route, eventall | routeall (without channel); and xday, xevent, xroute, xeventa, xroutea:
    # the bookings made in the bucket and cancelled before the rollup's day (made_total_minor is their refunds)
    cube: Mapped[str] = mapped_column(String(8))
    bucket: Mapped[date] = mapped_column(Date)  # the day, or the first day of the month
    event_id: Mapped[int | None] = mapped_column(Integer)
    route: Mapped[str | None] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    made_n: Mapped[int] = mapped_column(BigInteger)
    made_total_minor: Mapped[int] = mapped_column(BigInteger)
    made_tickets: Mapped[int] = mapped_column(BigInteger)
    made_commission_minor: Mapped[int] = mapped_column(BigInteger)


class MetricLogRollup(Base):
    """The assistant's own log counted per day, kind and channel (turns also: ok, with tools, with tools and ok)."""

    __tablename__ = "metric_log_rollup"
    __table_args__ = (Index("ix_metric_log_rollup_day", "day", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(BigInteger)
    ok_n: Mapped[int] = mapped_column(BigInteger)
    tool_n: Mapped[int] = mapped_column(BigInteger)
    tool_ok_n: Mapped[int] = mapped_column(BigInteger)


class MetricLatencyRollup(Base):
    """How many turns took each reply latency (ms; 10 ms steps from 1 s, 1 s steps from 10 s), per day or month.

    Grains: day and month per channel, dayall and monthall over all channels, and med / medall: one row per
    complete day holding that day's median (latency_ms) and turn count (n).
    """

    __tablename__ = "metric_latency_rollup"
    __table_args__ = (Index("ix_metric_latency_rollup_bucket", "grain", "bucket"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grain: Mapped[str] = mapped_column(String(8))  # day | month | dayall | monthall | med | medall
    bucket: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    latency_ms: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(BigInteger)


class MetricActiveRollup(Base):
    """Who talked to Roadie on a day and channel: the sorted person ids (uint32, little-endian) for exact distinct counts."""

    __tablename__ = "metric_active_rollup"
    __table_args__ = (Index("ix_metric_active_rollup_day", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(Integer)
    people: Mapped[bytes] = mapped_column(LargeBinary)


class MetricRollupState(Base):
    """How far each rollup is built, and the high-water marks that tell which built buckets changed since."""

    __tablename__ = "metric_rollup_state"

    name: Mapped[str] = mapped_column(String(24), primary_key=True)
    days_until: Mapped[date | None] = mapped_column(Date)  # day buckets exist for every day before this one
    months_until: Mapped[date | None] = mapped_column(Date)  # month buckets exist for every month before this one
    max_id: Mapped[int] = mapped_column(BigInteger, default=0)  # rows up to this id are in the built buckets
