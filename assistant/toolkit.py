"""How a Roadie tool is declared: a typed function plus metadata (write, staff only, examples)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, tool

from assistant.context import TurnContext
from assistant.messages import Button
from assistant.observability import TOOL_ERRORS
from assistant.outage import UNREACHABLE_ANSWER, is_outage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolSpec:
    """What Roadie knows about a tool beyond its signature.

    `examples` are requests the offline planner learns to route to the tool;
    `write` tools change state and need the person's confirmation; `staff_only`
    tools are never registered for travellers.
    """

    write: bool = False
    staff_only: bool = False
    examples: tuple[str, ...] = ()
    summary: str = ""


@dataclass
class ToolAnswer:
    """A tool's result: Markdown text for the person (and the model), buttons, and structured data."""

    text: str
    buttons: list[Button] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    ok: bool = True

    def as_output(self) -> tuple[str, dict[str, Any]]:
        artifact = {
            "ok": self.ok,
            "buttons": [{"label": b.label, "value": b.value} for b in self.buttons],
            "data": self.data,
        }
        return self.text, artifact


class UserFacingError(Exception):
    """Bad input from a person: the answer is shown to them as it is, and nothing changes."""

    def __init__(self, text: str, buttons: Sequence[Button] = (), data: dict[str, Any] | None = None) -> None:
        super().__init__(text)
        self.answer = ToolAnswer(text, buttons=list(buttons), data=data or {}, ok=False)


def spec_of(t: BaseTool) -> ToolSpec:
    """The Roadie metadata of a tool (defaults for tools declared elsewhere)."""
    spec = (t.metadata or {}).get("roadie")
    return spec if isinstance(spec, ToolSpec) else ToolSpec()


def turn_context(runtime: ToolRuntime) -> TurnContext:
    """The verified caller and services for this turn."""
    context = runtime.context
    if not isinstance(context, TurnContext):
        raise RuntimeError("Roadie tools need a TurnContext: invoke the agent with context=...")
    return context


def roadie_tool(
    *,
    summary: str,
    examples: Sequence[str] = (),
    write: bool = False,
    staff_only: bool = False,
) -> Callable[[Callable[..., ToolAnswer]], BaseTool]:
    """Declare a tool: its docstring is what the model reads, `summary` is how Roadie lists it to people."""

    def decorate(fn: Callable[..., ToolAnswer]) -> BaseTool:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> tuple[str, dict[str, Any]]:
            try:
                return fn(*args, **kwargs).as_output()
            except UserFacingError as error:
                return error.answer.as_output()
            except Exception as error:
                TOOL_ERRORS.labels(tool=fn.__name__).inc()
                if is_outage(error):
                    log.warning("tool %s could not reach a store: %s", fn.__name__, type(error).__name__)
                    return ToolAnswer(UNREACHABLE_ANSWER, ok=False).as_output()
                log.exception("tool %s failed", fn.__name__)
                return ToolAnswer(
                    "Sorry, something went wrong on my side while doing that. Please try again in a moment.",
                    ok=False,
                ).as_output()

        built = tool(run, response_format="content_and_artifact", parse_docstring=True)
        built.metadata = {
            "roadie": ToolSpec(write=write, staff_only=staff_only, examples=tuple(examples), summary=summary)
        }
        return built

    return decorate
