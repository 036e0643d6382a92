"""The offline planner's decisions: which tool to call with which arguments, or what to say instead."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool

from assistant.clock import Clock
from assistant.entities import EntityCache
from assistant.planner.group_slots import CANCEL_CUE, EXPENSE_CUE, IN_CUE, JOIN_CUE, OUT_CUE, SETTLE_CUE
from assistant.planner.metric_slots import METRICS_TOOL, metric_request
from assistant.planner.picks import TRIP_WORDS, listed_show, ordinal
from assistant.planner.price_slots import PRICE_TOOLS, bare_target, explicit, price_tool, unpriced, unwatched
from assistant.planner.router import GREETING, HELP, OUT_OF_SCOPE, THANKS, Router
from assistant.planner.scope import SHOW_HINTS, off_topic
from assistant.planner.shorthand import expand
from assistant.planner.slots import (
    BOOKINGS_CUE,
    CONVERSION,
    CREATE_GROUP_CUE,
    CURRENCY_CUE,
    DATE_SLOTS,
    DELETE_DATA_CUE,
    EXPORT_DATA_CUE,
    FILLER,
    FOLLOW_CUE,
    FOLLOWING_CUE,
    GUIDE_QUESTION,
    LIST_SLOTS,
    LOCATION_SLOTS,
    NEAR_ME,
    ONE_TRIP,
    TOUR_WORDS,
    TRIP_ASK,
    UNFOLLOW_CUE,
    WHATS_ON,
    SlotExtractor,
    Slots,
)
from assistant.toolkit import spec_of
from assistant.yesno import is_affirmative, is_negative
from knowledge.embeddings import Embedder

STATE_KEY = "roadie_plan"
BUTTONS_KEY = "roadie_buttons"
STARTERS = [
    {"label": "Coldplay in Europe", "value": "any Coldplay shows in Europe?"},
    {"label": "Taylor Swift's tour", "value": "show me the Taylor Swift tour"},
]
TOOL_CONFIDENCE = 0.35
CLEAR_LEAD = 0.25  # below TOOL_CONFIDENCE, a tool twice as likely as the runner-up is still a clear choice
OUT_OF_SCOPE_SURE = 0.5
RUNNER_UP = 0.1
WRITE_SURE = 0.5  # a write tool the router chose alone needs at least this probability, else Roadie asks
SHORT_MESSAGE = 4  # "Lisbon in May?" is a search however little it says
SEARCH_TOOL = "search_events"
QUESTIONS = {
    "artist": "Which artist do you mean?",
    "city": "Which city?",
}
PREFERENCES_TOOL = "set_preferences"
PLAN_TOOL = "plan_trip"
MULTI_TOOL = "plan_multi_event_trip"
KNOWLEDGE_TOOL = "ask_knowledge"
ALERT_SETTINGS = ("tour_alerts", "price_alerts", "reminders", "weekly", "quiet_hours")
PRONOUNS = {"she", "he", "they", "them", "her", "him", "their", "his"}
# The capabilities a greeting lists, in this order (the rest are named in one line, so the list stays short).
HEADLINE_TOOLS = (
    "search_events",
    "get_tour",
    "plan_trip",
    "plan_multi_event_trip",
    "follow_artist",
    "create_group",
    "forecast_price",
    "ask_knowledge",
    "query_metrics",
)
CARRY_FROM = {"search_events", "get_tour", "plan_trip", "forecast_price", "watch_price"}  # price questions follow these


@dataclass(frozen=True)
class ToolInfo:
    """What the planner needs to know about one bound tool."""

    name: str
    params: tuple[str, ...]
    required: tuple[str, ...]
    summary: str
    write: bool = False


def _tool_info(t: BaseTool) -> ToolInfo:
    schema = t.tool_call_schema.model_json_schema() if hasattr(t.tool_call_schema, "model_json_schema") else {}
    params = tuple(schema.get("properties", {}))
    spec = spec_of(t)
    return ToolInfo(t.name, params, tuple(schema.get("required", [])), spec.summary or t.name, spec.write)


def _takes(tool: ToolInfo, slots: set[str]) -> bool:
    """True when the tool has a parameter for every slot (a list parameter takes its single kind too)."""
    plural = {one: many for many, one in LIST_SLOTS.items()}
    return all(k in tool.params or plural.get(k) in tool.params for k in slots)


class PlannerCore:
    """Decides each step of a conversation from its messages; all its state lives in those messages."""

    def __init__(self, embedder: Embedder, entities: EntityCache, clock: Clock) -> None:
        self._embedder = embedder
        self._entities = entities
        self._clock = clock
        self._slots = SlotExtractor()
        self._routers: dict[tuple[str, ...], Router] = {}
        self._lock = threading.Lock()

    def router(self, tools: list[BaseTool]) -> Router:
        """The router trained for this set of tools (trained once, then reused)."""
        key = tuple(sorted(t.name for t in tools))
        with self._lock:
            if key not in self._routers:
                examples = {t.name: spec_of(t).examples for t in tools}
                if PLAN_TOOL in examples and MULTI_TOOL in examples:
                    # One trip or several shows is told by what is named, not by wording: route both as a trip.
                    examples[PLAN_TOOL] = (*examples[PLAN_TOOL], *examples.pop(MULTI_TOOL))
                self._routers[key] = Router(self._embedder, examples)
            return self._routers[key]

    def respond(self, messages: list[BaseMessage], tools: list[BaseTool]) -> AIMessage:
        """The next assistant message: tool calls for a new request, or the answer once tools ran."""
        if messages and isinstance(messages[-1], ToolMessage):
            return self._compose(messages)
        human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        if human is None:
            return self._capabilities(tools, intro="Hi! I'm Roadie.")
        return self._plan(str(human.content), messages, tools)

    def _compose(self, messages: list[BaseMessage]) -> AIMessage:
        results: list[str] = []
        for message in reversed(messages):
            if not isinstance(message, ToolMessage):
                break
            results.append(str(message.content))
        return AIMessage(content="\n\n".join(reversed(results)))

    def _previous_plan(self, messages: list[BaseMessage]) -> dict[str, Any]:
        """The last plan of this conversation, unless its tool refused the arguments (never carry those on)."""
        refused = False
        for message in reversed(messages[:-1]):
            if isinstance(message, ToolMessage) and isinstance(message.artifact, dict):
                refused = refused or message.artifact.get("ok") is False
            if isinstance(message, AIMessage) and STATE_KEY in message.additional_kwargs:
                plan = message.additional_kwargs[STATE_KEY]
                return plan if isinstance(plan, dict) and not refused else {}
        return {}

    @staticmethod
    def _last_results(messages: list[BaseMessage]) -> list[dict[str, Any]]:
        """The structured data of the tools that ran in the previous turn."""
        results: list[dict[str, Any]] = []
        for message in reversed(messages[:-1]):
            if isinstance(message, HumanMessage):
                break
            if isinstance(message, ToolMessage) and isinstance(message.artifact, dict):
                results.append(message.artifact.get("data") or {})
        return results

    def _answer_to_question(
        self, text: str, slots: Slots, messages: list[BaseMessage], infos: dict[str, ToolInfo]
    ) -> AIMessage | None:
        """A yes/no to a confirmation Roadie asked for, or the city it asked for, handled as the tool asked."""
        for data in self._last_results(messages):
            if data.get("quote") and "book_trip" in infos and is_affirmative(text):
                return self._call(infos["book_trip"], {"quote": data["quote"]}, {})  # "yes" to a quote: ask to book it
            awaiting = data.get("awaiting_confirmation")
            if isinstance(awaiting, dict) and awaiting.get("tool") in infos:
                if is_affirmative(text):
                    return self._call(infos[awaiting["tool"]], {**awaiting.get("args", {}), "confirm": True}, {})
                if is_negative(text):
                    return AIMessage(content="OK — I haven't changed anything. What would you like to do instead?")
            if data.get("needs") == "target_price" and data.get("tool") in infos:
                target = {k: v for k, v in slots.values.items() if k.startswith("target_")} or bare_target(text)
                if target:  # "under €120", answering "below what price?"
                    return self._call(infos[data["tool"]], {**data.get("args", {}), **target}, {})
            if data.get("needs") == "home_city":
                city = slots.values.get("city") or slots.values.get("home_city") or slots.values.get("origin")
                tool = data.get("tool")
                if city and tool in infos:
                    param = "origin" if "origin" in infos[tool].params else "near"
                    calls = [self._call(infos[tool], {**data.get("args", {}), param: city}, {})]
                    if PREFERENCES_TOOL in infos:
                        calls.insert(0, self._call(infos[PREFERENCES_TOOL], {"home_city": city}, {}))
                    return AIMessage(
                        content="",
                        tool_calls=[c for call in calls for c in call.tool_calls],
                        additional_kwargs=calls[-1].additional_kwargs,
                    )
        return None

    @staticmethod
    def _by_cue(label: str, text: str, slots: Slots, infos: dict[str, ToolInfo]) -> str:
        """Cues that settle the tool whatever the router guessed: "near me", tour words, "I live in", "unfollow"."""
        if CONVERSION.search(text):
            return OUT_OF_SCOPE  # converting money is not something Roadie does
        if "like" in slots.values and SEARCH_TOOL in infos:
            return SEARCH_TOOL  # "something like Arctic Monkeys": shows in that style
        if GUIDE_QUESTION.search(text) and KNOWLEDGE_TOOL in infos and "artist" not in slots.values:
            return KNOWLEDGE_TOOL  # "can I bring a bag into Wembley?", "what time is our flight?"
        if FOLLOWING_CUE.search(text) and "list_following" in infos and "artist" not in slots.values:
            return "list_following"  # "who do I follow again?"
        for cue, tool in ((DELETE_DATA_CUE, "delete_my_data"), (EXPORT_DATA_CUE, "export_my_data")):
            if cue.search(text) and tool in infos:
                return tool  # "borra mi cuenta y mis datos"
        if BOOKINGS_CUE.search(text) and "list_bookings" in infos and not CANCEL_CUE.search(text):
            return "list_bookings"  # "zeig mir meine Buchungen"
        if CREATE_GROUP_CUE.search(text) and "create_group" in infos:
            return "create_group"  # "…can you create a group for the Beyonce show so everyone can join?"
        if "home_city" in slots.values and "artist" in slots.values and TRIP_ASK.search(text):
            slots.values.setdefault("origin", slots.values.pop("home_city"))  # "we live in London, what'd it cost…"
        if PREFERENCES_TOOL in infos and (
            "home_city" in slots.values
            or ("currency" in slots.values and CURRENCY_CUE.search(text))
            or any(k in slots.values for k in ALERT_SETTINGS)
        ):
            return PREFERENCES_TOOL
        label = PlannerCore._one_or_several(label, text, slots, infos)
        if "artist" not in slots.values:
            if label == PLAN_TOOL and WHATS_ON.search(text) and SEARCH_TOOL in infos:
                return SEARCH_TOOL  # "I'm in Berlin next week, anything on?"
            return label
        if UNFOLLOW_CUE.search(text) and "unfollow_artist" in infos:
            return "unfollow_artist"
        if FOLLOW_CUE.search(text) and "follow_artist" in infos:
            return "follow_artist"
        if TRIP_ASK.search(text) and PLAN_TOOL in infos and any(k in slots.values for k in ("origin", "travellers")):
            return PlannerCore._one_or_several(PLAN_TOOL, text, slots, infos)  # "what's the damage for 2 from London"
        if "get_tour" in infos and (
            NEAR_ME.search(text)
            or (
                label in ("search_events", OUT_OF_SCOPE)
                and TOUR_WORDS.search(text)
                and not any(k in slots.values for k in LOCATION_SLOTS)
            )
        ):
            return "get_tour"
        return label

    @staticmethod
    def _group_cue(text: str, slots: Slots, infos: dict[str, ToolInfo]) -> str | None:
        """Group messages whose shape settles the tool: a vote, an amount paid, poll options, in or out."""
        values = slots.values
        for tool, given in (
            ("cast_vote", "poll" in values and "option" in values),
            ("add_expense", "amount" in values and EXPENSE_CUE.search(text)),
            ("settle_up", SETTLE_CUE.search(text) and "amount" not in values),
            ("create_poll", "options" in values),
            ("remove_member", "member" in values),
            (
                "join_group",
                IN_CUE.search(text)
                or (OUT_CUE.search(text) and not CANCEL_CUE.search(text))
                or ("code" in values and JOIN_CUE.search(text)),
            ),
        ):
            if given and tool in infos:
                return tool
        return None

    @staticmethod
    def _one_or_several(label: str, text: str, slots: Slots, infos: dict[str, ToolInfo]) -> str:
        """A trip to two or more named shows is one multi-show trip; a trip to one named show is not."""
        several = any(k in slots.values for k in LIST_SLOTS)
        if MULTI_TOOL in infos and (
            (several and (label == PLAN_TOOL or ONE_TRIP.search(text)))
            or (label == PLAN_TOOL and ONE_TRIP.search(text) and not PlannerCore._has_entities(slots))
        ):
            return MULTI_TOOL
        if label == MULTI_TOOL and not several and PLAN_TOOL in infos and PlannerCore._has_entities(slots):
            return PLAN_TOOL
        return label

    def _carry(self, tool: str, values: dict[str, Any], previous: dict[str, Any], text: str) -> dict[str, Any]:
        """What a trip request keeps from the conversation: the artist being discussed, and the trip being planned."""
        if tool not in (PLAN_TOOL, MULTI_TOOL) or not previous:
            return values
        carried = dict(values)
        before = previous.get("args", {})
        if "artist" not in carried and before.get("artist"):
            carried["artist"] = before["artist"]
        if previous.get("tool") == tool:
            if any(k in values for k in ("artist", *LOCATION_SLOTS)) and not any(k in values for k in DATE_SLOTS):
                before = {k: v for k, v in before.items() if k not in DATE_SLOTS}  # the dates were of the other show
            carried = self._merge(before, carried)
        elif previous.get("tool") in ("search_events", "get_tour") and not any(k in values for k in LOCATION_SLOTS):
            for key in (*LOCATION_SLOTS, *DATE_SLOTS):
                if key in before and key not in carried:
                    carried[key] = before[key]
        return carried

    def _price_call(self, tool: ToolInfo, slots: Slots, previous: dict[str, Any]) -> AIMessage:
        values = dict(slots.values)
        if tool.name == "forecast_price" or (tool.name == "watch_price" and "target_price" in values):
            values = self._carry_show(values, previous)
        return self._call(tool, values, {})

    @staticmethod
    def _carry_show(values: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
        """A price question that names no show is about the one just discussed ("will the tickets get cheaper?")."""
        if any(k in values for k in ("artist", *LOCATION_SLOTS)) or previous.get("tool") not in CARRY_FROM:
            return values
        before = previous.get("args", {})
        carried = ("artist", *LOCATION_SLOTS, *DATE_SLOTS, "origin", "item")  # "…drops under €150": the same flight
        return {**{k: before[k] for k in carried if before.get(k)}, **values}

    def _plan(self, text: str, messages: list[BaseMessage], tools: list[BaseTool]) -> AIMessage:
        infos = {t.name: _tool_info(t) for t in tools}
        text = expand(text)  # "rev by city last mnth"
        previous = self._previous_plan(messages)
        slots = self._slots.extract(text, self._entities.index(), self._clock.now().date())
        if off_topic(text, "artist" in slots.values) and not self._awaits_answer(messages):
            return self._declined(tools)  # "a rental car in Munich", "travel alerts for Germany"
        picked = self._picked(text, slots, messages, previous, infos)
        if picked is not None:
            return picked
        in_context = previous.get("tool") in CARRY_FROM
        priced = price_tool(text, slots.values, set(infos), in_context)  # "book now or wait?": price_slots.py
        if priced is not None and explicit(text, slots.values):  # a new request, not an answer to a question
            return self._price_call(infos[priced], slots, previous)
        answered = self._answer_to_question(text, slots, messages, infos)
        if answered is not None:
            return answered
        if priced is not None:
            return self._price_call(infos[priced], slots, previous)
        if METRICS_TOOL in infos:  # staff: metric words, periods and dimensions settle it (metric_slots.py)
            asked = metric_request(text, slots.mentions, previous, self._clock.now().astimezone(UTC).date())
            if asked is not None:
                return self._call(infos[METRICS_TOOL], asked, {})
        spoken_of = previous.get("args", {}).get("artist")
        if "artist" not in slots.values and spoken_of and PRONOUNS & set(text.lower().replace("?", " ").split()):
            slots.values["artist"] = spoken_of  # "when is she near me?" after talking about Taylor Swift
        intent = self.router(tools).classify(text) if tools else None

        pending = previous.get("pending")
        if pending and previous.get("tool") in infos:
            filled = self._fill_pending(previous, slots, text)
            if filled is not None:
                return self._call(infos[previous["tool"]], filled, previous_args={})

        if previous.get("tool") in infos and slots.is_bare:
            tool = self._follow_up_tool(previous["tool"], slots, infos)
            if tool is not None:
                return self._call(
                    infos[tool], self._merge(previous.get("args", {}), slots.values), previous.get("args", {})
                )

        grouped = self._group_cue(text, slots, infos)
        if grouped is not None:
            return self._call(infos[grouped], dict(slots.values), {})

        routed = intent.label if intent else OUT_OF_SCOPE
        label = self._by_cue(routed, text, slots, infos)
        # Words of the message, not only the router, chose the tool (a cue picks it even from "out of scope").
        settled = label in infos and (label != routed or self._by_cue(OUT_OF_SCOPE, text, slots, infos) == label)
        if unwatched(label, text, slots.values) and intent is not None:  # a watch needs watch words
            label = next((n for n, _ in intent.ranked[1:] if n not in PRICE_TOOLS), OUT_OF_SCOPE)
            settled = False
        if unpriced(label, text, slots.values, in_context):  # "will the price of bitcoin go up?"
            return self._capabilities(
                tools, intro="Sorry, that's not something I can help with — I only price Roadie's trips."
            )
        if label == OUT_OF_SCOPE and intent is not None and "artist" in slots.values:
            # An artist was named: a close second-choice tool beats "not something I can help with".
            second = next((name for name, p in intent.ranked[1:2] if name in infos and p >= 0.2), None)
            label = second or label
        confident = (
            settled
            or (
                intent is not None
                and (
                    intent.probability >= TOOL_CONFIDENCE
                    or (
                        not self._has_entities(slots)  # with names, an unsure request is looked up instead (below)
                        and intent.probability >= CLEAR_LEAD
                        and intent.probability >= 2 * next(iter(p for _, p in intent.ranked[1:2]), 0)
                    )
                )
            )
        )
        unsure_with_names = (
            label in infos and not confident and self._has_entities(slots) and self._names_a_show(text, slots)
        )
        if unsure_with_names and SEARCH_TOOL in infos and set(slots.values) <= set(infos[SEARCH_TOOL].params):
            label = SEARCH_TOOL  # unsure, but names were given: look them up rather than act
        cued = self._by_cue(label, text, slots, infos)
        if cued != label:
            label, confident = cued, cued in infos
        if label in infos and (confident or self._has_entities(slots)):
            if label != KNOWLEDGE_TOOL and not settled:  # the guides take the whole text; a cue's tool is meant
                label = self._tool_taking_slots(label, slots, infos, intent.ranked if intent else ())
            if label == SEARCH_TOOL and not settled and not self._names_a_show(text, slots):
                return self._declined(tools)  # "is London bigger than Paris?": places, but nothing about shows
            label = self._one_or_several(label, text, slots, infos)
            at_once = infos[label].write and "confirm" not in infos[label].params  # the rest ask for a yes first
            if at_once and not settled and intent is not None and intent.probability < WRITE_SURE:
                if self._has_entities(slots) and set(slots.values) <= set(infos[SEARCH_TOOL].params):
                    return self._call(infos[SEARCH_TOOL], dict(slots.values), {})  # unsure: look the names up
                return self._clarify(infos[label])  # an unsure guess must not change anything
            values = self._carry(label, dict(slots.values), previous, text)
            if "question" in infos[label].params:
                values["question"] = text  # a question for the guides is asked in the person's own words
            return self._call(infos[label], values, previous.get("args", {}))
        clearly_elsewhere = label == OUT_OF_SCOPE and intent is not None and intent.probability >= OUT_OF_SCOPE_SURE
        only_dates = not self._has_entities(slots) and not self._names_a_show(text, slots, dates=False)
        if (
            (self._has_entities(slots) or "date_from" in slots.values)
            and self._names_a_show(text, slots)
            and not (only_dates and not all(w in FILLER for w in slots.residual))  # "how are you today?"
            and SEARCH_TOOL in infos
            and label not in (THANKS, GREETING)
            and not clearly_elsewhere
        ):
            return self._call(infos[SEARCH_TOOL], dict(slots.values), previous.get("args", {}))
        if label == GREETING:
            return self._capabilities(tools, intro="Hi! I'm Roadie, your concert-travel assistant.")
        if label == THANKS and is_affirmative(text) and len(text.split()) <= 2:
            return AIMessage(content="There's nothing waiting for a yes right now — what would you like to do?")
        if label == THANKS:
            return AIMessage(content="You're welcome! Anything else — another show, another city?")
        if label == HELP:
            return self._capabilities(tools, intro="I'm Roadie, your concert-travel assistant.")
        return self._declined(tools)

    @staticmethod
    def _clarify(tool: ToolInfo) -> AIMessage:
        """A question instead of a guess: Roadie names what it thinks was meant and changes nothing."""
        return AIMessage(
            content=f"I'm not sure I got that. Did you want me to {tool.summary.split(': ', 1)[-1]}? "
            "Say it in a few more words and I'll do it — nothing has changed yet."
        )

    def _declined(self, tools: list[BaseTool]) -> AIMessage:
        return self._capabilities(
            tools,
            intro="Sorry, that's not something I can help with — I'm Roadie, I help with concerts and the trips around them.",
        )

    def _awaits_answer(self, messages: list[BaseMessage]) -> bool:
        """True when Roadie's last turn asked for a yes, a price or a city (the answer is read as such)."""
        return any(
            d.get("awaiting_confirmation") or d.get("needs") or d.get("quote") for d in self._last_results(messages)
        )

    def _picked(
        self, text: str, slots: Slots, messages: list[BaseMessage], previous: dict[str, Any], infos: dict[str, ToolInfo]
    ) -> AIMessage | None:
        """ "The second one", "book number 3": the show at that place in the list Roadie just gave."""
        position = ordinal(text)
        if position is None or self._has_entities(slots):
            return None
        show = listed_show(messages, position)
        if show is None:
            return None
        asked_which = isinstance(show, str)  # Roadie asked which show to plan the trip to; the button says it
        if isinstance(show, str):
            show = {
                k: v
                for k, v in self._slots.extract(show, self._entities.index(), self._clock.now().date()).values.items()
                if k in ("artist", *LOCATION_SLOTS, *DATE_SLOTS)
            }
        last = self._last_plan(messages)
        trip = (
            asked_which
            or last.get("tool") == PLAN_TOOL
            or TRIP_WORDS.search(text) is not None
            or any(k in slots.values for k in ("travellers", "origin"))
        )
        tool = PLAN_TOOL if trip and PLAN_TOOL in infos else SEARCH_TOOL
        if tool not in infos:
            return None
        kept = {k: v for k, v in last.get("args", {}).items() if k in ("travellers", "origin")} if trip else {}
        said = {k: v for k, v in slots.values.items() if k not in DATE_SLOTS}
        return self._call(infos[tool], {**kept, **show, **said}, {})

    @staticmethod
    def _last_plan(messages: list[BaseMessage]) -> dict[str, Any]:
        """The last plan of this conversation, whatever its tool answered."""
        for message in reversed(messages[:-1]):
            if isinstance(message, AIMessage) and isinstance(message.additional_kwargs.get(STATE_KEY), dict):
                plan: dict[str, Any] = message.additional_kwargs[STATE_KEY]
                return plan
        return {}

    @staticmethod
    def _tool_taking_slots(
        label: str, slots: Slots, infos: dict[str, ToolInfo], ranked: tuple[tuple[str, float], ...]
    ) -> str:
        """The routed tool, or a close runner-up (search first) when the routed one cannot use what was said."""
        said = set(slots.values) - set(LIST_SLOTS)
        if _takes(infos[label], said):
            return label
        runners = [name for name, p in ranked if name in infos and p >= RUNNER_UP]
        for name in [SEARCH_TOOL, *runners]:
            if name in infos and _takes(infos[name], said):
                return name
        return label

    @staticmethod
    def _names_a_show(text: str, slots: Slots, dates: bool = True) -> bool:
        """False for a longer message that names only places and nothing of shows ("is London bigger than Paris")."""
        keys = ("artist", "artists", "genre", "like", "travellers", "venue", *(DATE_SLOTS if dates else ()))
        if any(k in slots.values for k in keys):
            return True
        return (dates and len(text.split()) <= SHORT_MESSAGE) or SHOW_HINTS.search(text) is not None

    @staticmethod
    def _has_entities(slots: Slots) -> bool:
        return any(k in slots.values for k in ("artist", *LOCATION_SLOTS))

    def _follow_up_tool(self, previous_tool: str, slots: Slots, infos: dict[str, ToolInfo]) -> str | None:
        new = set(slots.values) - set(LIST_SLOTS)
        if _takes(infos[previous_tool], new):
            return previous_tool
        if SEARCH_TOOL in infos and _takes(infos[SEARCH_TOOL], new):
            return SEARCH_TOOL
        return None

    @staticmethod
    def _merge(previous: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        merged = dict(previous)
        if any(k in new for k in (*LOCATION_SLOTS, "cities")):
            for key in (*LOCATION_SLOTS, "cities"):
                merged.pop(key, None)
        if any(k in new for k in ("artist", "artists")):
            merged.pop("artists", None)
        if any(k in new for k in DATE_SLOTS):
            for key in DATE_SLOTS:
                merged.pop(key, None)
        merged.update(new)
        return merged

    def _fill_pending(self, previous: dict[str, Any], slots: Slots, text: str) -> dict[str, Any] | None:
        missing = previous["pending"]
        value = slots.values.get(missing)
        if value is None and missing == "artist" and len(text.split()) <= 4:
            value = text.strip(" ?!.")
        if value is None:
            return None
        return {**previous.get("args", {}), **slots.values, missing: value}

    def _call(self, tool: ToolInfo, values: dict[str, Any], previous_args: dict[str, Any]) -> AIMessage:
        values = {**{many: [values[one]] for many, one in LIST_SLOTS.items() if one in values}, **values}
        args = {p: values[p] for p in tool.params if p in values and values[p] not in (None, "")}
        for name in tool.required:
            if name not in args and previous_args.get(name):
                args[name] = previous_args[name]
        missing = [name for name in tool.required if name not in args]
        if missing:
            question = QUESTIONS.get(missing[0], f"What {missing[0].replace('_', ' ')} should I use?")
            return AIMessage(
                content=question,
                additional_kwargs={STATE_KEY: {"tool": tool.name, "args": args, "pending": missing[0]}},
            )
        return AIMessage(
            content="",
            tool_calls=[{"name": tool.name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}],
            additional_kwargs={STATE_KEY: {"tool": tool.name, "args": args}},
        )

    @staticmethod
    def _capabilities(tools: list[BaseTool], intro: str) -> AIMessage:
        """What Roadie does, in a few lines: the main things first, the rest named in one line."""
        rank = {name: i for i, name in enumerate(HEADLINE_TOOLS)}
        shown = sorted((t for t in tools if t.name in rank and spec_of(t).summary), key=lambda t: rank[t.name])
        lines = [intro, "Here's what I can do:"] + [
            f"- {spec_of(t).summary[0].upper()}{spec_of(t).summary[1:]}" for t in shown
        ]
        if len(tools) > len(shown):
            lines.append("- …and your bookings, group polls and expenses, price watches and alert settings — just ask")
        lines.append('Try: "any Coldplay shows in Europe?" or "show me the Taylor Swift tour".')
        return AIMessage(content="\n".join(lines), additional_kwargs={BUTTONS_KEY: STARTERS})
