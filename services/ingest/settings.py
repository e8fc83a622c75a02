"""Settings of the ingest service: `DD_INGEST_*` first, then the common `DD_*`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "ingest"

    port: int = 8001
