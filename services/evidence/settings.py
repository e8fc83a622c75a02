"""Settings of the evidence service: `DD_EVIDENCE_*` first, then the common `DD_*`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "evidence"

    port: int = 8002
