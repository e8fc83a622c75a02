"""One module per channel behind one small interface (`base.Channel`), a fake for tests (`fake.py`).

`channel_for(config, deps)` builds the channel a seller's preference names.
"""

from __future__ import annotations

from services.notify.channels.base import Channel, ChannelDeps, DeliveryResult, Notification
from services.notify.channels.dingtalk import DingtalkChannel
from services.notify.channels.email import EmailChannel
from services.notify.channels.feishu import FeishuChannel
from services.notify.channels.slack import SlackChannel
from services.notify.channels.webhook import WebhookChannel
from services.notify.channels.wecom import WecomChannel
from services.notify.schemas import Channel as ChannelConfig

__all__ = ["Channel", "ChannelDeps", "DeliveryResult", "Notification", "channel_for"]


def channel_for(config: ChannelConfig, deps: ChannelDeps) -> Channel:
    """The channel of one preference entry (its secret already opened)."""
    match config.type:
        case "webhook":
            if config.secret is None:  # parse + carry_secrets guarantee it; a stored row without one is a bug
                raise ValueError("a webhook channel needs its secret")
            return WebhookChannel(deps.http, config.url, config.secret, clock=deps.clock)
        case "email":
            if deps.smtp is None:
                raise ValueError("the e-mail channel needs SMTP settings")
            return EmailChannel(deps.smtp, config.to, clock=deps.clock)
        case "wecom":
            return WecomChannel(deps.http, config.url)
        case "dingtalk":
            return DingtalkChannel(deps.http, config.url, config.secret, clock=deps.clock)
        case "feishu":
            return FeishuChannel(deps.http, config.url, config.secret, clock=deps.clock)
        case "slack":
            return SlackChannel(deps.http, config.url)
