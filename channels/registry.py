"""Which messaging channels run in this process: those whose credentials are set, and why the others are off."""

from __future__ import annotations

from collections.abc import Callable

from assistant.settings import Settings
from channels.base import WebhookChannel
from channels.slack import build_slack
from channels.telegram import build_telegram
from channels.whatsapp import build_whatsapp

# Each builder returns the channel, or the reason it stays off (missing credentials, unsafe settings).
Builder = Callable[[Settings], "WebhookChannel | str"]
BUILDERS: dict[str, Builder] = {
    "slack": build_slack,
    "telegram": build_telegram,
    "whatsapp": build_whatsapp,
}


def configured(settings: Settings) -> tuple[list[WebhookChannel], dict[str, str]]:
    """The channels to run, and a reason for each channel that stays off."""
    on: list[WebhookChannel] = []
    off: dict[str, str] = {}
    for name, build in BUILDERS.items():
        result = build(settings)
        if isinstance(result, str):
            off[name] = result
        else:
            on.append(result)
    return on, off
