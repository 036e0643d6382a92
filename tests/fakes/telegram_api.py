"""A fake Telegram Bot API: POST /bot{token}/{method} answered like Telegram, with every call recorded.

It checks what real Telegram checks where our tests depend on it (the token, HTML that Telegram can
parse, the 4096/1024 character limits, 64-byte callback data), serves queued updates to getUpdates,
and can answer the next call of a method with an error (a 429 with retry_after, for instance).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote"}
ALLOWED_TAGS |= {"tg-spoiler", "span", "tg-emoji"}
RAW_STRING_FIELDS = {"text", "caption", "question", "callback_query_id", "url", "secret_token", "parse_mode", "photo"}


@dataclass(frozen=True)
class Call:
    """One Bot API request as the fake saw it: the method, its decoded parameters, uploaded files, the answer."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]]
    status: int
    at: float = field(compare=False)

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclass(frozen=True)
class Failure:
    """The answer to give to the next call of `method` instead of success."""

    method: str
    status: int
    description: str
    retry_after: int | None


class HtmlChecker(HTMLParser):
    """Parses Telegram HTML the way Telegram refuses it: unknown tags and unbalanced tags are errors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problem = ""
        self.visible: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problem = self.problem or f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problem = self.problem or f'Unexpected end tag "{tag}"'
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.visible.append(data)


def parse_html(text: str) -> tuple[str, str]:
    """The visible text of Telegram HTML, and what Telegram would object to ("" when it is fine)."""
    checker = HtmlChecker()
    checker.feed(text)
    checker.close()
    problem = checker.problem
    if not problem and checker.stack:
        problem = f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    return "".join(checker.visible), problem


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram:
    """Serves the Bot API methods Roadie uses for one bot token, and remembers every call."""

    def __init__(self, token: str, username: str = "roadie_test_bot") -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._failures: deque[Failure] = deque()
        self._updates: deque[dict[str, Any]] = deque()
        self._ids = itertools.count(1000)
        self.polls: dict[str, dict[str, Any]] = {}
        self._poll_chats: dict[str, int] = {}
        self._poll_messages: dict[tuple[int, int], str] = {}  # (chat id, message id) → poll id
        self.app = FastAPI()
        self.app.add_api_route("/bot{token}/{method}", self._api, methods=["GET", "POST"])
        self.app.add_api_route("/calls", self._list_calls, methods=["GET"])

    # What the tests look at.

    @property
    def calls(self) -> list[Call]:
        """Every call, refused ones included, in arrival order."""
        with self._lock:
            return list(self._calls)

    def called(self, method: str, chat_id: int | None = None) -> list[Call]:
        """The successful calls of `method` (to `chat_id` when given)."""
        return [
            c
            for c in self.calls
            if c.method == method and c.status == 200 and (chat_id is None or c.get("chat_id") == chat_id)
        ]

    def sent(self, chat_id: int) -> list[Call]:
        """Messages, photos and polls that reached `chat_id`."""
        return [
            c for c in self.calls if c.status == 200 and c.method.startswith("send") and c.get("chat_id") == chat_id
        ]

    def polls_in(self, chat_id: int) -> list[dict[str, Any]]:
        """The polls sent to `chat_id` (as Telegram answered sendPoll, with their Telegram poll ids), oldest first."""
        with self._lock:
            return [self.polls[p] for p, chat in self._poll_chats.items() if chat == chat_id]

    def poll_message(self, poll_id: str) -> int:
        """The message id of the native poll `poll_id` (what stopPoll names it by)."""
        with self._lock:
            return next(message for (_, message), poll in self._poll_messages.items() if poll == poll_id)

    def wait_for(self, method: str, count: int = 1, chat_id: int | None = None, timeout_s: float = 30.0) -> list[Call]:
        """Block until `count` successful calls of `method` arrived (bounded by `timeout_s`), and return them."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.called(method, chat_id)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        return self.called(method, chat_id)

    def fail_next(self, method: str, status: int = 429, description: str = "", retry_after: int | None = None) -> None:
        """Answer the next call of `method` with an error, then succeed again."""
        if status == 429 and not description:
            description = f"Too Many Requests: retry after {retry_after or 1}"
        with self._lock:
            self._failures.append(Failure(method, status, description, retry_after))

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (long polling)."""
        with self._lock:
            self._updates.append(update)

    async def _list_calls(self) -> list[dict[str, Any]]:
        """GET /calls: what Roadie asked of the Bot API so far (for trying Roadie by hand against the fake)."""
        return [{"method": c.method, "status": c.status, "params": c.params} for c in self.calls]

    # The Bot API.

    async def _api(self, token: str, method: str, request: Request) -> JSONResponse:
        params, files = await self._decode(request)
        if token != self.token:
            return self._record(
                method, params, files, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        with self._lock:
            failure = next((f for f in self._failures if f.method == method), None)
            if failure is not None:
                self._failures.remove(failure)
        if failure is not None:
            body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return self._record(method, params, files, failure.status, body)
        if method == "getUpdates":
            return self._record(method, params, {}, 200, {"ok": True, "result": await self._get_updates(params)})
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._record(
                method, params, files, 404, {"ok": False, "error_code": 404, "description": "Not Found"}
            )
        problem = self._problem(method, params)
        if problem:
            return self._record(method, params, files, 400, {"ok": False, "error_code": 400, "description": problem})
        return self._record(method, params, files, 200, {"ok": True, "result": handler(params, files)})

    def _record(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]], status: int, body: Any
    ) -> JSONResponse:
        with self._lock:
            self._calls.append(Call(method, params, files, status, time.monotonic()))
        return JSONResponse(body, status_code=status)

    @staticmethod
    async def _decode(request: Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        """Parameters from a JSON, form-urlencoded or multipart body (aiogram sends forms; files as multipart)."""
        raw = await request.body()
        kind = request.headers.get("content-type", "")
        fields: dict[str, str] = dict(request.query_params)
        files: dict[str, tuple[str, bytes]] = {}
        if kind.startswith("application/json"):
            return (json.loads(raw) if raw else {}), files
        if kind.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {kind}\r\n\r\n".encode() + raw)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                filename = part.get_filename()
                if filename is not None:
                    files[str(name)] = (filename, bytes(payload))
                else:
                    fields[str(name)] = bytes(payload).decode()
        elif raw:
            fields.update(parse_qsl(raw.decode(), keep_blank_values=True))
        params: dict[str, Any] = {}
        for key, value in fields.items():
            if key in RAW_STRING_FIELDS:
                params[key] = value
                continue
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        return params, files

    def _problem(self, method: str, params: dict[str, Any]) -> str:
        """The Bad Request description Telegram would give, or ""."""
        text_field, limit = ("caption", 1024) if "caption" in params else ("text", 4096)
        if method == "sendMessage" and not str(params.get("text", "")).strip():
            return "Bad Request: message text is empty"
        if text_field in params:
            visible = str(params[text_field])
            if params.get("parse_mode") == "HTML":
                visible, problem = parse_html(visible)
                if problem:
                    return f"Bad Request: can't parse entities: {problem}"
            if utf16_len(visible) > limit:
                return (
                    "Bad Request: message caption is too long"
                    if text_field == "caption"
                    else "Bad Request: message is too long"
                )
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if len(str(button.get("callback_data", "")).encode()) > 64:
                        return "Bad Request: BUTTON_DATA_INVALID"
        if method == "sendPoll" and not 2 <= len(params.get("options", [])) <= 12:
            return "Bad Request: poll must have 2-12 options"
        if method == "stopPoll":
            poll = self._poll_at(params)
            if poll is None:
                return "Bad Request: message with poll to stop not found"
            if poll["is_closed"]:
                return "Bad Request: poll has already been closed"
        return ""

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.5)
        while True:
            with self._lock:
                while self._updates and self._updates[0]["update_id"] < offset:
                    self._updates.popleft()
                ready = list(self._updates)
            if ready or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.05)

    # Answers, shaped like Telegram's so aiogram can validate them.

    def _me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Roadie", "username": self.username}

    def _message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = params["chat_id"]
        chat: dict[str, Any] = {"id": chat_id, "type": "private" if int(chat_id) > 0 else "supergroup"}
        if int(chat_id) < 0:
            chat["title"] = "Roadie test group"
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self._me(),
            **content,
        }
        if params.get("message_thread_id"):
            message["message_thread_id"] = params["message_thread_id"]
            message["is_topic_message"] = True
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _m_getMe(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        return self._me()

    def _m_setWebhook(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> bool:
        return True

    def _m_deleteWebhook(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> bool:
        return True

    def _m_sendMessage(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        visible = parse_html(params["text"])[0] if params.get("parse_mode") == "HTML" else params["text"]
        return self._message(params, text=visible)

    def _m_sendPhoto(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        sizes = [{"file_id": f"photo-{next(self._ids)}", "file_unique_id": "u1", "width": 800, "height": 600}]
        content: dict[str, Any] = {"photo": sizes}
        if params.get("caption"):
            content["caption"] = (
                parse_html(params["caption"])[0] if params.get("parse_mode") == "HTML" else params["caption"]
            )
        return self._message(params, **content)

    def _m_sendDocument(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        name, data = files.get("document", ("", b""))
        document = {
            "file_id": f"doc-{next(self._ids)}",
            "file_unique_id": "d1",
            "file_name": name,
            "file_size": len(data),
        }
        return self._message(params, document=document)

    def _m_sendPoll(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        options = [o if isinstance(o, str) else o["text"] for o in params["options"]]
        poll = {
            "id": f"tg-poll-{next(self._ids)}",
            "question": params["question"],
            "options": [{"persistent_id": str(n), "text": o, "voter_count": 0} for n, o in enumerate(options)],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": params.get("is_anonymous", True),
            "type": params.get("type", "regular"),
            "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
            "allows_revoting": bool(params.get("allows_revoting", False)),
            "members_only": False,
        }
        message = self._message(params, poll=poll)
        with self._lock:
            self.polls[poll["id"]] = poll
            self._poll_chats[poll["id"]] = int(params["chat_id"])
            self._poll_messages[(int(params["chat_id"]), message["message_id"])] = poll["id"]
        return message

    def _poll_at(self, params: dict[str, Any]) -> dict[str, Any] | None:
        key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        with self._lock:
            return self.polls.get(self._poll_messages.get(key, ""))

    def _m_stopPoll(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        poll = self._poll_at(params)
        assert poll is not None  # _problem refused the others
        with self._lock:
            poll["is_closed"] = True
            return dict(poll)

    def _m_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> bool:
        return True

    def _m_editMessageReplyMarkup(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        return self._message(params, text="(edited)")

    def _m_sendChatAction(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> bool:
        return True
