"""The request's transaction, committed before its response is sent.

A route asks for ``session: DbSession`` and never commits: the dependency commits once the
route has returned (and its response body has been serialised), or rolls back when anything
was raised, and only then does FastAPI send the response.

Why ``scope="function"``: since FastAPI 0.118 the code after ``yield`` in a dependency runs
after the response has started, so a commit failing there would still answer 2xx and a
webhook sender would never retry. With ``scope="function"`` (FastAPI >= 0.121) the exit runs
in ``fastapi.routing.request_response`` when the inner ``AsyncExitStack`` named
``fastapi_function_astack`` closes, which is after the endpoint returned and before
``await response(...)``; an exception raised there goes to the app's exception handlers.

Order on failure: an exception from the route (a `DomainError`, a `ProblemError`, a crash)
is thrown into this dependency first, which rolls back, then the handler answers. A commit
that fails answers 503 ``commit_failed``: nothing was saved, so retrying is safe (a 5xx is
what makes webhook senders and clients retry; a deferred constraint that fails at COMMIT, a
serialization failure or a lost connection all land here).

A streamed body (`StreamingResponse`) and background tasks run after the commit and after
the session is closed: they must not use it.

A route that reads first and then waits a long time without the database (a large upload
streaming in after its access check) wraps the read in ``async with read_and_release(session)``:
the scope ends that read-only transaction, so the connection goes back to the pool meanwhile,
and the next statement begins the transaction this dependency commits. Use cases never end a
transaction themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.web.problems import ProblemError

__all__ = ["DbSession", "commit_failed", "read_and_release", "request_session"]

log = structlog.get_logger(__name__)


def commit_failed() -> ProblemError:
    return ProblemError(
        503,
        "commit_failed",
        "Change not saved",
        "The change could not be committed and nothing was saved; retrying the request is safe.",
    )


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency (function scope): one transaction per request, committed before the answer."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.runtime.sessions
    async with sessions() as session:
        try:
            yield session
        except Exception:
            await session.rollback()
            raise
        try:
            await session.commit()
        except Exception as exc:
            log.error("commit_failed", path=request.url.path, error_type=type(exc).__name__, exc_info=exc)
            raise commit_failed() from exc


DbSession = Annotated[AsyncSession, Depends(request_session, scope="function")]


@asynccontextmanager
async def read_and_release(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A read-only step of the request: its transaction ends when the block does (module docstring).

    Nothing was written, so ending it is a rollback, not a commit; if the block raises, the
    error goes on to `request_session`, which rolls back as for any refusal.
    """
    yield session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("read_and_release is for reads: this step changed objects of the session")
    await session.rollback()  # gives the connection back to the pool; nothing was written
