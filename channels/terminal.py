"""The terminal channel: `python main.py chat`, interactive or one message per line from a pipe."""

from __future__ import annotations

import asyncio
import sys

from assistant.messages import ConversationKey, Inbound, Reply, Role
from channels.base import Handler
from channels.render import plain_with_options


async def run_terminal_chat(handle: Handler, user: str = "you", role: Role = "traveller") -> None:
    """Talk to Roadie on stdin/stdout; a number answers with that button of the last reply."""
    interactive = sys.stdin.isatty()
    key = ConversationKey(channel="terminal", chat_id=user, user_id=user)
    last: Reply | None = None
    if interactive:
        print("Roadie here — ask me about concerts and trips. Ctrl-D to leave.")
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            break
        text = line.rstrip("\n")
        if not text.strip() and not interactive:
            continue
        if last and text.strip().isdigit() and 1 <= int(text.strip()) <= len(last.buttons):
            text = last.buttons[int(text.strip()) - 1].value
        reply = await handle(Inbound(key=key, text=text, display_name=user, role=role))
        if reply is None:
            continue
        last = reply
        print(("roadie> " if interactive else "") + plain_with_options(reply), flush=True)
        if not interactive:
            print(flush=True)
