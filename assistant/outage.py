"""Telling an outage of the database or Redis from a bug, so people get "try again shortly" and not an error."""

from __future__ import annotations

import psycopg
import redis.exceptions
import sqlalchemy.exc

UNREACHABLE_ANSWER = (
    "I can't reach my records right now, so I can't do that safely. Nothing was changed — please try again in a minute."
)
_OUTAGES = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
)


def is_outage(error: BaseException) -> bool:
    """True when `error` (or what caused it) says a store could not be reached, rather than a fault of ours."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGES):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False
