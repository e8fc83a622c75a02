"""The process's context as a route dependency, typed per service.

A service names its own once, in its `context.py`::

    async def _context(request: Request) -> IngestContext:  # async: FastAPI runs a plain def in a thread
        return process_context(request, IngestContext)

    Ctx = Annotated[IngestContext, Depends(_context)]

and a route asks for `ctx: Ctx` (its settings, its clock, the service's parts), as handlers get
it as their third argument and workers as `runtime.context`: the same object, built once.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request

from shared.runtime import ProcessContext

C = TypeVar("C", bound=ProcessContext)


def process_context(request: Request, cls: type[C]) -> C:
    """The context of the app's runtime, checked to be the service's own class."""
    context = request.app.state.runtime.context
    if not isinstance(context, cls):
        raise TypeError(f"this app's context is a {type(context).__name__}, not a {cls.__name__}")
    return context
