"""A fake Twilio REST API (the Messages resource) that answers like Twilio and records every request it gets."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

MAX_BODY_CHARS = 1600


@dataclass(frozen=True)
class Received:
    """One POST to Messages.json as the fake saw it, with the status it answered."""

    status: int
    to: str
    from_: str
    body: str
    media_urls: tuple[str, ...]
    content_sid: str
    content_variables: str
    at: float = field(compare=False)
    sid: str = field(default_factory=lambda: "SM" + uuid.uuid4().hex, compare=False)


@dataclass(frozen=True)
class Failure:
    """An answer to give instead of 201 for the next message to `to`."""

    to: str
    status: int
    retry_after: str | None


class FakeTwilio:
    """Serves POST /2010-04-01/Accounts/{sid}/Messages.json with HTTP basic auth = (account sid, auth token)."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._failures: deque[Failure] = deque()
        self.app = FastAPI()
        self.app.add_api_route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"])
        self.app.add_api_route("/2010-04-01/Accounts/{sid}/Messages.json", self._list, methods=["GET"])

    @property
    def requests(self) -> list[Received]:
        """Every request, rejected ones included."""
        with self._lock:
            return list(self._received)

    @property
    def messages(self) -> list[Received]:
        """The messages Twilio accepted (201)."""
        return [r for r in self.requests if r.status == 201]

    def to(self, number: str) -> list[Received]:
        """Accepted messages to a WhatsApp number (bare "+44…" or "whatsapp:+44…")."""
        address = number if number.startswith("whatsapp:") else f"whatsapp:{number}"
        return [m for m in self.messages if m.to == address]

    def fail_next(self, to: str, status: int = 429, retry_after: str | None = None) -> None:
        """Answer the next message to `to` with `status` (and a Retry-After header when given), then accept again."""
        address = to if to.startswith("whatsapp:") else f"whatsapp:{to}"
        with self._lock:
            self._failures.append(Failure(address, status, retry_after))

    def _authorised(self, request: Request, sid: str) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid == sid and password == self.auth_token

    async def _create(self, sid: str, request: Request) -> JSONResponse:
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        one = dict(form)
        to, sender, body = one.get("To", ""), one.get("From", ""), one.get("Body", "")
        media = tuple(v for k, v in form if k == "MediaUrl")
        content_sid = one.get("ContentSid", "")
        authorised, failure = self._authorised(request, sid), None
        with self._lock:
            failure = next((f for f in self._failures if f.to == to), None) if authorised else None
            if failure is not None:
                self._failures.remove(failure)
        problem: tuple[int, int, str] | None = None
        if not authorised:
            problem = (401, 20003, "Authenticate")
        elif failure is not None:
            problem = (failure.status, 20429 if failure.status == 429 else 20500, "Too Many Requests")
        elif not to:
            problem = (400, 21604, "A 'To' phone number is required.")
        elif not (body or media or content_sid):
            problem = (400, 21619, "A text message body or media urls must be specified.")
        elif len(body) > MAX_BODY_CHARS:
            problem = (400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        variables = one.get("ContentVariables", "")
        status = problem[0] if problem else 201
        with self._lock:
            received = Received(status, to, sender, body, media, content_sid, variables, time.monotonic())
            self._received.append(received)
        if problem is not None:
            retry = failure.retry_after if failure is not None else None
            return _error(*problem, headers={"Retry-After": retry} if retry is not None else None)
        return JSONResponse(_resource(sid, received), status_code=201)

    async def _list(self, sid: str, request: Request) -> JSONResponse:
        """messages.list: what was accepted, newest first, as one page (handy when trying Roadie locally)."""
        if not self._authorised(request, sid):
            return _error(401, 20003, "Authenticate")
        messages = [_resource(sid, m) for m in reversed(self.messages)]
        uri = f"/2010-04-01/Accounts/{sid}/Messages.json"
        return JSONResponse(
            {"messages": messages, "page": 0, "page_size": len(messages), "first_page_uri": uri, "next_page_uri": None}
        )


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    payload = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    return JSONResponse({**payload, "status": status}, status_code=status, headers=headers)


def _resource(account: str, message: Received) -> dict[str, Any]:
    sid, to, sender, body, media = message.sid, message.to, message.from_, message.body, message.media_urls
    now = format_datetime(datetime.now(UTC), usegmt=True)
    return {
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": sender,
        "messaging_service_sid": None,
        "num_media": str(len(media)),
        "num_segments": "1",
        "price": None,
        "price_unit": None,
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json"},
        "to": to,
        "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
    }
