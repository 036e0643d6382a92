"""A fake Slack on 127.0.0.1: the Web API methods Roadie calls, answered like Slack and recorded, plus signed requests.

`FakeSlackApi().app` is served with tests/servers.py; point Roadie at it with
`ROADIE_SLACK_API_BASE={base}/api/`. The helpers below build what Slack sends to Roadie's
/slack/events (event callbacks, button presses, slash commands), signed like Slack signs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

TOKEN = "xoxb-roadie-test"
SIGNING_SECRET = "roadie-signing-secret"
TEAM = "T0ROADIE"
BOT_USER = "UROADIEBOT"
BOT_ID = "BROADIE"


@dataclass(frozen=True)
class Call:
    """One request the fake received: the Web API method (or `upload` / `response_url`) and its arguments."""

    method: str
    args: dict[str, Any]
    at: float
    authorized: bool = True
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeSlackApi:
    """Answers chat.postMessage, chat.update, auth.test, users.info and the file-upload methods; records every call.

    Set `delays[method] = seconds` to answer slowly, `rate_limited[method] = n` to answer the next
    n calls with HTTP 429 and `Retry-After: retry_after`, and add channel ids to `not_in_channel`
    to refuse posting there (as Slack does when the bot is not a member). `names` holds people's
    display names for users.info (someone not in it has set none, as many people have not);
    `errors[method] = "missing_scope"` answers every call of `method` with that error.
    """

    token: str = TOKEN
    team: str = TEAM
    bot_user: str = BOT_USER
    calls: list[Call] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    rate_limited: dict[str, int] = field(default_factory=dict)
    retry_after: int = 1
    not_in_channel: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self.app = FastAPI(title="fake Slack Web API")
        self.app.add_api_route("/api/{method}", self._api, methods=["GET", "POST"])
        self.app.add_api_route("/upload/{file_id}", self._upload, methods=["POST"])
        self.app.add_api_route("/response/{hook}", self._response_url, methods=["POST"])

    # What tests read

    def calls_to(self, method: str, channel: str | None = None) -> list[Call]:
        """The authorized calls to `method` (only those for `channel` when given), oldest first."""
        return [
            c
            for c in list(self.calls)
            if c.method == method
            and c.authorized
            and (channel is None or channel in (c.args.get("channel"), c.args.get("channel_id")))
        ]

    def to(self, method: str, channel: str | None = None) -> list[dict[str, Any]]:
        """Arguments of the authorized calls to `method` (only those for `channel` when given), oldest first."""
        return [c.args for c in self.calls_to(method, channel)]

    def wait_for(self, method: str, count: int = 1, channel: str | None = None, timeout: float = 20.0) -> list[Any]:
        """Block until `count` calls to `method` arrived (bounded by `timeout`); returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(method, channel)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        found = self.to(method, channel)
        raise AssertionError(f"expected {count} {method} calls for {channel or 'any channel'}, got {len(found)}")

    def posted(self, channel: str, count: int = 1) -> list[tuple[str, dict[str, Any]]]:
        """Wait for `count` messages Slack accepted in `channel`; (their ts, their arguments), oldest first."""
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            accepted = [
                (c.answer["ts"], c.args) for c in self.calls_to("chat.postMessage", channel) if c.answer.get("ok")
            ]
            if len(accepted) >= count:
                return accepted
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages accepted in {channel}")

    def texts(self, channel: str) -> list[str]:
        """The mrkdwn of every message posted to `channel`, in order (all section blocks joined)."""
        return [section_text(args) for args in self.to("chat.postMessage", channel)]

    # The Web API

    async def _api(self, method: str, request: Request) -> Response:
        args = await _arguments(request)
        authorized = request.headers.get("authorization", "") == f"Bearer {self.token}"
        call = Call(method, args, time.monotonic(), authorized)
        self.calls.append(call)
        if not authorized:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        with self._lock:
            limited = self.rate_limited.get(method, 0)
            if limited:
                self.rate_limited[method] = limited - 1
        if limited:
            headers = {"Retry-After": str(self.retry_after)}
            return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429, headers=headers)
        if method in self.errors:
            return JSONResponse({"ok": False, "error": self.errors[method]})
        delay = self.delays.get(method, 0.0)
        if delay:
            await asyncio.sleep(delay)
        call.answer.update(self._answer(method, args, str(request.base_url).rstrip("/")))
        return JSONResponse(call.answer)

    def _answer(self, method: str, args: dict[str, Any], base: str) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://roadie-hq.slack.com/",
                "team": "Roadie HQ",
                "user": "roadie",
                "team_id": self.team,
                "user_id": self.bot_user,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            channel = str(args.get("channel", ""))
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            if channel in self.not_in_channel:
                return {"ok": False, "error": "not_in_channel"}
            ts = f"1790000000.{next(self._ts):06d}"
            message = {"type": "message", "user": self.bot_user, "bot_id": BOT_ID, "ts": ts, "text": args.get("text")}
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "users.info":
            user = str(args.get("user", ""))
            if not user.startswith(("U", "W")):
                return {"ok": False, "error": "user_not_found"}
            name = self.names.get(user, "")
            profile = {"display_name": name, "real_name": name, "team": self.team}
            return {"ok": True, "user": {"id": user, "team_id": self.team, "name": user.lower(), "profile": profile}}
        if method == "conversations.open":
            users = str(args.get("users", ""))
            return (
                {"ok": True, "channel": {"id": "D" + users.split(",")[0]}}
                if users
                else {"ok": False, "error": "no_user"}
            )
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts"), "text": args.get("text")}
        if method == "files.getUploadURLExternal":
            file_id = "F" + uuid.uuid4().hex[:10].upper()
            return {"ok": True, "upload_url": f"{base}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = args.get("files")
            listed = json.loads(files) if isinstance(files, str) else files or []
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in listed]}
        return {"ok": False, "error": "unknown_method"}

    async def _upload(self, file_id: str, request: Request) -> Response:
        body = await request.body()
        self.uploads[file_id] = body
        self.calls.append(Call("upload", {"file_id": file_id, "bytes": len(body)}, time.monotonic()))
        return Response(f"OK - {len(body)}", media_type="text/plain")

    async def _response_url(self, hook: str, request: Request) -> Response:
        args = json.loads(await request.body() or b"{}")
        self.calls.append(Call("response_url", {"hook": hook, **args}, time.monotonic()))
        return Response("ok", media_type="text/plain")


async def _arguments(request: Request) -> dict[str, Any]:
    """Slack methods take query parameters, a form or a JSON body; all land in one dict."""
    args: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return args
    if request.headers.get("content-type", "").startswith("application/json"):
        loaded = json.loads(body)
        if isinstance(loaded, dict):
            args.update(loaded)
    else:
        args.update(parse_qsl(body.decode()))
    for key in ("blocks", "attachments"):
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args


def section_text(args: dict[str, Any]) -> str:
    """All mrkdwn section text of a posted message, joined by newlines."""
    blocks = args.get("blocks") or []
    return "\n".join(b["text"]["text"] for b in blocks if b.get("type") == "section")


def buttons(args: dict[str, Any]) -> list[dict[str, Any]]:
    """The button elements of a posted message, in order."""
    return [e for b in args.get("blocks") or [] if b.get("type") == "actions" for e in b["elements"]]


# What Slack sends to Roadie


def signed(
    body: bytes, content_type: str, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers Slack sends with `body`: the v0 HMAC-SHA256 signature of `v0:{timestamp}:{body}`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


@dataclass(frozen=True)
class Delivery:
    """One request to /slack/events, ready to POST (sign it at send time with `headers()`)."""

    body: bytes
    content_type: str
    event_id: str = ""

    def headers(self, secret: str = SIGNING_SECRET, timestamp: int | None = None, retry: int = 0) -> dict[str, str]:
        """Signed headers; `retry` > 0 adds Slack's redelivery headers."""
        headers = signed(self.body, self.content_type, secret, timestamp)
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return headers


def event_callback(event: dict[str, Any], team: str = TEAM, event_id: str | None = None) -> Delivery:
    """An Events API delivery wrapping `event`."""
    event_id = event_id or "Ev" + uuid.uuid4().hex[:12].upper()
    body = {
        "token": "legacy-verification-token",
        "team_id": team,
        "api_app_id": "AROADIE",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team, "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": False}],
    }
    return Delivery(json.dumps(body).encode(), "application/json", event_id)


def _ts() -> str:
    return f"{time.time():.6f}"


def dm(user: str, text: str, channel: str | None = None, team: str = TEAM, **extra: Any) -> Delivery:
    """A direct message to Roadie (message.im)."""
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": channel or "D" + user,
        "user": user,
        "text": text,
        "ts": _ts(),
        **extra,
    }
    return event_callback(event, team)


def channel_message(user: str, channel: str, text: str, **extra: Any) -> Delivery:
    """A message in a channel (message.channels), e.g. one that does not mention Roadie."""
    event = {"type": "message", "channel_type": "channel", "channel": channel, "user": user, "text": text, **extra}
    return event_callback({"ts": _ts(), **event})


def mention(user: str, channel: str, text: str, thread_ts: str | None = None, ts: str | None = None) -> Delivery:
    """An app_mention in a channel: `text` gets Roadie's <@…> in front, as Slack writes it."""
    event = {
        "type": "app_mention",
        "channel": channel,
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts or _ts(),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event_callback(event)


def press(user: str, posted: dict[str, Any], ts: str, value: str, team: str = TEAM) -> Delivery:
    """A block_actions payload: `user` presses the button with `value` on the message Roadie posted (its args)."""
    block, element = next(
        (b, e)
        for b in posted.get("blocks") or []
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["value"] == value
    )
    channel = str(posted["channel"])
    message = {"type": "message", "ts": ts, "text": posted.get("text"), "blocks": posted.get("blocks")}
    if posted.get("thread_ts"):
        message["thread_ts"] = posted["thread_ts"]
    payload = {
        "type": "block_actions",
        "team": {"id": team, "domain": "roadie-hq"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "api_app_id": "AROADIE",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:8]}",
        "channel": {"id": channel, "name": "directmessage" if channel.startswith("D") else "roadie"},
        "message": message,
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [
            {
                "type": "button",
                "block_id": block.get("block_id", ""),
                "action_id": element["action_id"],
                "text": element["text"],
                "value": element["value"],
                "action_ts": _ts(),
            }
        ],
    }
    return Delivery(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")


def slash(user: str, channel: str, text: str, response_url: str = "http://127.0.0.1:9/unused") -> Delivery:
    """The /roadie slash command, as Slack posts it (a form)."""
    form = {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "team_domain": "roadie-hq",
        "channel_id": channel,
        "channel_name": "directmessage" if channel.startswith("D") else "roadie",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/roadie",
        "text": text,
        "api_app_id": "AROADIE",
        "response_url": response_url,
        "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:8]}",
    }
    return Delivery(urlencode(form).encode(), "application/x-www-form-urlencoded")
