"""What the routes, handlers and the checker worker of one evidence process share.

The process's `ProcessContext` (shared/runtime.py), built once by `EvidenceContext.of` (the
definition's factory): settings, clock, the blob store, the upload rules and the wake-up of
this process's checker worker (set after a commit that scheduled a check). Routes ask for
`ctx: Ctx`, handlers get it as their third argument, the worker as `runtime.context`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from services.evidence.runs import Debounce
from services.evidence.settings import Settings
from services.evidence.uploads import UploadRules
from shared.blobs import BlobStore, blob_store_from
from shared.clock import Clock
from shared.runtime import ProcessContext
from shared.web.context import process_context
from shared.worker import Wakeup


@dataclass
class EvidenceContext(ProcessContext):
    settings: Settings
    blobs: BlobStore = field(kw_only=True)
    upload_rules: UploadRules = field(kw_only=True)
    wakeup: Wakeup = field(default_factory=Wakeup, kw_only=True)  # the checker worker's

    @classmethod
    def of(cls, settings: Settings, clock: Clock) -> EvidenceContext:
        """The definition's context factory (`ServiceDefinition.context`)."""
        blobs = blob_store_from(settings, local_root=settings.blob_root)  # local or S3, as settings say
        rules = UploadRules(
            blobs=blobs,
            debounce=Debounce(
                delay=timedelta(milliseconds=settings.check_debounce_ms),
                max_wait=timedelta(milliseconds=max(settings.check_debounce_ms, settings.check_max_wait_ms)),
            ),
            max_messages=settings.max_messages,
            extract_slots=asyncio.Semaphore(settings.extract_concurrency),
            ocr=settings.ocr_options(),
        )
        return cls(settings, clock, blobs=blobs, upload_rules=rules)


async def _context(request: Request) -> EvidenceContext:
    return process_context(request, EvidenceContext)


Ctx = Annotated[EvidenceContext, Depends(_context)]  # a route's `ctx: Ctx`
