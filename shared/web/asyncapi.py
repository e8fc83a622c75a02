"""/asyncapi.json and /asyncapi.yaml: the event contract (shared/contracts/asyncapi.py), beside /openapi.json.

Every service serves the same document, the whole system's, public like its OpenAPI document.
It is built on the first request, in a worker thread: building it imports the other services'
definitions (what each one receives), about half a second the event loop should not wait for.
"""

from __future__ import annotations

import asyncio
import functools

from fastapi import FastAPI
from fastapi.responses import Response

from shared.contracts.asyncapi import asyncapi_document, render

ASYNCAPI_JSON = "/asyncapi.json"
ASYNCAPI_YAML = "/asyncapi.yaml"
YAML_MEDIA_TYPE = "application/yaml"  # RFC 9512
# What a service's /docs page says about it (FastAPI's `description`, shown at the top of Swagger UI).
DOCS_NOTE = (
    f"The events this system publishes on Kafka are described by its AsyncAPI 3 document: "
    f"[{ASYNCAPI_YAML}]({ASYNCAPI_YAML}) ([JSON]({ASYNCAPI_JSON}))."
)


@functools.cache
def _json_text() -> str:
    return render(asyncapi_document(), "json")


@functools.cache
def _yaml_text() -> str:
    return render(asyncapi_document(), "yaml")


def install_asyncapi(app: FastAPI) -> None:
    """Serve the document as JSON and YAML, outside the OpenAPI document (like /openapi.json itself)."""

    @app.get(ASYNCAPI_JSON, include_in_schema=False)
    async def asyncapi_json() -> Response:
        return Response(await asyncio.to_thread(_json_text), media_type="application/json")

    @app.get(ASYNCAPI_YAML, include_in_schema=False)
    async def asyncapi_yaml() -> Response:
        return Response(await asyncio.to_thread(_yaml_text), media_type=YAML_MEDIA_TYPE)
