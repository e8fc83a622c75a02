"""Keeping aiokafka quiet and cheap while the broker is away.

Without this, one process spends most of a core and writes thousands of lines a second
during an outage: when a partition has no known leader, the producer's sender loop asks for
new metadata, the request fails at once (connection refused), and it asks again, with no
pause and an ERROR line or two per round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection

import structlog
from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata

log = structlog.get_logger(__name__)


def throttle_metadata_retries(client: AIOKafkaClient, min_interval_s: float) -> None:
    """Make a failed metadata refresh wait `min_interval_s` before the next attempt.

    aiokafka has no option for this (`retry_backoff_ms` is not applied there), so the client's
    private `_metadata_update` is wrapped; everything that waits for metadata waits on it.
    """
    update = client._metadata_update
    last_failure = -float("inf")

    async def throttled(cluster_metadata: ClusterMetadata, topics: Collection[str]) -> bool:
        nonlocal last_failure
        pause = last_failure + min_interval_s - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        updated: bool = await update(cluster_metadata, topics)
        if not updated:
            last_failure = time.monotonic()
        return updated

    client._metadata_update = throttled


class KafkaUnavailableLines(logging.Filter):
    """Turns aiokafka's warnings and errors into at most one `kafka_unavailable` line per interval."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every_s = every_s
        self._clock = clock
        self._last = -float("inf")
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        now = self._clock()
        if now - self._last < self.every_s:
            self._suppressed += 1
            return False
        suppressed, self._suppressed, self._last = self._suppressed, 0, now
        log.warning(
            "kafka_unavailable",
            detail=record.getMessage()[:500],
            source=record.name,
            suppressed=suppressed,
            interval_s=self.every_s,
        )
        return False


_filter: KafkaUnavailableLines | None = None


def quiet_aiokafka_logs(every_s: float = 10.0) -> None:
    """aiokafka's loggers at WARNING, and their warnings rate-limited. Safe to call again."""
    global _filter
    if _filter is None:
        _filter = KafkaUnavailableLines(every_s)
    _filter.every_s = every_s
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # A logger's filters only see its own records, not its children's: attach to each.
    names = [name for name in logging.root.manager.loggerDict if name == "aiokafka" or name.startswith("aiokafka.")]
    for name in names:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
