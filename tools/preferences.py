"""A traveller's preferences: home city, currency, usual party size, budget, alerts and the fan community."""

from __future__ import annotations

import re
from typing import Any

from langchain.tools import ToolRuntime

from assistant.messages import Button
from assistant.money import RATES_PER_EUR, format_money
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from tools.common import person, resolve

CURRENCY_NAMES = {
    "euro": "EUR",
    "euros": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "sterling": "GBP",
    "dollar": "USD",
    "dollars": "USD",
    "us dollars": "USD",
    "franc": "CHF",
    "francs": "CHF",
    "yen": "JPY",
    "won": "KRW",
}
MAX_TRAVELLERS = 100


def currency_code(value: str) -> str:
    """An ISO currency code from "GBP", "pounds", "£"…; raises an answer listing what Roadie supports."""
    text = value.strip().lower()
    code = {"€": "EUR", "£": "GBP", "$": "USD", "¥": "JPY"}.get(text) or CURRENCY_NAMES.get(text) or text.upper()
    if code not in RATES_PER_EUR:
        raise UserFacingError(
            f"I can't show prices in **{value}**. I can use: " + ", ".join(sorted(RATES_PER_EUR)) + "."
        )
    return code


def quiet_window(text: str) -> tuple[int, int]:
    """Quiet hours as people write them ("22-8", "23:00 to 07:00") as a start and end hour."""
    hours = [int(h) for h in re.findall(r"\b(\d{1,2})(?::00)?\b", text)]
    if len(hours) != 2 or not all(0 <= h <= 23 for h in hours) or hours[0] == hours[1]:
        raise UserFacingError('Tell me quiet hours as two different hours, e.g. "quiet hours 22-8".')
    return hours[0], hours[1]


@roadie_tool(
    summary="remember your home city, currency and usual travel party",
    write=True,
    examples=(
        "I live in Lisbon",
        "my home city is London",
        "I'm based in Berlin",
        "show prices in pounds",
        "use dollars please",
        "change my currency to EUR",
        "we're usually 2 travellers",
        "my budget is 500 euros",
        "turn off price alerts",
        "stop tour alerts",
        "I'd like to meet other fans",
        "set my home to Madrid",
        "ich wohne in München",
        "vivo en Madrid",
        "j'habite à Paris",
        "we normally travel as a group of 3",
        "assume 2 travellers from now on",
        "it's usually me and my wife",
        "moro em Lisboa",
        "je vis à Bruxelles",
        "ich lebe in Berlin",
        "save my home city as Rome",
        "muéstrame los precios en dólares",
        "mostrar preços em euros",
    ),
)
def set_preferences(
    runtime: ToolRuntime[Any, Any],
    home_city: str | None = None,
    currency: str | None = None,
    travellers: int | None = None,
    budget: int | None = None,
    tour_alerts: bool | None = None,
    price_alerts: bool | None = None,
    community: bool | None = None,
    reminders: bool | None = None,
    weekly: bool | None = None,
    quiet_hours: str | None = None,
) -> ToolAnswer:
    """Save the person's preferences; only the arguments given change.

    Args:
        home_city: The city the person lives in and usually travels from, e.g. "London".
        currency: Currency for prices: an ISO code such as GBP, or a name such as "pounds".
        travellers: How many people usually travel, counting the person.
        budget: Usual trip budget per person, in whole units of their currency.
        tour_alerts: Whether to get new-tour-date alerts for followed artists.
        price_alerts: Whether to get price-drop alerts.
        community: Whether other opted-in fans of the same artists may see and contact them.
        reminders: Whether to get trip reminders and group payment reminders.
        weekly: Whether to get a weekly "shows near you" message.
        quiet_hours: Hours with no messages, in their home time zone, e.g. "22-8".
    """
    ctx = turn_context(runtime)
    city = resolve(ctx, "city", home_city)
    code = currency_code(currency) if currency else None
    if travellers is not None and not 1 <= travellers <= MAX_TRAVELLERS:
        raise UserFacingError(f"Travellers should be between 1 and {MAX_TRAVELLERS}.")
    if budget is not None and budget <= 0:
        raise UserFacingError("A budget should be a positive amount, e.g. 500.")
    quiet = quiet_window(quiet_hours) if quiet_hours else None
    changed: list[str] = []
    with ctx.services.db.write_session() as session:
        me = person(session, ctx)
        if city:
            me.home_city = city
            changed.append(f"home city **{city}** (I'll put the nearest dates first and plan trips from there)")
        if code:
            me.currency = code
            changed.append(f"prices in **{code}**")
        if travellers is not None:
            me.usual_travellers = travellers
            changed.append(f"usually **{travellers}** traveller{'s' if travellers != 1 else ''}")
        if budget is not None:
            me.budget_minor = budget * 100
            changed.append(f"budget about **{format_money(budget * 100, code or me.currency)}** per person")
        notify = dict(me.notify or {})
        for key, value, label in (
            ("tour_alerts", tour_alerts, "tour alerts"),
            ("price_drops", price_alerts, "price-drop alerts"),
            ("reminders", reminders, "trip and payment reminders"),
            ("weekly", weekly, "the weekly shows-near-you message"),
        ):
            if value is not None:
                notify[key] = value
                changed.append(f"{label} **{'on' if value else 'off'}**")
        if quiet is not None:
            notify["quiet_hours"] = list(quiet)
            changed.append(f"quiet hours **{quiet[0]:02d}:00–{quiet[1]:02d}:00** (messages wait until the end)")
        me.notify = notify
        if community is not None:
            me.community_opt_in = community
            changed.append(
                "fan community **on** — fans of the same artists who also opted in can see your first name"
                if community
                else "fan community **off** — no other fan can see you"
            )
        summary = {
            "home_city": me.home_city,
            "currency": me.currency,
            "travellers": me.usual_travellers,
            "community": me.community_opt_in,
        }
    if not changed:
        return ToolAnswer(
            'What should I remember? For example: "I live in London", "show prices in pounds" or "we\'re usually 2".',
            buttons=[Button("I live in London", "I live in London"), Button("Prices in euros", "show prices in euros")],
            ok=False,
        )
    return ToolAnswer("Saved: " + "; ".join(changed) + ".", data={"preferences": summary})
