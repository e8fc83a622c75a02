"""What the routes, handlers and the dispatcher of one notify process share: its `ProcessContext`.

Built once by `NotifyContext.of` (the definition's factory): settings, clock, the secret box
sealing channel secrets, the renderer, the one outbound HTTP sender (targets checked again and
pinned at send time), the SMTP settings, the retry schedule, the dispatcher's wake-up and the
service's metrics. Routes ask for `ctx: Ctx`, handlers get it as their third argument, the
dispatcher as `runtime.context`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from services.notify.channels.base import ChannelDeps
from services.notify.channels.email import SmtpConfig
from services.notify.channels.http import HttpSender
from services.notify.metrics import NotifyMetrics
from services.notify.render import Renderer
from services.notify.retry import RetrySchedule
from services.notify.settings import Settings
from services.notify.targets import TargetPolicy
from shared.clock import Clock
from shared.runtime import ProcessContext
from shared.secretbox import SecretBox
from shared.web.context import process_context
from shared.worker import Wakeup


def target_policy(settings: Settings) -> TargetPolicy:
    return TargetPolicy(https_only=not settings.is_local, allow_private=settings.allow_private_targets)


@dataclass
class NotifyContext(ProcessContext):
    settings: Settings
    secret_box: SecretBox = field(kw_only=True)
    renderer: Renderer = field(kw_only=True)
    channels: ChannelDeps = field(kw_only=True)
    retry: RetrySchedule = field(kw_only=True)
    wakeup: Wakeup = field(default_factory=Wakeup, kw_only=True)
    metrics: NotifyMetrics = field(default_factory=NotifyMetrics, kw_only=True)

    @classmethod
    def of(cls, settings: Settings, clock: Clock) -> NotifyContext:
        """The definition's context factory (`ServiceDefinition.context`)."""
        s = settings
        http = HttpSender(
            target_policy(s),
            total_timeout_s=s.http_total_timeout_s,
            max_response_bytes=s.http_max_response_bytes,
            max_connections=max(s.dispatch_concurrency, 10),
            clock=clock,
        )
        smtp = SmtpConfig(
            host=s.smtp_host,
            port=s.smtp_port,
            sender=s.smtp_sender,
            username=s.smtp_username,
            password=s.smtp_password,
            use_tls=s.smtp_use_tls,
            timeout_s=s.http_total_timeout_s,
        )
        return cls(
            s,
            clock,
            secret_box=SecretBox(s.secret_key),
            renderer=Renderer(s.dashboard_base_url),
            channels=ChannelDeps(http=http, clock=clock, smtp=smtp),
            retry=RetrySchedule(delays_s=tuple(s.retry_delays_s), horizon=timedelta(hours=s.retry_horizon_h)),
        )

    @property
    def policy(self) -> TargetPolicy:
        return self.channels.http.policy


async def _context(request: Request) -> NotifyContext:
    return process_context(request, NotifyContext)


Ctx = Annotated[NotifyContext, Depends(_context)]  # a route's `ctx: Ctx`
