"""Routes every service has: liveness, readiness, Prometheus metrics, consumer lag."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.db.parking import refresh_parked_metrics
from shared.runtime import ServiceRuntime
from shared.web.auth import OperatorDep
from shared.web.problems import ProblemError

router = APIRouter(tags=["operations"])


def _runtime(request: Request) -> ServiceRuntime[Any]:
    runtime: ServiceRuntime[Any] = request.app.state.runtime  # set by the service's create_app
    return runtime


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    return {"status": "ok", "service": _runtime(request).definition.name}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks = await _runtime(request).readiness()
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    runtime = _runtime(request)
    # Cheap gauges are refreshed per scrape; lag at most once per refresh interval.
    try:
        waiting, oldest_s = await runtime.outbox_state()
        runtime.metrics.outbox_backlog.set(waiting)
        runtime.metrics.outbox_oldest_age.set(oldest_s)
        await refresh_parked_metrics(runtime.metrics.registry, runtime.sessions, runtime.definition.metadata)
        await runtime.context.metrics.refresh(runtime.sessions, runtime.context.clock.now())
    except Exception:
        pass  # database away: keep the last value, /readyz says why
    if runtime.lag is not None:
        try:
            await runtime.lag.snapshot()
        except Exception:
            pass  # Kafka away: keep the last lag values, /readyz says why
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/ops/lag")
async def lag(request: Request, _: OperatorDep) -> dict[str, Any]:
    runtime = _runtime(request)
    try:
        if runtime.lag is None:
            raise ConnectionError("not connected to Kafka yet")
        rows = await runtime.lag.snapshot(fresh=True)
    except Exception as exc:  # the broker is the one thing this endpoint needs
        raise ProblemError(503, "kafka_unavailable", "Kafka is unavailable", f"lag cannot be read: {exc}") from exc
    return {
        "service": runtime.definition.name,
        "partitions": [row.as_dict() for row in rows],
        "total_lag": sum(row.lag for row in rows),
    }
