"""The web chat: a static page at / and a JSON WebSocket at /ws/chat (frames as in DESIGN.md)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from assistant.messages import Button, ConversationKey, Inbound, Reply
from channels.base import Handler
from channels.render import markdown_to_html

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
SESSION = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_FRAME_BYTES = 16_384
MAX_WS_MESSAGE_BYTES = 64 * 1024  # uvicorn closes the socket (1009) on a bigger frame before it is read


def reply_frame(reply: Reply, reply_to: str | None = None) -> dict[str, Any]:
    """The server → client frame for a reply; `html` is the channel's rendering of the Markdown.

    `reply_to` is the id of the message frame it answers (absent on proactive messages).
    """
    frame: dict[str, Any] = {"type": "reply"} if reply_to is None else {"type": "reply", "reply_to": reply_to}
    return frame | {
        "text": reply.text,
        "html": markdown_to_html(reply.text),
        "buttons": [{"label": b.label, "value": b.value} for b in [*poll_buttons(reply), *reply.buttons]],
        "image": reply.image,
        "document": reply.document,
    }


def poll_buttons(reply: Reply) -> list[Button]:
    """A poll on the web chat: one button per option, answering as the neutral Poll says."""
    if reply.poll is None:
        return []
    return [
        Button(f"{n}. {option}", f"vote {reply.poll.poll_id} {n}")
        for n, option in enumerate(reply.poll.options, start=1)
    ]


class WebChannel:
    """Serves the chat page and turns WebSocket frames into Inbound messages for the core."""

    name = "web"

    def __init__(self) -> None:
        self._handle: Handler | None = None
        self._sockets: dict[str, WebSocket] = {}
        self.router = APIRouter()
        self.router.add_api_route("/", self._page, include_in_schema=False)
        self.router.add_api_websocket_route("/ws/chat", self._chat)

    def install(self, app: FastAPI) -> None:
        """Add the page, its assets and the WebSocket to `app`."""
        app.include_router(self.router)
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def attach(self, handle: Handler) -> None:
        """Compose with the core: every verified message goes to `handle`."""
        self._handle = handle

    async def _page(self) -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def send(self, address: str, reply: Reply) -> None:
        """Push a proactive reply to an open session (dropped when that page is closed)."""
        socket = self._sockets.get(address)
        if socket is not None:
            await socket.send_json(reply_frame(reply))

    async def _chat(self, socket: WebSocket) -> None:
        await socket.accept()
        session: str | None = None
        try:
            while True:
                raw = await socket.receive_text()
                frame, problem = self._parse(raw)
                if problem:
                    await socket.send_json({"type": "error", "message": problem})
                    continue
                assert frame is not None
                given = frame.get("session")
                if isinstance(given, str) and SESSION.match(given):
                    session = given
                    self._sockets[session] = socket
                if session is None:
                    await socket.send_json(
                        {"type": "error", "message": "Start with a message that carries your session id."}
                    )
                    continue
                text = frame.get("text") if frame["type"] == "message" else frame.get("value")
                if not isinstance(text, str):
                    await socket.send_json({"type": "error", "message": "A message needs some text."})
                    continue
                await self._answer(socket, session, text, frame.get("id"))
        except WebSocketDisconnect:
            pass
        finally:
            if session and self._sockets.get(session) is socket:
                del self._sockets[session]

    @staticmethod
    def _parse(raw: str) -> tuple[dict[str, Any] | None, str | None]:
        if len(raw.encode()) > MAX_FRAME_BYTES:
            return None, "That message is too long for me to read — please send something shorter."
        try:
            frame = json.loads(raw)
        except ValueError:
            return None, "I couldn't read that frame: it isn't valid JSON."
        if not isinstance(frame, dict) or frame.get("type") not in ("message", "button"):
            return None, 'Frames look like {"type": "message", "text": "...", "session": "..."}.'
        return frame, None

    async def _answer(self, socket: WebSocket, session: str, text: str, message_id: Any) -> None:
        if self._handle is None:
            await socket.send_json({"type": "error", "message": "Roadie is still starting — try again in a second."})
            return
        await socket.send_json({"type": "typing"})
        key = ConversationKey(channel="web", chat_id=session, user_id=session)
        given = isinstance(message_id, str) and 0 < len(message_id) <= 64
        mid = f"{session}:{message_id}" if given else ""
        # The page sends a message again after reconnecting when no answer came: it gets the first answer.
        reply = await self._handle(Inbound(key=key, text=text, message_id=mid, replayable=True))
        if reply is not None:
            await socket.send_json(reply_frame(reply, message_id if given else None))
