"""The offline planner packaged as a LangChain chat model that emits real tool calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import ConfigDict

from assistant.planner.core import PlannerCore


class OfflinePlannerModel(BaseChatModel):
    """A chat model with no LLM behind it: embedding routing, slot filling and templated answers."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    core: PlannerCore

    @property
    def _llm_type(self) -> str:
        return "roadie-offline-planner"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind Roadie tools: the planner routes among exactly these."""
        bound = tuple(t for t in tools if isinstance(t, BaseTool))
        return self.bind(roadie_tools=bound, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = list(kwargs.get("roadie_tools", ()))
        message = self.core.respond(messages, tools)
        return ChatResult(generations=[ChatGeneration(message=message)])
