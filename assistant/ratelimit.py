"""Rate limits on inbound messages: per person (one identity on one channel) and per channel, before any work.

A message over a limit gets one friendly answer in the person's language ("You're sending messages faster
than I can read them — give me a minute"); further messages while they stay over it get no answer at all,
so a flood is answered once. Only accepted messages count, so a person is let in again as their older
messages leave the window. Every refusal is counted (`RateLimiter.refused`, and the conversation
service's `rate_limited`) for the operations metrics.

Two implementations of one small interface: `MemoryRateLimiter` (a sliding window per key, one process —
the default) and `RedisRateLimiter` (the same window in a sorted set, checked and recorded by one Lua
script, so every worker shares the counts) when `ROADIE_REDIS_URL` is set. If Redis cannot be reached
the message is let through and a warning logged: a broken limiter must not silence Roadie.
Keys hold a hash of the person's handle, never the phone number or user id itself.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistant.redis_client import key, open_async_redis
from assistant.settings import Settings

log = logging.getLogger(__name__)
FORGET_ABOVE = 10_000  # keys kept in memory before quiet ones are dropped
KEY_PREFIX = "roadie:rl:"  # the default; deployments use ROADIE_REDIS_PREFIX + "rl:"


@dataclass(frozen=True)
class Limit:
    """At most `count` messages per `window_s` seconds for one key (`scope` names it in counters: person, channel)."""

    scope: str
    key: str
    count: int
    window_s: float


@dataclass(frozen=True)
class Verdict:
    """Whether a message may go on; when not, which scope refused it and whether to answer (first refusal only)."""

    allowed: bool
    scope: str = ""
    answer: bool = False
    retry_after_s: float = 0.0


ALLOWED = Verdict(True)


class RateLimiter(Protocol):
    """Checks a message against its limits and records it when every limit allows it."""

    refused: dict[str, int]

    async def check(self, limits: Sequence[Limit]) -> Verdict: ...

    async def close(self) -> None: ...


def hashed(text: str) -> str:
    """A short stable hash for a key, so limiter keys never carry a phone number or handle."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def limits_for(settings: Settings, channel: str, sender: str) -> list[Limit]:
    """The limits one inbound message is checked against (a limit of 0 is off)."""
    out = []
    if settings.rate_limit_per_person > 0:
        out.append(
            Limit(
                "person",
                f"p:{hashed(f'{channel}:{sender}')}",
                settings.rate_limit_per_person,
                settings.rate_limit_window_s,
            )
        )
    if settings.rate_limit_per_channel > 0:
        out.append(Limit("channel", f"c:{channel}", settings.rate_limit_per_channel, settings.rate_limit_window_s))
    return out


@dataclass
class MemoryRateLimiter:
    """Sliding windows in this process's memory (tests, one worker, the embedded default)."""

    now: Callable[[], float] = time.monotonic
    refused: dict[str, int] = field(default_factory=dict)
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _told: dict[str, float] = field(default_factory=dict)  # key → until when its refusal has been answered
    _longest_s: float = 0.0

    async def check(self, limits: Sequence[Limit]) -> Verdict:
        now = self.now()
        for limit in limits:
            seen = self._seen.setdefault(limit.key, deque())
            while seen and seen[0] <= now - limit.window_s:
                seen.popleft()
            if len(seen) >= limit.count:
                retry = max(seen[0] + limit.window_s - now, 0.0)
                answer = self._told.get(limit.key, 0.0) <= now
                if answer:
                    self._told[limit.key] = now + retry
                self.refused[limit.scope] = self.refused.get(limit.scope, 0) + 1
                return Verdict(False, limit.scope, answer, retry)
        for limit in limits:
            self._seen[limit.key].append(now)
            self._told.pop(limit.key, None)
            self._longest_s = max(self._longest_s, limit.window_s)
        if len(self._seen) > FORGET_ABOVE:  # forget people whose every message has left the longest window
            quiet = [k for k, v in self._seen.items() if not v or v[-1] <= now - self._longest_s]
            for key in quiet:
                del self._seen[key]
                self._told.pop(key, None)
        return ALLOWED

    async def close(self) -> None:
        return None


# KEYS: n sorted sets, then their n "answered" flags. ARGV: now (ms), a unique member, then count and window (ms)
# per key. Returns {0} when allowed and recorded, else {index of the refusing key, ms to wait, 1 if first refusal}.
SLIDING_WINDOW = """
local n = #KEYS / 2
local now = tonumber(ARGV[1])
for i = 1, n do
  local count, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= count then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    local wait = math.max(math.floor(window - (now - tonumber(oldest[2]))), 1)
    local first = redis.call('SET', KEYS[n + i], '1', 'NX', 'PX', wait)
    return {i, wait, first and 1 or 0}
  end
end
for i = 1, n do
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 + 2 * i]))
  redis.call('DEL', KEYS[n + i])
end
return {0, 0, 0}
"""


class RedisRateLimiter:
    """The same sliding windows in Redis, shared by every worker; one atomic script per message."""

    def __init__(self, client: Any, prefix: str = KEY_PREFIX) -> None:
        self.refused: dict[str, int] = {}
        self.client = client
        self._script = self.client.register_script(SLIDING_WINDOW)
        self._prefix = prefix
        self._warned_at = 0.0

    async def check(self, limits: Sequence[Limit]) -> Verdict:
        if not limits:
            return ALLOWED
        keys = [self._prefix + limit.key for limit in limits]
        keys += [key + ":told" for key in keys]
        args: list[Any] = [int(time.time() * 1000), f"{time.time_ns()}-{secrets.token_hex(4)}"]
        for limit in limits:
            args += [limit.count, max(int(limit.window_s * 1000), 1)]
        try:
            index, wait_ms, first = (int(v) for v in await self._script(keys=keys, args=args))
        except Exception as error:  # Redis down or slow: let the message through rather than go silent
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning("rate limiter: Redis unavailable (%s); messages are not limited", type(error).__name__)
            return ALLOWED
        if index == 0:
            return ALLOWED
        scope = limits[index - 1].scope
        self.refused[scope] = self.refused.get(scope, 0) + 1
        return Verdict(False, scope, bool(first), wait_ms / 1000)

    async def close(self) -> None:
        await self.client.aclose()


def limiter_for(settings: Settings) -> RateLimiter:
    """Redis when `redis_url` is set (shared by workers), else in memory."""
    client = open_async_redis(settings)
    if client is not None:
        return RedisRateLimiter(client, key(settings, "rl", ""))
    return MemoryRateLimiter()


# The answer to a person over their limit, by language (add a language here; English is the fallback).
SLOW_DOWN = {
    "en": "You're sending messages faster than I can read them — give me a minute, then write again.",
    "es": "Me estás enviando mensajes más rápido de lo que puedo leerlos: dame un minuto y vuelve a escribirme.",
    "de": "Du schickst Nachrichten schneller, als ich sie lesen kann — gib mir eine Minute und schreib dann wieder.",
    "fr": "Tu envoies des messages plus vite que je ne peux les lire — laisse-moi une minute, puis réécris-moi.",
    "pt": "Estás a enviar mensagens mais depressa do que consigo ler — dá-me um minuto e volta a escrever.",
}
CUES = {
    "es": re.compile(r"\b(hola|quiero|mis|conciertos?|gracias|dónde|cuándo|para|por favor)\b", re.I),
    "de": re.compile(r"\b(hallo|ich|meine?|bitte|danke|wann|wo|und|nicht|Konzerte?)\b", re.I),
    "fr": re.compile(r"\b(bonjour|salut|je|mes|merci|où|quand|avec|s'il|vous)\b", re.I),
    "pt": re.compile(r"\b(olá|ola|quero|meus|obrigad[oa]|onde|quando|você|não|concertos?)\b", re.I),
}


def slow_down_answer(text: str) -> str:
    """The rate-limit answer in the language the message seems to be written in."""
    scores = {lang: len(cue.findall(text)) for lang, cue in CUES.items()}
    lang = max(scores, key=lambda k: scores[k])
    return SLOW_DOWN[lang] if scores[lang] else SLOW_DOWN["en"]
