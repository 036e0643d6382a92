"""WhatsApp through Twilio: signed webhooks in, plain-text replies with numbered options out through the REST API.

Twilio posts each WhatsApp message to `/whatsapp/webhook` as a form, signed with the account's auth token over the
public URL it called. Roadie checks that signature, acknowledges with empty TwiML at once, runs the turn in the
background and sends the answer with Twilio's Messages API (`messages.create`), paced per number and retried
when Twilio answers 429.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.datastructures import ImmutableMultiDict
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator
from twilio.rest import Client

from assistant.clock import Clock, SystemClock
from assistant.messages import ConversationKey, Inbound, Reply
from assistant.settings import Settings
from channels.base import BackgroundTurns, Handler, People, SendRefused
from channels.pacing import Pacer, with_retry_after
from channels.render import markdown_to_plain

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
WEBHOOK_PATH = "/whatsapp/webhook"
MAX_BODY_BYTES = 64 * 1024  # a WhatsApp message form is a few KB; anything bigger is not Twilio
MAX_CHARS = 1600  # Twilio's limit for one WhatsApp message body
SESSION_WINDOW = timedelta(hours=24)  # WhatsApp allows free-form messages this long after the person last wrote
PER_NUMBER_INTERVAL_S = 1.0
OVERALL_PER_S = 80.0  # Twilio's default throughput for one WhatsApp sender
SEND_TIMEOUT_S = 15.0
DEFAULT_RETRY_S = 1.0  # Twilio's 429 usually carries no Retry-After
REMEMBERED_NUMBERS = 10_000
# Turns in flight: the offline planner's turns are CPU-bound on this process's interpreter, so one at a time loses no
# throughput and keeps webhook acks quick; an LLM's turns mostly wait on the network, so several overlap.
TURNS_AT_ONCE_OFFLINE = 1
TURNS_AT_ONCE_LLM = 8
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MEDIA_ONLY_ANSWER = "Thanks — I can't look at photos or voice notes yet; tell me in words what you're after"
MEDIA_NOTE = "(I can't look at photos or voice notes yet, so I only read your words.)"
OPTION = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")
BOLD = re.compile(r"\*\*(.+?)\*\*")
ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
BOLD_MARK = "\x00"

# The Retry-After header of the current send's 429, written by an aiohttp trace hook (one dict per send).
_RATE_LIMIT_HEADERS: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("twilio_rate_limit_headers")


def whatsapp_text(markdown: str) -> str:
    """WhatsApp's own formatting: **bold** → *bold*, *italic* → _italic_, links spelled out, bullets as •."""
    text = BOLD.sub(lambda m: f"{BOLD_MARK}{m.group(1)}{BOLD_MARK}", markdown)
    text = ITALIC.sub(r"_\1_", text)
    return markdown_to_plain(text).replace(BOLD_MARK, "*")


def numbered(reply: Reply) -> tuple[str, list[str]]:
    """The reply as WhatsApp text with its poll and buttons as numbered options, and the value behind each number.

    Poll options come first and answer `vote <poll_id> <n>`, as the neutral Poll says; buttons follow.
    """
    text = whatsapp_text(reply.text).strip()
    options: list[tuple[str, str]] = []
    block: list[str] = []
    if reply.poll is not None:
        block.append(f"*{reply.poll.question}*")
        options += [(o, f"vote {reply.poll.poll_id} {n}") for n, o in enumerate(reply.poll.options, start=1)]
    options += [(b.label, b.value) for b in reply.buttons]
    if not options:
        return text, []
    block += [f"{n}. {label}" for n, (label, _) in enumerate(options, start=1)]
    block.append(_reply_with(len(options)))
    return "\n\n".join(part for part in (text, "\n".join(block)) if part), [value for _, value in options]


def _reply_with(count: int) -> str:
    if count == 1:
        return "Reply 1."
    if count <= 4:
        return "Reply " + ", ".join(str(n) for n in range(1, count)) + f" or {count}."
    return f"Reply with a number from 1 to {count}."


def split_message(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, else a line, else a word boundary."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = next((at for sep in ("\n\n", "\n", " ") if (at := window.rfind(sep)) > limit // 4), limit)
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def bare_number(address: str) -> str:
    """`whatsapp:+447700900123`, `+447700900123` or `447700900123` → `+447700900123` (Roadie's id for the person)."""
    number = address.strip().removeprefix("whatsapp:").strip()
    return number if number.startswith("+") else f"+{number}"


def retry_after_seconds(header: str | None) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); 1 s when absent or unreadable."""
    if not header:
        return DEFAULT_RETRY_S
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_S
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


class RateLimited(Exception):
    """Twilio answered 429: wait `retry_after` seconds before sending again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Twilio rate limit, retry after {retry_after:.1f} s")
        self.retry_after = retry_after


def _rate_limit_wait(error: Exception) -> float | None:
    return error.retry_after if isinstance(error, RateLimited) else None


async def _note_rate_limit(
    _session: aiohttp.ClientSession, _context: Any, params: aiohttp.TraceRequestEndParams
) -> None:
    """aiohttp hook: keep a 429's Retry-After for the send that got it (the SDK's exception drops headers)."""
    seen = _RATE_LIMIT_HEADERS.get(None)
    if seen is not None and params.response.status == 429:
        seen["retry-after"] = params.response.headers.get("Retry-After", "")


class RecentOptions:
    """The numbered options last sent to each number, so "2" can mean the second one (in-process, bounded LRU)."""

    def __init__(self, capacity: int = REMEMBERED_NUMBERS) -> None:
        self._capacity = capacity
        self._values: OrderedDict[str, list[str]] = OrderedDict()

    def remember(self, number: str, values: list[str]) -> None:
        """The options just sent to `number` (none: a bare number is plain text again)."""
        self._values.pop(number, None)
        if values:
            self._values[number] = values
            while len(self._values) > self._capacity:
                self._values.popitem(last=False)

    def pick(self, number: str, text: str) -> str | None:
        """The value behind an answer such as "2", " 2 " or "2." when the last reply offered that option."""
        match = OPTION.match(text)
        values = self._values.get(number)
        if match is None or not values:
            return None
        index = int(match.group(1))
        return values[index - 1] if 1 <= index <= len(values) else None


class RecentIds:
    """A bounded set of platform message ids already acknowledged outside the core (media without words)."""

    def __init__(self, capacity: int = REMEMBERED_NUMBERS) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, message_id: str) -> bool:
        """True the first time `message_id` is seen."""
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True


class WhatsAppChannel:
    """Roadie on WhatsApp through Twilio, composed with the core's `handle`; holds the Twilio client.

    Sends use the real twilio `Client` with its `AsyncTwilioHttpClient` (aiohttp) and `create_async`: no thread
    per send, and a 429's Retry-After header can be read with an aiohttp trace hook in the sending task itself
    (the SDK's exception does not carry headers, and the sync client's `last_response` is shared between threads).
    The aiohttp session lives on the event loop that called `start()`.
    """

    name = CHANNEL

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self._account_sid = settings.twilio_account_sid
        self._auth_token = settings.twilio_auth_token.get_secret_value()
        self._sender = "whatsapp:" + bare_number(settings.twilio_whatsapp_from)
        self._public_base = settings.public_base_url.rstrip("/")
        self._api_base = settings.twilio_api_base.rstrip("/")
        self._content_sid = settings.twilio_content_sid
        self._timeout_s = settings.platform_timeout_s  # one Twilio API call, connection included
        # The core's clock is not offered to channels; the session window is real time unless a clock is given.
        self.clock: Clock = clock or SystemClock()
        self._validator = RequestValidator(self._auth_token)
        self._pacer = Pacer(PER_NUMBER_INTERVAL_S, OVERALL_PER_S)
        self._turns = BackgroundTurns(
            turns_at_once=TURNS_AT_ONCE_LLM if settings.uses_llm else TURNS_AT_ONCE_OFFLINE,
            grace_s=settings.shutdown_grace_s,
        )
        self._options = RecentOptions()
        self._media_acks = RecentIds()
        self._handle: Handler | None = None
        self._people: People | None = None
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    def install(self, app: FastAPI) -> None:
        """Add POST /whatsapp/webhook to `app`."""
        app.add_api_route(WEBHOOK_PATH, self._webhook, methods=["POST"], include_in_schema=False)

    def attach(self, handle: Handler, people: People) -> None:
        """Compose with the core: verified messages go to `handle`; `people` answers opt-out and last-seen."""
        self._handle = handle
        self._people = people

    async def start(self) -> None:
        """Open the Twilio client (its aiohttp session) on the running loop."""
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(_note_rate_limit)
        quiet = logging.getLogger(f"{__name__}.twilio_http")
        quiet.setLevel(logging.WARNING)  # the SDK logs every request's URL and headers at INFO
        self._http = AsyncTwilioHttpClient(trace_configs=[trace], logger=quiet, timeout=self._timeout_s)
        self._client = Client(self._account_sid, self._auth_token, http_client=self._http)
        if self._api_base:
            self._client.api.base_url = self._api_base

    async def stop(self) -> None:
        """Finish the turns still running (their answers go out), then close the client."""
        await self._turns.drain()
        if self._http is not None:
            await self._http.close()
        self._http = self._client = None

    async def send(self, address: str, reply: Reply) -> None:
        """A proactive message to `address` ("whatsapp:+44…" or the bare number).

        Raises SendRefused when the person opted out, or when they last wrote more than 24 hours ago (by this
        channel's clock, real time by default) and no approved template (ROADIE_TWILIO_CONTENT_SID) is set; with
        a template, the first line of the text fills its variable {{1}}.
        """
        if self._people is None:
            raise RuntimeError("the WhatsApp channel is not attached to Roadie yet")
        number = bare_number(address)
        if await self._people.opted_out(CHANNEL, number):
            raise SendRefused("opted out")
        last = await self._people.last_inbound_at(CHANNEL, number)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        if last is None or self.clock.now() - last > SESSION_WINDOW:
            if not self._content_sid:
                raise SendRefused("outside the 24-hour WhatsApp session window and no template is configured")
            first_line = next((line for line in markdown_to_plain(reply.text).splitlines() if line.strip()), "")
            variables = json.dumps({"1": first_line.strip()[:1000]}, ensure_ascii=False)
            await self._create(number, content_sid=self._content_sid, content_variables=variables)
            return
        await self._deliver(number, reply)

    async def _webhook(self, request: Request) -> Response:
        body = await _read_limited(request, MAX_BODY_BYTES)
        if body is None:
            return PlainTextResponse("Request body too large", status_code=413)
        params = ImmutableMultiDict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if not self._verified(request, params):
            return PlainTextResponse("Forbidden", status_code=403)
        sid, sender = params.get("MessageSid", ""), params.get("From", "")
        if not sid or not sender:
            return PlainTextResponse("MessageSid and From are required", status_code=400)
        if self._handle is None:
            return PlainTextResponse("Roadie is starting", status_code=503)
        if sender.startswith("whatsapp:"):
            self._accept(params, sid, bare_number(sender), self._handle)
        else:
            log.info("ignored a non-WhatsApp message posted to the WhatsApp webhook")
        return Response(EMPTY_TWIML, media_type="text/xml")

    def _verified(self, request: Request, params: ImmutableMultiDict[str, str]) -> bool:
        """Twilio's signature over the PUBLIC URL (we sit behind a proxy), with the query string Twilio called."""
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return False
        url = self._public_base + WEBHOOK_PATH + (f"?{request.url.query}" if request.url.query else "")
        return bool(self._validator.validate(url, params, signature))

    def _accept(self, params: ImmutableMultiDict[str, str], sid: str, number: str, handle: Handler) -> None:
        """Start the turn in the background; the webhook answers before it runs."""
        text = params.get("ButtonPayload") or params.get("Body", "")
        has_media = _media_count(params.get("NumMedia", "")) > 0
        key = ConversationKey(channel=CHANNEL, chat_id=number, user_id=number)
        inbound = Inbound(
            key=key,
            text=self._options.pick(number, text) or text,
            message_id=sid,
            display_name=params.get("ProfileName", ""),
        )

        async def deliver(reply: Reply) -> None:
            if has_media and text.strip():
                reply = replace(reply, text=f"{MEDIA_NOTE}\n\n{reply.text}")
            await self._deliver(number, reply)

        self._turns.run(self._media_only if has_media and not text.strip() else handle, inbound, deliver)

    async def _media_only(self, inbound: Inbound) -> Reply | None:
        """A photo or voice note without words: a kind answer and no turn (once per message id)."""
        return Reply(MEDIA_ONLY_ANSWER) if self._media_acks.first_time(inbound.message_id) else None

    async def _deliver(self, number: str, reply: Reply) -> None:
        """Send a reply as one or more WhatsApp messages; the image goes with the first one."""
        text, values = numbered(reply)
        self._options.remember(number, values)
        media = self._media_url(reply.image)
        for index, chunk in enumerate(split_message(text) or [""]):
            fields: dict[str, Any] = {"body": chunk}
            if media and index == 0:
                fields["media_url"] = [media]
            await self._create(number, **fields)

    def _media_url(self, image: str | None) -> str | None:
        if not image:
            return None
        if image.startswith(("https://", "http://")):
            return image
        if image.startswith("/media/"):
            return self._public_base + image
        log.warning("dropped an image that is neither a URL nor under /media/")
        return None

    async def _create(self, number: str, **fields: Any) -> None:
        """messages.create to `number`, paced per number and retried on 429 as long as Twilio asks."""

        async def attempt() -> None:
            await self._pacer.wait(number)
            await self._post(number, fields)

        await with_retry_after(attempt, _rate_limit_wait, on_wait=lambda s: self._pacer.hold(number, s))

    async def _post(self, number: str, fields: dict[str, Any]) -> None:
        if self._client is None:
            raise RuntimeError("the WhatsApp channel is not started")
        seen: dict[str, str] = {}
        token = _RATE_LIMIT_HEADERS.set(seen)
        try:
            create = self._client.messages.create_async(from_=self._sender, to=f"whatsapp:{number}", **fields)
            await asyncio.wait_for(create, SEND_TIMEOUT_S)
        except TwilioException as error:
            if getattr(error, "status", None) == 429:
                raise RateLimited(retry_after_seconds(seen.get("retry-after"))) from error
            raise
        finally:
            _RATE_LIMIT_HEADERS.reset(token)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            return None
    return bytes(body)


def _media_count(value: str) -> int:
    return int(value) if value.strip().isdigit() else 0


def build_whatsapp(settings: Settings) -> WhatsAppChannel | str:
    """The WhatsApp channel, or why it stays off (a missing Twilio credential or public URL)."""
    needed = {
        "ROADIE_TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "ROADIE_TWILIO_AUTH_TOKEN": settings.twilio_auth_token.get_secret_value(),
        "ROADIE_TWILIO_WHATSAPP_FROM": settings.twilio_whatsapp_from,
        "ROADIE_PUBLIC_BASE_URL": settings.public_base_url,
    }
    missing = [name for name, value in needed.items() if not value.strip()]
    if missing:
        return "set " + ", ".join(missing) + " to turn it on"
    if not settings.public_base_url.startswith(("https://", "http://")):
        return "ROADIE_PUBLIC_BASE_URL must be the http(s) address Twilio calls, e.g. https://roadie.example.com"
    return WhatsAppChannel(settings)
