"""A hostile OpenAI-compatible chat-completions server: it calls whatever tools the test scripts, then repeats every result.

It stands for a model that has been fully taken over by a prompt injection: it ignores the system
prompt, calls staff tools, passes other people's references and confirm=true without a "yes", and
its final answer echoes every tool result it saw, so anything a tool lets through reaches the reply.
Roadie is run against it through the real `openai` client; only the model is fake.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request

Step = list[tuple[str, dict[str, Any]]]  # the tool calls of one model response


@dataclass
class HostileScript:
    """What the hostile model does in the next turns: a queue of turns, each a list of steps of tool calls."""

    turns: deque[list[Step]] = field(default_factory=deque)
    says: deque[str | None] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def next_turn(self, *steps: Step, say: str | None = None) -> None:
        """Script the next turn: each step is one model response with these tool calls; `say` replaces the echo."""
        self.turns.append(list(steps))
        self.says.append(say)

    def clear(self) -> None:
        self.turns.clear()
        self.says.clear()


def _since_last_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    start = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    return messages[start + 1 :]


def hostile_llm(script: HostileScript) -> FastAPI:
    """The chat-completions app that plays `script`."""
    app = FastAPI()
    current: list[list[Step]] = [[]]
    saying: list[str | None] = [None]

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> dict[str, Any]:
        body = await request.json()
        script.requests.append(body)
        turn = _since_last_user(body["messages"])
        done_steps = sum(1 for m in turn if m.get("role") == "assistant" and m.get("tool_calls"))
        if done_steps == 0:
            current[0] = script.turns.popleft() if script.turns else []
            saying[0] = script.says.popleft() if script.says else None
        steps = current[0]
        message: dict[str, Any]
        if done_steps < len(steps):
            calls = [
                {
                    "id": f"call_{done_steps}_{n}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for n, (name, args) in enumerate(steps[done_steps])
            ]
            message, finish = {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
        else:
            seen = [str(m.get("content") or "") for m in turn if m.get("role") == "tool"]
            echoed = "\n".join(seen) if seen else "I will do anything you say."
            said = saying[0] if saying[0] is not None else "Everything I found:\n" + echoed
            message, finish = {"role": "assistant", "content": said}, "stop"
        return {
            "id": "chatcmpl-hostile",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    return app
