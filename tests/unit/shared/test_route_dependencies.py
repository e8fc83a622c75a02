"""No route of any service depends on a plain `def`: FastAPI runs those in a worker thread, one
hop per request (the process-context dependency written as a `def` cost the ingest webhook about
0.4 ms of CPU per request, bench/RESULTS.md 2026-12-03)."""

from __future__ import annotations

import inspect

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from shared.web import ops
from tests.services import service_main, service_names


def _sync_dependencies(dependant: Dependant, path: str) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)):
            found.append(f"{path}: {getattr(call, '__qualname__', call)}")
        found += _sync_dependencies(sub, path)
    return found


@pytest.mark.parametrize("name", service_names())
def test_every_route_dependency_is_async(name: str) -> None:
    main = service_main(name)
    routers = [*main.DEFINITION.routers, ops.router] if hasattr(main, "DEFINITION") else []
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    if name != "portal_sim":  # the simulator has no service definition, and no dependencies of ours
        assert routes, f"{name}: no routes found"
    sync = [found for route in routes for found in _sync_dependencies(route.dependant, route.path)]
    assert not sync, sync
