"""Telegram through aiogram 3: the verified webhook at /telegram/webhook, long polling for development, and replies.

Updates become neutral Inbound messages (the update id is the dedupe id); Roadie's replies go back through
the Bot API as HTML messages with inline keyboards, native polls and photos, paced under Telegram's limits.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    PollAnswer,
    ReplyParameters,
    Update,
)
from aiogram.utils.token import TokenValidationError
from fastapi import FastAPI, Request, Response
from pydantic import ValidationError

from assistant.messages import Button, ConversationKey, Inbound, Reply
from assistant.settings import Settings
from channels.base import BackgroundTurns, Handler, People, SendRefused
from channels.lru import REMEMBERED, Lru
from channels.pacing import Pacer, with_retry_after
from channels.telegram_render import CAPTION_LIMIT, TAG, render_chunks, units

log = logging.getLogger(__name__)
T = TypeVar("T")

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MAX_BODY_BYTES = 256 * 1024
UPDATE_TYPES = ["message", "callback_query", "poll_answer"]
CALLBACK_DATA_BYTES = 64
MAX_BUTTONS = 24
SHORT_LABEL = 18
PER_CHAT_INTERVAL_S = 1.0
GROUP_INTERVAL_S = 3.0
OVERALL_PER_S = 30.0
# Turns in flight: offline planner turns are CPU-bound in this interpreter, so running one at a time loses no
# throughput and keeps webhook acks quick; an LLM's turns mostly wait on the network, so several overlap.
TURNS_AT_ONCE_OFFLINE = 1
TURNS_AT_ONCE_LLM = 8
EXPIRED = "That button has expired — type your answer instead."
COMMAND = re.compile(r"^/(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<bot>[A-Za-z0-9_]{3,64}))?(?:\s+(?P<args>.*))?$", re.S)
DEEP_LINK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def build_telegram(settings: Settings) -> TelegramChannel | str:
    """The Telegram channel, or why it stays off (no token, or a public webhook without a secret)."""
    token = settings.telegram_bot_token.get_secret_value()
    secret = settings.telegram_webhook_secret.get_secret_value()
    if not token:
        return "ROADIE_TELEGRAM_BOT_TOKEN is not set"
    if not secret:
        return (
            "set ROADIE_TELEGRAM_WEBHOOK_SECRET (1-256 characters from A-Z a-z 0-9 _ -) so that forged "
            "webhook calls can be refused; `python main.py telegram-poll` needs no secret"
        )
    if not SECRET_SHAPE.match(secret):
        return "ROADIE_TELEGRAM_WEBHOOK_SECRET may only hold 1-256 characters from A-Z a-z 0-9 _ -"
    try:
        return TelegramChannel.from_settings(settings)
    except TokenValidationError:
        return "ROADIE_TELEGRAM_BOT_TOKEN does not look like a bot token from @BotFather (123456:ABC-DEF…)"


def command_text(name: str, args: str) -> str:
    """What a /command means as a message: /start is a hello, deep links carry a payload, others are words."""
    if name.lower() != "start":
        return f"{name} {args}".strip()
    if not args:
        return "hi"
    if args.startswith("join_") and DEEP_LINK.match(args):
        return f"join group {args.removeprefix('join_')}"
    return args.replace("_", " ") if DEEP_LINK.match(args) else args


def retry_after_of(error: Exception) -> float | None:
    """Seconds Telegram asked us to wait (a 429 answer), or None for any other error."""
    return float(error.retry_after) if isinstance(error, TelegramRetryAfter) else None


class ButtonValues:
    """callback_data for button values: values that fit 64 bytes travel inline, longer ones by a remembered hash.

    A hash is remembered here and, through the core's channel memos, for every worker and after a restart:
    `unsaved()` hands over the hashes made since it was last called.
    """

    def __init__(self, size: int = REMEMBERED) -> None:
        self._long: Lru[str, str] = Lru(size)
        self._unsaved: dict[str, str] = {}

    def data_for(self, value: str) -> str:
        inline = "v:" + value
        if len(inline.encode()) <= CALLBACK_DATA_BYTES:
            return inline
        data = "h:" + hashlib.sha256(value.encode()).hexdigest()[:32]
        if self._long.get(data) is None:
            self._unsaved[data] = value
        self._long.put(data, value)
        return data

    def value_of(self, data: str) -> str | None:
        """The value behind a pressed button when this worker knows it (inline, or a hash it made)."""
        if data.startswith("v:"):
            return data[2:]
        return self._long.get(data) if data.startswith("h:") else None

    def unsaved(self) -> dict[str, str]:
        """The hashes made since the last call, with their values."""
        made, self._unsaved = self._unsaved, {}
        return made


@dataclass(frozen=True)
class Target:
    """Where a reply goes: a chat, its forum topic, and the message it answers (in groups)."""

    chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None


@dataclass(frozen=True)
class SentPoll:
    """A native poll Roadie sent: Roadie's poll id and the chat and topic it lives in."""

    poll_id: str
    chat_id: int
    thread_id: int | None


class TelegramChannel:
    """Telegram for Roadie: holds the aiogram Bot and Dispatcher, and is composed with the core's `handle`."""

    name = "telegram"

    def __init__(
        self,
        bot: Bot,
        secret: str,
        media_dir: Path,
        public_base_url: str = "",
        turns_at_once: int = TURNS_AT_ONCE_OFFLINE,
        grace_s: float = 30.0,
    ) -> None:
        self.bot = bot
        self.username = ""
        self._secret = secret.encode()
        self._media_dir = media_dir
        self._webhook_url = f"{public_base_url.rstrip('/')}{WEBHOOK_PATH}" if public_base_url else ""
        self._handle: Handler | None = None
        self._people: People | None = None
        self._turns = BackgroundTurns(turns_at_once=turns_at_once, grace_s=grace_s)
        self._chores: set[asyncio.Task[None]] = set()
        self._pacer = Pacer(interval=PER_CHAT_INTERVAL_S, overall_per_s=OVERALL_PER_S)
        self._buttons = ButtonValues()
        self._polls: Lru[str, SentPoll] = Lru()
        self._poll_messages: Lru[str, int] = Lru()  # "Roadie poll id:chat id" → the native poll's message
        router = Router(name="roadie")
        router.message.register(self._on_message)
        router.callback_query.register(self._on_button)
        router.poll_answer.register(self._on_vote)
        self.dispatcher = Dispatcher()
        self.dispatcher.include_router(router)

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramChannel:
        """A channel whose Bot talks to `telegram_api_base` when set (a local Bot API server, a test fake)."""
        base = settings.telegram_api_base
        timeout = settings.platform_timeout_s  # every Bot API call gives up after this (long polls add theirs)
        session = (
            AiohttpSession(api=TelegramAPIServer.from_base(base), timeout=timeout)
            if base
            else AiohttpSession(timeout=timeout)
        )
        bot = Bot(settings.telegram_bot_token.get_secret_value(), session=session)
        return cls(
            bot,
            settings.telegram_webhook_secret.get_secret_value(),
            settings.data_dir / "media",
            settings.public_base_url,
            turns_at_once=TURNS_AT_ONCE_LLM if settings.uses_llm else TURNS_AT_ONCE_OFFLINE,
            grace_s=settings.shutdown_grace_s,
        )

    def install(self, app: FastAPI) -> None:
        """Add POST /telegram/webhook to `app`."""
        app.add_api_route(WEBHOOK_PATH, self._webhook, methods=["POST"], include_in_schema=False)

    def attach(self, handle: Handler, people: People) -> None:
        """Compose with the core: verified messages go to `handle`; `people` answers opt-out questions."""
        self._handle = handle
        self._people = people

    async def start(self) -> None:
        """Learn the bot's @username (for mentions in groups) and register the webhook when the public URL is set."""
        try:
            me = await self.bot.get_me()
            self.username = me.username or ""
        except Exception as error:
            log.error("telegram getMe failed (%s); in groups only commands and replies reach Roadie", error)
        if self._webhook_url:
            try:
                await self.bot.set_webhook(
                    self._webhook_url,
                    secret_token=self._secret.decode(),
                    allowed_updates=UPDATE_TYPES,
                    drop_pending_updates=False,
                )
                log.info("telegram webhook registered at %s", self._webhook_url)
            except Exception as error:
                log.error("telegram setWebhook for %s failed: %s", self._webhook_url, error)

    async def stop(self) -> None:
        """Let running turns finish, then close the Bot API session."""
        await self._turns.drain()
        if self._chores:
            await asyncio.wait(set(self._chores), timeout=10)
        await self.bot.session.close()

    async def poll(self, handle_signals: bool = True, polling_timeout: int = 10) -> None:
        """Long polling for development: drop the webhook, then read getUpdates until stopped (Ctrl-C)."""
        await self.bot.delete_webhook(drop_pending_updates=False)
        await self.start()
        await self.dispatcher.start_polling(
            self.bot,
            handle_signals=handle_signals,
            close_bot_session=False,
            allowed_updates=UPDATE_TYPES,
            polling_timeout=polling_timeout,
        )

    async def stop_polling(self) -> None:
        """End `poll()` from another task."""
        await self.dispatcher.stop_polling()

    async def send(self, address: str, reply: Reply) -> None:
        """A proactive message to chat `address`; SendRefused when the person opted out or blocked Roadie."""
        if self._people is not None and await self._people.opted_out(self.name, address):
            raise SendRefused("the person sent STOP on Telegram")
        try:
            chat_id = int(address)
        except ValueError:
            raise SendRefused(f"{address!r} is not a Telegram chat id") from None
        try:
            await self._deliver(Target(chat_id), reply)
        except TelegramForbiddenError as error:
            raise SendRefused(f"Telegram refused: {error.message}") from error

    # Inbound: the webhook acknowledges at once; handlers only translate and hand the turn to the background.

    async def _webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return Response('{"ok":false,"description":"Unauthorized"}', 401, media_type="application/json")
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            return Response(status_code=413)
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > MAX_BODY_BYTES:
                return Response(status_code=413)
        try:
            update = Update.model_validate(json.loads(body), context={"bot": self.bot})
        except (ValueError, ValidationError):
            return Response(status_code=400)
        try:
            await self.dispatcher.feed_update(self.bot, update)
        except Exception:
            log.exception("telegram update %s could not be dispatched", update.update_id)
        return Response(status_code=200)

    async def _on_message(self, message: Message, event_update: Update) -> None:
        user = message.from_user
        if user is None or user.is_bot or message.chat.type == "channel":
            return
        in_group = message.chat.type in ("group", "supergroup")
        raw = message.text or message.caption or ""
        text = self._addressed(message, raw) if in_group else self._private(raw)
        if text is None:
            return
        thread = message.message_thread_id if message.is_topic_message else None
        key = ConversationKey(self.name, str(message.chat.id), str(user.id), str(thread or ""))
        inbound = Inbound(key, text, str(event_update.update_id), user.full_name, in_group=in_group)
        self._run(inbound, Target(message.chat.id, thread, message.message_id if in_group else None))

    @staticmethod
    def _private(text: str) -> str:
        command = COMMAND.match(text)
        return command_text(command["name"], (command["args"] or "").strip()) if command else text

    def _addressed(self, message: Message, text: str) -> str | None:
        """The text meant for Roadie in a group (mention stripped), or None when it is not addressed to Roadie."""
        command = COMMAND.match(text)
        if command:
            if command["bot"] and command["bot"].lower() != self.username.lower():
                return None
            return command_text(command["name"], (command["args"] or "").strip())
        if self.username:
            mention = re.compile(rf"(?<![\w@])@{re.escape(self.username)}\b", re.I)
            if mention.search(text):
                return re.sub(r"\s+", " ", mention.sub(" ", text)).strip().lstrip(",:;-–— ").strip()
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == self.bot.id:
            return text
        return None

    async def _on_button(self, query: CallbackQuery, event_update: Update) -> None:
        data = query.data or ""
        value = self._buttons.value_of(data)
        if value is None and data.startswith("h:") and self._people is not None:
            value = await self._people.recall(self.name, data)  # made by another worker, or before a restart
        message = query.message
        self._later(self._acknowledge_press(query, message if value is not None else None))
        if value is None or message is None:
            return
        in_group = message.chat.type in ("group", "supergroup")
        thread = message.message_thread_id if isinstance(message, Message) and message.is_topic_message else None
        key = ConversationKey(self.name, str(message.chat.id), str(query.from_user.id), str(thread or ""))
        inbound = Inbound(key, value, f"cb:{query.id}", query.from_user.full_name, in_group=in_group)
        self._run(inbound, Target(message.chat.id, thread))

    async def _acknowledge_press(self, query: CallbackQuery, pressed: Any) -> None:
        """Stop the button's spinner, then take the keyboard off the message so a choice is made once."""
        await self.bot.answer_callback_query(query.id, text=None if pressed is not None else EXPIRED)
        if isinstance(pressed, Message) and pressed.reply_markup is not None:
            await self.bot.edit_message_reply_markup(chat_id=pressed.chat.id, message_id=pressed.message_id)

    async def _on_vote(self, answer: PollAnswer, event_update: Update) -> None:
        sent = self._polls.get(answer.poll_id)
        if sent is None and self._people is not None:
            kept = await self._people.recall(self.name, f"poll:{answer.poll_id}")
            sent = SentPoll(**json.loads(kept)) if kept else None
        user = answer.user
        if sent is None or user is None or not answer.option_ids:
            return
        key = ConversationKey(self.name, str(sent.chat_id), str(user.id), str(sent.thread_id or ""))
        text = f"vote {sent.poll_id} {answer.option_ids[0] + 1}"
        inbound = Inbound(key, text, str(event_update.update_id), user.full_name, in_group=sent.chat_id < 0)
        self._run(inbound, Target(sent.chat_id, sent.thread_id))

    def _run(self, inbound: Inbound, target: Target) -> None:
        if self._handle is None:
            log.warning("telegram update arrived before Roadie was ready; dropped")
            return
        self._turns.run(self._handle, inbound, partial(self._deliver, target))

    def _later(self, chore: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await chore
            except Exception as error:
                log.warning("telegram call failed: %s", error)

        task = asyncio.create_task(guarded())
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    # Outbound: render, split, pace, retry.

    async def _deliver(self, target: Target, reply: Reply) -> None:
        """Send `reply` to `target`: photo, text messages (keyboard on the last one), then the poll."""
        chunks = render_chunks(reply.text)
        keyboard = self._keyboard(reply.buttons)
        if self._people is not None:
            for data, value in self._buttons.unsaved().items():
                await self._people.remember(self.name, data, value)
        reply_to = target.reply_to
        photo = await self._photo(reply.image) if reply.image else None
        if photo is not None:
            caption = chunks[0] if len(chunks) == 1 and units(TAG.sub("", chunks[0])) <= CAPTION_LIMIT else None
            if caption is not None:
                chunks = []
            await self._paced(
                target.chat_id,
                lambda: self.bot.send_photo(
                    target.chat_id,
                    photo,
                    caption=caption,
                    parse_mode="HTML" if caption else None,
                    message_thread_id=target.thread_id,
                    reply_parameters=self._replying(reply_to),
                    reply_markup=keyboard if not chunks else None,
                ),
            )
            keyboard, reply_to = (keyboard if chunks else None), None
        if keyboard is not None and not chunks:
            chunks = ["Choose one:"]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            await self._send_text(target, chunk, keyboard if last else None, reply_to)
            reply_to = None
        if reply.poll is not None:
            await self._send_poll(target, reply)
        if reply.closes_poll:
            await self._stop_poll(target, reply.closes_poll)
        if reply.document:
            await self._send_document(target, reply.document)

    async def _send_document(self, target: Target, document: str) -> None:
        """Attach a file Roadie made for the person (a data export); the text already carries its link."""
        found = await self._photo(document)
        if found is None or isinstance(found, str):
            return
        await self._paced(
            target.chat_id,
            lambda: self.bot.send_document(target.chat_id, found, message_thread_id=target.thread_id),
        )

    async def _send_text(
        self, target: Target, chunk: str, keyboard: InlineKeyboardMarkup | None, reply_to: int | None
    ) -> None:
        async def as_html() -> Message:
            return await self.bot.send_message(
                target.chat_id,
                chunk,
                parse_mode="HTML",
                message_thread_id=target.thread_id,
                reply_parameters=self._replying(reply_to),
                reply_markup=keyboard,
            )

        try:
            await self._paced(target.chat_id, as_html)
        except TelegramBadRequest as error:
            if "parse entities" not in error.message:
                raise
            log.warning("telegram refused our HTML (%s); sending the same text without formatting", error.message)
            plain = html.unescape(TAG.sub("", chunk))
            await self._paced(
                target.chat_id,
                lambda: self.bot.send_message(
                    target.chat_id,
                    plain,
                    parse_mode=None,
                    message_thread_id=target.thread_id,
                    reply_parameters=self._replying(reply_to),
                    reply_markup=keyboard,
                ),
            )

    async def _send_poll(self, target: Target, reply: Reply) -> None:
        assert reply.poll is not None
        poll = reply.poll
        options: list[Any] = [option[:100] for option in poll.options[:10]]
        sent = await self._paced(
            target.chat_id,
            lambda: self.bot.send_poll(
                target.chat_id,
                poll.question[:300],
                options,
                is_anonymous=False,
                allows_multiple_answers=False,
                message_thread_id=target.thread_id,
            ),
        )
        if sent.poll is not None:
            kept = SentPoll(poll.poll_id, target.chat_id, target.thread_id)
            self._polls.put(sent.poll.id, kept)
            self._poll_messages.put(f"{poll.poll_id}:{target.chat_id}", sent.message_id)
            if self._people is not None:
                await self._people.remember(self.name, f"poll:{sent.poll.id}", json.dumps(asdict(kept)))
                await self._people.remember(
                    self.name, f"poll-message:{poll.poll_id}:{target.chat_id}", str(sent.message_id)
                )

    async def _stop_poll(self, target: Target, poll_id: str) -> None:
        """Close the native poll Roadie sent to this chat for `poll_id`, so nobody votes on a decided question."""
        message_id = self._poll_messages.get(f"{poll_id}:{target.chat_id}")
        if message_id is None and self._people is not None:
            kept = await self._people.recall(self.name, f"poll-message:{poll_id}:{target.chat_id}")
            message_id = int(kept) if kept and kept.isdigit() else None
        if message_id is None:
            return  # this chat got the vote as text (or never saw it)
        stopping = partial(self.bot.stop_poll, target.chat_id, message_id)
        try:
            await self._paced(target.chat_id, stopping)
        except TelegramBadRequest as error:  # closed already: by an earlier announcement, or by hand
            log.info("telegram: poll %s in chat %s was not stopped: %s", poll_id, target.chat_id, error.message)

    @staticmethod
    def _replying(message_id: int | None) -> ReplyParameters | None:
        if message_id is None:
            return None
        return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)

    def _keyboard(self, buttons: list[Button]) -> InlineKeyboardMarkup | None:
        """An inline keyboard: one button per row, two per row when both labels are short."""
        if not buttons:
            return None
        keys = [
            InlineKeyboardButton(text=b.label[:64], callback_data=self._buttons.data_for(b.value))
            for b in buttons[:MAX_BUTTONS]
        ]
        rows: list[list[InlineKeyboardButton]] = []
        i = 0
        while i < len(keys):
            if i + 1 < len(keys) and all(len(k.text) <= SHORT_LABEL for k in keys[i : i + 2]):
                rows.append(keys[i : i + 2])
                i += 2
            else:
                rows.append([keys[i]])
                i += 1
        return InlineKeyboardMarkup(inline_keyboard=rows)

    async def _photo(self, image: str) -> BufferedInputFile | str | None:
        """An absolute URL as is, or the bytes of a /media/ file to upload (None when it cannot be found)."""
        if image.startswith(("https://", "http://")):
            return image
        media = self._media_dir.resolve()
        path = (media / image.removeprefix("/media/")).resolve()
        if not image.startswith("/media/") or not path.is_relative_to(media) or not path.is_file():
            log.warning("reply image %r is not a URL or a file under /media/; sending the text only", image)
            return None
        return BufferedInputFile(await asyncio.to_thread(path.read_bytes), filename=path.name)

    async def _paced(self, chat_id: int, call: Callable[[], Awaitable[T]]) -> T:
        """Run one Bot API call within the per-chat, per-group and overall limits, waiting out 429s."""
        chat = str(chat_id)

        async def attempt() -> T:
            await self._pacer.wait(chat, GROUP_INTERVAL_S if chat_id < 0 else None)
            return await call()

        return await with_retry_after(attempt, retry_after_of, on_wait=lambda s: self._pacer.hold(chat, s))
