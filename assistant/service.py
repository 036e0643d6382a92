"""One conversation turn: validate, dedupe, serialise per conversation, resolve who is talking, run the agent, log."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from assistant import identity, memos
from assistant.clock import Clock
from assistant.context import Caller, Services, TurnContext
from assistant.locks import ConversationLocks, FirstDeliveries, KeyedLocks
from assistant.messages import Button, Inbound, Poll, Reply, Role, ToolCall
from assistant.models import ChannelIdentity, ChannelMemo, ConversationEvent, Person, ProcessedMessage
from assistant.observability import CONVERSATION, RATE_LIMITED, TURNS_IN_FLIGHT, conversation_key, observe_turn
from assistant.outage import UNREACHABLE_ANSWER, is_outage
from assistant.outbox import payload_of, reply_of
from assistant.planner.core import BUTTONS_KEY
from assistant.planner.metric_slots import STAFF_ONLY_REPLY, staff_only_topic
from assistant.ratelimit import RateLimiter, limiter_for, limits_for, slow_down_answer

log = logging.getLogger(__name__)
TURN_TIMEOUT_S = 90.0
# Privacy commands as people type them on any app ("/export", Telegram's "delete_my_data"): the words the agent routes.
PRIVACY_COMMANDS = (
    (re.compile(r"^/?(export|export_my_data|my_data|mydata)$", re.I), "export my data"),
    (re.compile(r"^/?(delete_my_data|deletemydata|delete_me|forget_me)$", re.I), "delete my data"),
)


def _memory_line(message: BaseMessage) -> dict[str, str] | None:
    """One remembered message as a person reads it in their export: who said it, and what."""
    text = message.content if isinstance(message.content, str) else json.dumps(message.content, ensure_ascii=False)
    if isinstance(message, HumanMessage):
        return {"from": "you", "text": text}
    if isinstance(message, ToolMessage):
        return {"from": f"tool {message.name or ''}".strip(), "text": text}
    if isinstance(message, AIMessage):
        calls = ", ".join(c["name"] for c in message.tool_calls)
        return {"from": "roadie", "text": text or f"(used {calls})"} if text or calls else None
    return None


def _tool_data(message: BaseMessage) -> dict[str, Any]:
    """The structured data a tool returned with `message` (empty for any other message)."""
    if isinstance(message, ToolMessage) and isinstance(message.artifact, dict):
        data = message.artifact.get("data")
        return data if isinstance(data, dict) else {}
    return {}


def _add_to_export(path: Path, memory: dict[str, list[dict[str, str]]]) -> None:
    """Add the conversations' messages to an export file `export_my_data` wrote."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["conversation_memory"] = memory
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


class ConversationService:
    """Handles inbound messages from any channel and returns Roadie's reply."""

    def __init__(
        self,
        services: Services,
        agents: dict[Role, Any],
        locks: ConversationLocks | None = None,
        deliveries: FirstDeliveries | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        """`locks` and `deliveries` are shared by every worker when Redis is configured (assistant/locks.py);
        by default a conversation is serialised in this process and message ids are kept in the database."""
        self.services = services
        self._agents = agents
        self._locks: ConversationLocks = locks or KeyedLocks()
        self._deliveries = deliveries
        self.limiter = limiter or limiter_for(services.settings)
        self.turns = 0
        self.failures = 0
        self.rate_limited = 0  # messages refused by the rate limits (answered once per flood)

    @property
    def clock(self) -> Clock:
        return self.services.clock

    async def handle(self, inbound: Inbound) -> Reply | None:
        """Roadie's reply to `inbound`, or None when this platform message was already handled."""
        try:
            return await self._handle(inbound)
        except Exception as error:
            if not is_outage(error):
                raise
            log.warning("a turn on %s could not reach a store: %s", inbound.key.channel, type(error).__name__)
            return Reply(UNREACHABLE_ANSWER)

    async def _handle(self, inbound: Inbound) -> Reply | None:
        text = inbound.text.strip()
        limit = self.services.settings.max_message_chars
        if not text:
            return Reply(
                'I didn\'t catch anything there — what would you like to do? Try "any Coldplay shows in Europe?"'
            )
        if len(text) > limit:
            return Reply(
                f"That message is {len(text):,} characters long; I read up to {limit:,}. "
                "Could you send a shorter version?"
            )
        sender = inbound.key.user_id or inbound.key.chat_id
        verdict = await self.limiter.check(limits_for(self.services.settings, inbound.key.channel, sender))
        if not verdict.allowed:
            self.rate_limited += 1
            RATE_LIMITED.labels(channel=inbound.key.channel, scope=verdict.scope or "unknown").inc()
            return Reply(slow_down_answer(text)) if verdict.answer else None
        text = next((words for command, words in PRIVACY_COMMANDS if command.match(text)), text)
        CONVERSATION.set(conversation_key(inbound.key.thread()))  # log lines of this turn carry it
        first = not inbound.message_id or await self._is_first_delivery(inbound)
        if not first and not inbound.replayable:
            return None
        async with self._locks.hold(inbound.key.thread()):
            if not first:  # a repeat: the first delivery's answer, or — its worker stopped mid-turn — an answer now
                kept = await self.recall(inbound.key.channel, self._reply_key(inbound))
                if kept is not None:
                    return reply_of(json.loads(kept))
                log.info("a repeated message had no answer yet (its worker stopped): answering it now")
            keep = self._reply_key(inbound) if inbound.replayable and inbound.message_id else None
            return await self._answer(inbound, text, keep)

    async def _answer(self, inbound: Inbound, text: str, keep: str | None) -> Reply:
        """The answer to a first delivery; with `keep`, also kept for a repeat of the message."""
        answer = await asyncio.to_thread(self._account_command, inbound, text)
        if answer is None:
            answer = await asyncio.to_thread(self._staff_only, inbound, text)
        if answer is None:
            return await self._turn(inbound, text, keep)  # kept in the transaction that logs the turn
        if keep is not None:
            await self.remember(inbound.key.channel, keep, json.dumps(payload_of(answer)))
        return answer

    @staticmethod
    def _reply_key(inbound: Inbound) -> str:
        return "reply:" + hashlib.sha256(inbound.message_id.encode()).hexdigest()[:40]

    def _account_command(self, inbound: Inbound, text: str) -> Reply | None:
        """STOP / START and linking channels: handled here, for every channel, before the agent."""
        word = identity.keyword(text)
        ask_link, use_link = identity.ASK_LINK.match(text), identity.USE_LINK.match(text)
        if word is None and not ask_link and not use_link:
            return None
        caller = self.caller_for(inbound)
        external_id = inbound.key.user_id or inbound.key.chat_id
        now = self.clock.now()
        if word is not None:
            identity.set_opt_out(self.services.db, inbound.key.channel, external_id, word == "stop", now)
            if word == "stop":
                return Reply(
                    "Done — Roadie won't send you alerts or reminders here any more. "
                    "You can still ask me anything, and send START to turn messages back on."
                )
            return Reply("Welcome back — alerts and reminders are on again here. Send STOP at any time to pause them.")
        if ask_link:
            code = identity.issue_link_code(self.services.db, caller.person_id, now)
            return Reply(
                f"Your link code is **{code}**. Within 15 minutes, send `link {code}` to Roadie on your other "
                "app (WhatsApp, Telegram, Slack or the web chat) and both will share your follows, trips and bookings."
            )
        assert use_link is not None
        linked = identity.redeem_link_code(self.services.db, use_link.group(1), inbound.key.channel, external_id, now)
        if linked is None:
            return Reply(
                "That link code isn't valid any more — codes work once, for 15 minutes. "
                'Send "link" on your other app to get a new one.'
            )
        return Reply("Linked! This chat now shares your follows, trips and bookings with your other app.")

    def _staff_only(self, inbound: Inbound, text: str) -> Reply | None:
        """A traveller asking for Roadie's business figures: refused politely, whatever model runs, and recorded."""
        if inbound.role == "staff" or (topic := staff_only_topic(text)) is None:
            return None
        caller = self.caller_for(inbound)
        with self.services.db.session() as session:
            session.add(
                ConversationEvent(
                    person_id=caller.person_id,
                    channel=inbound.key.channel,
                    conversation=inbound.key.thread(),
                    kind="refusal",
                    tools=["query_metrics"],
                    ok=False,
                    created_at=self.clock.now(),
                    detail={"reason": "staff only", "topic": topic, "message": text[:200]},
                )
            )
        return Reply(STAFF_ONLY_REPLY)

    async def last_inbound_at(self, channel: str, address: str) -> datetime | None:
        """When this person last wrote to Roadie on `channel` (None if never)."""
        known = await asyncio.to_thread(identity.identity, self.services.db, channel, address)
        return known[0] if known else None

    async def opted_out(self, channel: str, address: str) -> bool:
        """True when the person said STOP on `channel` and has not said START since."""
        known = await asyncio.to_thread(identity.identity, self.services.db, channel, address)
        return bool(known and known[1])

    async def remember(self, channel: str, key: str, value: str) -> None:
        """Keep a channel's memo for every worker (the first value stored under a key stays)."""
        await asyncio.to_thread(memos.remember, self.services.db, channel, key, value, self.clock.now())

    async def recall(self, channel: str, key: str) -> str | None:
        """A channel's memo, if it is still kept."""
        return await asyncio.to_thread(memos.recall, self.services.db, channel, key, self.clock.now())

    async def _is_first_delivery(self, inbound: Inbound) -> bool:
        if self._deliveries is not None:
            try:
                return await self._deliveries.first(inbound.key.channel, inbound.message_id)
            except Exception as error:  # Redis down: the database row does the same job, a little slower
                log.warning("message id not checked in Redis (%s); recorded in the database", type(error).__name__)
        return await asyncio.to_thread(self._first_delivery, inbound)

    def _first_delivery(self, inbound: Inbound) -> bool:
        try:
            with self.services.db.session() as session:
                session.add(
                    ProcessedMessage(
                        channel=inbound.key.channel,
                        message_id=inbound.message_id,
                        received_at=self.clock.now(),
                        sender=ProcessedMessage.sender_key(
                            inbound.key.channel, inbound.key.user_id or inbound.key.chat_id
                        ),
                    )
                )
        except IntegrityError:
            return False
        return True

    def caller_for(self, inbound: Inbound) -> Caller:
        """The person behind a verified inbound message, created on first contact."""
        external_id = inbound.key.user_id or inbound.key.chat_id
        now = self.clock.now()
        with self.services.db.write_session() as session:
            identity = session.scalars(
                select(ChannelIdentity).where(
                    ChannelIdentity.channel == inbound.key.channel, ChannelIdentity.external_id == external_id
                )
            ).first()
            if identity is None:
                person = Person(display_name=inbound.display_name, role=inbound.role, created_at=now)
                session.add(person)
                session.flush()
                identity = ChannelIdentity(
                    person_id=person.id, channel=inbound.key.channel, external_id=external_id, last_seen_at=now
                )
                session.add(identity)
            else:
                identity.last_seen_at = now
            person = session.get_one(Person, identity.person_id)
            if not person.display_name and inbound.display_name:
                person.display_name = inbound.display_name  # first seen without a name; the channel knows it now
            return Caller(
                person_id=person.id,
                role=inbound.role,
                channel=inbound.key.channel,
                conversation=inbound.key.thread(),
                currency=person.currency,
                home_city=person.home_city,
                display_name=person.display_name or inbound.display_name,
                chat=f"{inbound.key.channel}:{inbound.key.chat_id}",
                in_group=inbound.in_group,
            )

    async def _turn(self, inbound: Inbound, text: str, keep: str | None = None) -> Reply:
        started = time.perf_counter()
        caller: Caller | None = None
        reply: Reply
        messages: list[BaseMessage] = []
        TURNS_IN_FLIGHT.inc()
        try:
            caller = await asyncio.to_thread(self.caller_for, inbound)
            agent = self._agents[inbound.role]
            result = await asyncio.wait_for(
                agent.ainvoke(
                    {"messages": [HumanMessage(content=text)]},
                    config={"configurable": {"thread_id": inbound.key.thread()}},
                    context=TurnContext(caller=caller, services=self.services, message=text),
                    durability="exit",  # memory written once, when the turn ends: a turn cut short is run again
                ),
                timeout=TURN_TIMEOUT_S,
            )
            messages = result["messages"]
            reply = self._reply_from(messages)
            ok = True
        except TimeoutError:
            log.warning("turn timed out for %s", inbound.key.channel)
            reply, ok = Reply("Sorry, that took too long on my side. Please try again in a moment."), False
        except Exception as error:
            if is_outage(error):
                raise  # answered as an outage by `handle`; the turn can't be logged without the database either
            log.exception("turn failed for %s", inbound.key.channel)
            reply, ok = Reply("Sorry, something went wrong on my side. Please try again in a moment."), False
        finally:
            TURNS_IN_FLIGHT.dec()
        seconds = time.perf_counter() - started
        latency_ms = round(seconds * 1000)
        observe_turn(inbound.key.channel, seconds, ok, self._this_turn(messages))
        self.turns += 1
        self.failures += 0 if ok else 1
        await self._export_memory(messages, inbound)
        if await self._forget_erased(messages, inbound):
            caller = None  # the person is gone: their turn is logged with no person and no conversation
        await asyncio.to_thread(self._log_turn, inbound, caller, reply, ok, latency_ms, keep)
        return reply

    async def _export_memory(self, messages: list[BaseMessage], inbound: Inbound) -> None:
        """After "export my data" ran: add the messages of each of that person's conversations to their file."""
        exported = next(
            (
                (data["document"], data["exported"])
                for data in map(_tool_data, self._this_turn(messages))
                if isinstance(data.get("exported"), dict)
            ),
            None,
        )
        checkpointer = getattr(self._agents[inbound.role], "checkpointer", None)
        if exported is None or checkpointer is None:
            return
        document, found = exported
        memory: dict[str, list[dict[str, str]]] = {}
        for thread in found.get("threads", []):
            kept = await checkpointer.aget_tuple({"configurable": {"thread_id": thread}})
            said = (kept.checkpoint.get("channel_values") or {}).get("messages", []) if kept else []
            memory[thread] = [line for line in map(_memory_line, said) if line is not None]
        path = self.services.settings.data_dir / "media" / str(document).removeprefix("/media/")
        await asyncio.to_thread(_add_to_export, path, memory)

    async def _forget_erased(self, messages: list[BaseMessage], inbound: Inbound) -> bool:
        """After "delete my data" ran: drop the conversation memory of every chat of that person (True if it ran)."""
        erased = next(
            (
                data["erased"]
                for data in map(_tool_data, self._this_turn(messages))
                if isinstance(data.get("erased"), dict)
            ),
            None,
        )
        if erased is None:
            return False
        checkpointer = getattr(self._agents[inbound.role], "checkpointer", None)
        for thread in {*erased.get("threads", []), inbound.key.thread()}:
            if checkpointer is not None:
                await checkpointer.adelete_thread(thread)
        return True

    @staticmethod
    def _this_turn(messages: list[BaseMessage]) -> list[BaseMessage]:
        starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
        return messages[starts[-1] + 1 :] if starts else []

    @staticmethod
    def _reply_from(messages: list[BaseMessage]) -> Reply:
        start = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
        turn = messages[start + 1 :]
        calls = [ToolCall(c["name"], dict(c["args"])) for m in turn if isinstance(m, AIMessage) for c in m.tool_calls]
        buttons: list[Button] = []
        poll: Poll | None = None
        image: str | None = None
        document: str | None = None
        closes_poll: str | None = None
        for message in turn:
            if isinstance(message, ToolMessage) and isinstance(message.artifact, dict):
                buttons = [Button(b["label"], b["value"]) for b in message.artifact.get("buttons", [])] or buttons
                data = _tool_data(message)
                asked = data.get("poll")
                if isinstance(asked, dict):
                    poll = Poll(asked["poll_id"], asked["question"], tuple(asked["options"]))
                drawn = data.get("image")
                if isinstance(drawn, str):
                    image = drawn  # a chart: a /media/ path or an absolute URL
                handed = data.get("document")
                if isinstance(handed, str):
                    document = handed  # a file for the person, such as their data export
                closed = data.get("closes_poll")
                if isinstance(closed, str):
                    closes_poll = closed  # a vote that ended: native polls are stopped
        final = next((m for m in reversed(turn) if isinstance(m, AIMessage) and not m.tool_calls), None)
        text = str(final.content) if final is not None else ""
        question = next(
            (str(m.content) for m in reversed(turn) if _tool_data(m).get("awaiting_confirmation")),
            None,
        )
        if question and question not in text:  # a "yes" must answer the question as Roadie asked it, word for word
            text = f"{text}\n\n{question}" if text else question
        if final is not None and isinstance(final.additional_kwargs.get(BUTTONS_KEY), list):
            buttons = [Button(b["label"], b["value"]) for b in final.additional_kwargs[BUTTONS_KEY]]
        return Reply(
            text or "Done.",
            buttons=buttons,
            poll=poll,
            image=image,
            document=document,
            closes_poll=closes_poll,
            tool_calls=calls,
        )

    def _log_turn(
        self, inbound: Inbound, caller: Caller | None, reply: Reply, ok: bool, latency_ms: int, keep: str | None
    ) -> None:
        """Log the turn; with `keep`, its answer is kept in the same transaction, so a turn that was logged is
        never run again for a repeat of its message, and one that wasn't is."""
        with self.services.db.session() as session:
            if keep is not None:
                now = self.clock.now()
                session.add(
                    ChannelMemo(
                        channel=inbound.key.channel, key=keep, value=json.dumps(payload_of(reply)), created_at=now
                    )
                )
            session.add(
                ConversationEvent(
                    person_id=caller.person_id if caller else None,
                    channel=inbound.key.channel,
                    conversation=inbound.key.thread() if caller else "",
                    kind="turn",
                    tools=[c.name for c in reply.tool_calls],
                    ok=ok,
                    latency_ms=latency_ms,
                    created_at=self.clock.now(),
                    detail={},
                )
            )
        if keep is not None:
            memos.stored(self.services.db, self.clock.now())
