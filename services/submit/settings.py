"""Settings of the submit service: `DD_SUBMIT_*` first, then the common `DD_*`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "submit"

    port: int = 8005
