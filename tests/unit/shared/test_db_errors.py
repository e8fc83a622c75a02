"""shared/db/errors.py: which failures mean "the database is away" (no server needed: port 1 is closed)."""

from __future__ import annotations

import asyncpg
import asyncpg.exceptions as pg
import pytest
from sqlalchemy import exc as sa
from sqlalchemy import text

from shared.db.engine import create_engine, session_factory
from shared.db.errors import is_connection_error
from shared.db.session import session_scope

CLOSED = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"


async def _raised(coro) -> BaseException:
    try:
        await coro
    except Exception as exc:
        return exc
    raise AssertionError("expected an exception")


async def test_refused_connection_through_sqlalchemy_is_a_connection_error() -> None:
    engine = create_engine(CLOSED)
    try:

        async def query() -> None:
            async with session_scope(session_factory(engine)) as session:
                await session.execute(text("SELECT 1"))

        assert is_connection_error(await _raised(query()))
    finally:
        await engine.dispose()


async def test_refused_connection_through_asyncpg_is_a_connection_error() -> None:
    assert is_connection_error(await _raised(asyncpg.connect(host="127.0.0.1", port=1, timeout=5)))


def _wrapped(cls: type[sa.DBAPIError], orig: BaseException, *, invalidated: bool = False) -> sa.DBAPIError:
    # What SQLAlchemy raises: its own class, the driver's error in .orig and as __cause__.
    error = cls("SELECT 1", {}, orig, connection_invalidated=invalidated)
    error.__cause__ = orig
    return error


@pytest.mark.parametrize(
    "error",
    [
        pg.CannotConnectNowError("the database system is starting up"),
        pg.AdminShutdownError("terminating connection due to administrator command"),
        pg.CrashShutdownError("terminating connection because of crash of another server process"),
        pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        pg.TooManyConnectionsError("sorry, too many clients already"),
        pg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        _wrapped(sa.DBAPIError, pg.AdminShutdownError("the database system is shutting down")),
        _wrapped(sa.InterfaceError, pg.InterfaceError("connection is closed")),
        _wrapped(sa.OperationalError, RuntimeError("server closed the connection"), invalidated=True),
        sa.TimeoutError("QueuePool limit of size 5 overflow 5 reached, connection timed out"),
        sa.DisconnectionError("connection invalidated"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_of_an_absent_database_are_connection_errors(error: BaseException) -> None:
    assert is_connection_error(error)


def _raise_in_handler(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(sa.IntegrityError, pg.UniqueViolationError("duplicate key value violates unique constraint")),
        _wrapped(sa.ProgrammingError, pg.UndefinedTableError('relation "nope" does not exist')),
        pg.QueryCanceledError("canceling statement due to statement timeout"),
        pg.InterfaceError("cannot perform operation: another operation is in progress"),
        ValueError("bad amount"),
        # A handler's own network trouble (an external API) is the event's problem: retried, then the DLQ.
        _raise_in_handler(TimeoutError("tracking API did not answer")),
        _raise_in_handler(ConnectionRefusedError("tracking API refused")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_of_the_event_or_its_handler_are_not_connection_errors(error: BaseException) -> None:
    assert not is_connection_error(error)


def test_a_connection_error_deep_in_the_chain_counts() -> None:
    try:
        try:
            raise pg.CannotConnectNowError("the database system is in recovery mode")
        except pg.PostgresError as inner:
            raise RuntimeError("handler gave up") from inner
    except RuntimeError as outer:
        assert is_connection_error(outer)
