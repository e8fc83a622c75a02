"""Settings of the deadline service: `DD_DEADLINE_*` first, then the common `DD_*`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "deadline"

    port: int = 8003
