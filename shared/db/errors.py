"""Telling "the database is away" from "this piece of work failed".

A consumer must not spend an event's attempts, let alone dead-letter it, because PostgreSQL
was restarting: those errors say nothing about the event. `is_connection_error` recognises
them through SQLAlchemy's wrappers and the exception chain.
"""

from __future__ import annotations

import traceback
from types import TracebackType

import asyncpg.exceptions as pg
from sqlalchemy import exc as sa

# Server-side errors that mean "not now", whatever the statement: class 08 (connection
# exception), 57P01-57P03 (admin/crash shutdown, cannot connect now), 53300 (too many connections).
_PG_UNAVAILABLE = (
    pg.PostgresConnectionError,  # includes ConnectionDoesNotExistError, ConnectionFailureError
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.CannotConnectNowError,
    pg.TooManyConnectionsError,
)
_CLOSED_MARKERS = ("connection is closed", "connection was closed", "underlying connection is closed")
_DB_MODULES = ("asyncpg", "sqlalchemy")


def is_connection_error(error: BaseException) -> bool:
    """True if `error` (or anything it wraps) says the database could not be reached or went away.

    Counted: connection refused/reset/timed out while the driver talked to the server,
    server shutting down or not yet accepting connections, a connection or pool SQLAlchemy
    invalidated, "connection is closed". Not counted: constraint violations, bad SQL, a
    handler's own network or timeout errors (an OSError is counted only when it was raised
    inside asyncpg or SQLAlchemy).
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo and len(seen) < 32:
        exc = todo.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        if _says_unavailable(exc):
            return True
        todo += [exc.__cause__, exc.__context__, getattr(exc, "orig", None)]
    return False


def _says_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (sa.DisconnectionError, sa.TimeoutError)):  # pool: invalidated, or no connection in time
        return True
    if isinstance(exc, _PG_UNAVAILABLE):
        return True
    if isinstance(exc, (pg.InterfaceError, sa.InterfaceError)) and any(m in str(exc) for m in _CLOSED_MARKERS):
        return True
    # Includes ConnectionRefusedError/ResetError and TimeoutError (an OSError since 3.11).
    return isinstance(exc, OSError) and _raised_in_db_layer(exc.__traceback__)


def _raised_in_db_layer(tb: TracebackType | None) -> bool:
    for frame, _ in traceback.walk_tb(tb):
        module = frame.f_globals.get("__name__", "")
        if module.split(".", 1)[0] in _DB_MODULES:
            return True
    return False
