"""Settings of the notify service: `DD_NOTIFY_*` first, then the common `DD_*`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "notify"

    port: int = 8004
