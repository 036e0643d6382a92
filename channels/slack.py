"""Slack: events, button presses and slash commands at POST /slack/events through slack-bolt; answers via the Web API.

Bolt verifies every request with the signing secret (401 otherwise) and calls auth.test once
to learn Roadie's own bot user. Each listener only acknowledges and schedules the turn, so
Slack gets its 200 at once; the answer goes out through chat.postMessage, paced per channel.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from assistant.messages import ConversationKey, Inbound, Reply, Role
from assistant.settings import Settings
from channels.base import BackgroundTurns, Handler, People, SendRefused
from channels.lru import Lru
from channels.pacing import Pacer, with_retry_after
from channels.slack_render import ACTION_PREFIX, SlackMessage, is_uploaded, pressed, render_reply

log = logging.getLogger(__name__)
CHANNEL = "slack"
MAX_BODY_BYTES = 128 * 1024  # events, button presses and slash commands are a few KB; anything bigger is not Slack
PER_CHANNEL_INTERVAL_S = 1.0  # chat.postMessage: about one message per second per channel
OVERALL_PER_S = 20.0
# Turns in flight, as on Telegram and WhatsApp: offline planner turns are CPU-bound in this interpreter, so one at a
# time loses no throughput and keeps acks quick; an LLM's turns mostly wait on the network, so several overlap.
TURNS_AT_ONCE_OFFLINE = 1
TURNS_AT_ONCE_LLM = 8
NOT_A_MEMBER = {"not_in_channel", "channel_not_found"}
NO_LOOKUPS = {"missing_scope", "not_allowed_token_type", "unknown_method"}  # users.info will never work with this app
BUTTON_ACTION = re.compile(rf"^{ACTION_PREFIX}(button|vote)_\d+$")
ANY_COMMAND = re.compile(r"^/")
USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
OTHER_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
CHANNEL_LINK = re.compile(r"<#[CG][A-Z0-9]+\|([^>]*)>")
LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


@dataclass(frozen=True)
class Where:
    """Where an answer goes: a channel (or user id, for their DM), a thread in it, and a slash command's hook."""

    channel: str
    thread_ts: str = ""
    response_url: str = ""


def slack_to_text(text: str, bot_user: str | None) -> str:
    """What a person typed, from Slack's markup: Roadie's own mention removed, others' and links made readable."""
    if bot_user:
        text = re.sub(rf"<@{re.escape(bot_user)}(?:\|[^>]*)?>", " ", text)
    text = OTHER_USER.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = CHANNEL_LINK.sub(r"#\1", text)
    text = LINK.sub(lambda m: m.group(2) or m.group(1).removeprefix("mailto:"), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", text).strip()


def retry_after(error: Exception) -> float | None:
    """Seconds Slack asked us to wait (HTTP 429 with Retry-After), or None for any other error."""
    if not isinstance(error, SlackApiError) or error.response.status_code != 429:
        return None
    headers = error.response.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after") or "1"
    if isinstance(value, list):
        value = value[0]
    try:
        return float(value)
    except ValueError:
        return 1.0


class SlackChannel:
    """Roadie in a Slack workspace: DMs, @mentions (answered in threads), buttons, /roadie and file uploads."""

    name = CHANNEL

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._team = settings.slack_team_id.strip()
        self._staff_users = {u.strip() for u in settings.slack_staff_users.split(",") if u.strip()}
        self._staff_channel = settings.slack_staff_channel.strip()
        self._media = (settings.data_dir / "media").resolve()
        base = settings.slack_api_base.strip()
        client_args: dict[str, Any] = {
            "token": settings.slack_bot_token.get_secret_value(),
            "timeout": max(1, round(settings.platform_timeout_s)),  # seconds per Web API call
        }
        if base:
            client_args["base_url"] = base if base.endswith("/") else base + "/"
        self.client = AsyncWebClient(**client_args)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            process_before_response=True,  # listeners only ack and schedule, so the answer to Slack is immediate
            name="roadie",
        )
        self._requests = AsyncSlackRequestHandler(self.app)
        self._handle: Handler | None = None
        self._people: People | None = None
        self._turns = BackgroundTurns(
            turns_at_once=TURNS_AT_ONCE_LLM if settings.uses_llm else TURNS_AT_ONCE_OFFLINE,
            grace_s=settings.shutdown_grace_s,
        )
        self._chores: set[asyncio.Task[None]] = set()
        self._pacer = Pacer(PER_CHANNEL_INTERVAL_S, OVERALL_PER_S)
        self._names: Lru[str, str] = Lru()  # user id → the name Slack shows ("" when they set none)
        self._look_up_names = True
        self.app.use(self._only_our_workspace)
        self.app.event("message")(self._on_message)
        self.app.event("app_mention")(self._on_mention)
        self.app.action(BUTTON_ACTION)(self._on_press)
        self.app.command(ANY_COMMAND)(self._on_command)

    # The WebhookChannel interface

    def install(self, app: FastAPI) -> None:
        """Add POST /slack/events (Events API, interactivity and slash commands) to `app`."""
        app.add_api_route("/slack/events", self._endpoint, methods=["POST"], include_in_schema=False)

    def attach(self, handle: Handler, people: People) -> None:
        """Compose with the core: verified messages go to `handle`; `people` knows who opted out."""
        self._handle = handle
        self._people = people

    async def start(self) -> None:
        """Nothing to open: bolt checks the token with auth.test on the first request."""
        log.info("slack: listening at /slack/events%s", f" for workspace {self._team}" if self._team else "")

    async def stop(self) -> None:
        """Let running turns and their answers finish (bounded), then stop."""
        await self._turns.drain()
        if self._chores:
            await asyncio.wait(set(self._chores), timeout=10.0)

    async def send(self, address: str, reply: Reply) -> None:
        """A proactive message to `address`: a user id (their DM) or channel id, optionally `channel:thread_ts`."""
        channel, _, thread = address.partition(":")
        if self._people is not None and await self._people.opted_out(CHANNEL, channel):
            raise SendRefused("this person said STOP on Slack")
        await self._deliver(Where(channel, thread), reply)

    async def _endpoint(self, request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:  # refused before it is read or verified
            return Response("Request body too large", status_code=413)
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > MAX_BODY_BYTES:
                return Response("Request body too large", status_code=413)
        if not request.headers.get("x-slack-request-timestamp", "").isdigit():  # unsigned: bolt would raise on it
            return Response("Missing or malformed Slack signature timestamp", status_code=401)
        request._body = bytes(body)  # what bolt reads next: Starlette keeps a read body here
        try:
            return await self._requests.handle(request)
        except (TypeError, ValueError, KeyError, AttributeError):  # bolt reads fields of odd shapes before verifying
            log.warning("slack: refused a malformed request body")
            return Response("Malformed Slack request", status_code=400)

    # Who is asking

    async def _only_our_workspace(
        self, context: AsyncBoltContext, body: dict[str, Any], resp: BoltResponse, next: Callable[[], Awaitable[Any]]
    ) -> BoltResponse:
        """Refuse (with a quiet 200, so Slack does not retry) anything from another workspace than ours."""
        if self._team and context.team_id != self._team and body.get("type") != "url_verification":
            log.warning("slack: refused a request from workspace %s", context.team_id)
            return BoltResponse(status=200, body="")
        await next()
        return resp

    def role_for(self, team: str | None, user_team: str | None, user: str, channel: str) -> Role:
        """Staff only inside our workspace and for an allow-listed user or in the staff channel; else traveller."""
        if not self._team or team != self._team or (user_team and user_team != self._team):
            return "traveller"
        if user in self._staff_users or (self._staff_channel and channel == self._staff_channel):
            return "staff"
        return "traveller"

    @staticmethod
    def _from_a_person(event: dict[str, Any], context: AsyncBoltContext) -> bool:
        """False for bots (Roadie included), edits, joins and other message subtypes."""
        user = event.get("user")
        return bool(user) and not event.get("subtype") and not event.get("bot_id") and user != context.bot_user_id

    # Listeners: each acknowledges at once and leaves the turn to the background

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext) -> None:
        if event.get("channel_type") != "im" or not self._from_a_person(event, context):
            return  # in channels Roadie answers @mentions only (they arrive as app_mention)
        thread = str(event.get("thread_ts") or "")
        self._start_turn(body, event, context, Where(str(event["channel"]), thread), in_group=False)

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext) -> None:
        if not self._from_a_person(event, context):
            return
        thread = str(event.get("thread_ts") or event.get("ts") or "")  # a top-level mention starts a thread
        self._start_turn(body, event, context, Where(str(event["channel"]), thread), in_group=True)

    def _start_turn(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext, where: Where, in_group: bool
    ) -> None:
        user = str(event["user"])
        text = slack_to_text(str(event.get("text") or ""), context.bot_user_id)
        user_team = event.get("user_team") or event.get("team")
        role = self.role_for(context.team_id, user_team, user, where.channel)
        key = ConversationKey(CHANNEL, chat_id=where.channel, user_id=user, thread_id=where.thread_ts)
        inbound = Inbound(key, text, message_id=str(body.get("event_id") or ""), role=role, in_group=in_group)
        self._run(inbound, where)

    async def _on_press(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        message = body.get("message") or {}
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        user = body.get("user") or {}
        user_id, ts = str(user.get("id") or ""), str(message.get("ts") or container.get("message_ts") or "")
        value = str(action.get("value") or "")
        if not channel or not user_id or not value:
            return
        vote = str(action.get("action_id", "")).startswith(f"{ACTION_PREFIX}vote_")
        label = str((action.get("text") or {}).get("text") or value)
        if message.get("blocks"):
            blocks = pressed(message["blocks"], label, user_id, vote)
            self._chore(self._update(channel, ts, str(message.get("text") or label), blocks))
        thread = str(message.get("thread_ts") or "")
        # One press per person per message (a double click is not a second answer); a vote may be changed.
        message_id = (
            f"vote:{channel}:{ts}:{user_id}:{action.get('action_ts', '')}"
            if vote
            else f"press:{channel}:{ts}:{user_id}"
        )
        role = self.role_for(context.team_id, user.get("team_id"), user_id, channel)
        key = ConversationKey(CHANNEL, chat_id=channel, user_id=user_id, thread_id=thread)
        name = str(user.get("name") or user.get("username") or "")
        inbound = Inbound(key, value, message_id, name, role, in_group=not channel.startswith("D"))
        self._run(inbound, Where(channel, thread))

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        channel, user_id = str(command.get("channel_id") or ""), str(command.get("user_id") or "")
        if not channel or not user_id:
            return
        role = self.role_for(context.team_id, None, user_id, channel)
        key = ConversationKey(CHANNEL, chat_id=channel, user_id=user_id)
        message_id = f"command:{command.get('trigger_id', '')}" if command.get("trigger_id") else ""
        text = slack_to_text(str(command.get("text") or ""), context.bot_user_id)
        name = str(command.get("user_name") or "")
        inbound = Inbound(key, text, message_id, name, role, in_group=not channel.startswith("D"))
        self._run(inbound, Where(channel, response_url=str(command.get("response_url") or "")))

    def _run(self, inbound: Inbound, where: Where) -> None:
        if self._handle is None:
            log.warning("slack: a message arrived before Roadie was ready and was dropped")
            return
        self._turns.run(self._named, inbound, partial(self._deliver, where))

    async def _named(self, inbound: Inbound) -> Reply | None:
        """The core's turn for `inbound`, with the person's Slack name (events and mentions carry only a user id)."""
        assert self._handle is not None
        name = await self.name_of(inbound.key.user_id)
        return await self._handle(replace(inbound, display_name=name) if name else inbound)

    async def name_of(self, user_id: str) -> str:
        """The name Slack shows for `user_id` (display name, else real name), or "" when it cannot be known.

        One users.info call per person, remembered; it needs the `users:read` scope, and without it
        Roadie stops asking and uses what the request itself carried (a slash command's user name).
        """
        known = self._names.get(user_id)
        if known is not None:
            return known
        if not self._look_up_names or not USER_ID.match(user_id):
            return ""
        try:
            info = await self.client.users_info(user=user_id)
        except SlackApiError as error:
            reason = error.response.get("error")
            if reason in NO_LOOKUPS:
                self._look_up_names = False
                log.warning("slack: users.info refused (%s); add the users:read scope to show people's names", reason)
            else:
                log.warning("slack: could not look up %s (%s)", user_id, reason)
            return ""
        person = info.get("user") or {}
        profile = person.get("profile") or {}
        name = str(profile.get("display_name") or profile.get("real_name") or person.get("real_name") or "").strip()
        self._names.put(user_id, name)
        return name

    def _chore(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    # Answers

    async def _deliver(self, where: Where, reply: Reply) -> None:
        for message in render_reply(reply):
            await self._post(where, message)
        if reply.image and is_uploaded(reply.image):
            await self._upload(where, reply.image)
        if reply.document and is_uploaded(reply.document):
            await self._upload(where, reply.document)

    async def _post(self, where: Where, message: SlackMessage) -> None:
        args: dict[str, Any] = {"channel": where.channel, "text": message.text, "blocks": message.blocks}
        if where.thread_ts:
            args["thread_ts"] = where.thread_ts
        await self._pacer.wait(where.channel)
        try:
            await self._call(where.channel, lambda: self.client.chat_postMessage(**args, unfurl_links=False))
        except SlackApiError as error:
            if error.response.get("error") not in NOT_A_MEMBER or not where.response_url:
                raise
            # A slash command where Roadie is not a member: answer the person privately through the command's hook.
            hook = AsyncWebhookClient(where.response_url)
            await hook.send(text=message.text, blocks=message.blocks, response_type="ephemeral")

    async def _update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        try:
            await self._pacer.wait(channel, interval=0.0)
            await self._call(channel, lambda: self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))
        except SlackApiError as error:
            log.warning("slack: could not mark the pressed button on %s: %s", channel, error.response.get("error"))

    async def _upload(self, where: Where, image: str) -> None:
        path = self._media_file(image)
        if path is None:
            log.warning("slack: no media file for %s", image)
            return
        data = await asyncio.to_thread(path.read_bytes)
        channel = where.channel
        if USER_ID.match(channel):  # files are shared into a conversation, so open the person's DM first
            opened = await self._call(channel, lambda: self.client.conversations_open(users=where.channel))
            channel = str(opened["channel"]["id"])
        await self._pacer.wait(where.channel)
        await self._call(
            where.channel,
            lambda: self.client.files_upload_v2(
                file=data,
                filename=path.name,
                title=path.stem.replace("-", " ").replace("_", " "),
                channel=channel,
                thread_ts=where.thread_ts or None,
            ),
        )

    def _media_file(self, image: str) -> Path | None:
        """The file behind a /media/ path, only if it really is inside {data_dir}/media."""
        relative = image.split("?", 1)[0].removeprefix("/").removeprefix("media/")
        path = (self._media / relative).resolve()
        return path if path.is_relative_to(self._media) and path.is_file() else None

    async def _call(self, channel: str, send: Callable[[], Awaitable[Any]]) -> Any:
        return await with_retry_after(send, retry_after, on_wait=lambda s: self._pacer.hold(channel, s))


def build_slack(settings: Settings) -> SlackChannel | str:
    """The Slack channel, or why it stays off (credentials missing, staff configured without a workspace)."""
    missing = [
        name
        for name, value in (
            ("ROADIE_SLACK_BOT_TOKEN", settings.slack_bot_token.get_secret_value()),
            ("ROADIE_SLACK_SIGNING_SECRET", settings.slack_signing_secret.get_secret_value()),
        )
        if not value.strip()
    ]
    if missing:
        return f"{' and '.join(missing)} not set"
    if (
        settings.slack_staff_users.strip() or settings.slack_staff_channel.strip()
    ) and not settings.slack_team_id.strip():
        return "staff is only granted inside your own workspace: set ROADIE_SLACK_TEAM_ID (T…) with the staff settings"
    return SlackChannel(settings)
