"""A seller's preferences as stored: the document with each secret sealed, and the disabled channels.

Stored form: the document's JSON where every channel's `secret` is null and its sealed form is
`sealed_secret` (Fernet text, shared/secretbox.py), and a channel a `410 Gone` disabled carries
`disabled_at`. `load` opens it into a `Stored` (the parsed document with opened secrets, and the
disabled channel keys); `dump` seals a document for storing. A channel's key
(`channel_key`) names it across saves: its type and a hash of its target.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notify.schemas import SECRET_CHANNELS, Channel, PreferencesDocument
from shared.secretbox import SecretBox


def channel_key(channel: Channel) -> str:
    return _raw_key(channel.model_dump(mode="json"))


@dataclass(frozen=True)
class Stored:
    document: PreferencesDocument
    disabled: Mapping[str, str] = field(default_factory=dict)  # channel key -> when (ISO)
    unreadable: frozenset[str] = frozenset()  # channel keys whose secret no configured key opens

    def channel(self, key: str) -> Channel | None:
        return next((c for c in self.document.channels if channel_key(c) == key), None)

    def active_channels(self) -> list[Channel]:
        return [c for c in self.document.channels if channel_key(c) not in self.disabled]

    def secrets(self) -> dict[tuple[str, str], str]:
        """(type, url) -> opened secret, for `preferences.carry_secrets`."""
        out: dict[tuple[str, str], str] = {}
        for channel in self.document.channels:
            secret = getattr(channel, "secret", None)
            if secret is not None:
                out[(channel.type, getattr(channel, "url", ""))] = secret
        return out


def load(raw: Mapping[str, Any], box: SecretBox) -> Stored:
    document = dict(raw)
    channels = []
    disabled: dict[str, str] = {}
    unreadable: set[str] = set()
    for stored in document.get("channels", []):
        channel = dict(stored)
        sealed = channel.pop("sealed_secret", None)
        disabled_at = channel.pop("disabled_at", None)
        if sealed is not None:
            channel["secret"] = box.open(sealed.encode())
        channels.append(channel)
        if disabled_at is not None or (sealed is not None and channel["secret"] is None):
            key = _raw_key(channel)
            if disabled_at is not None:
                disabled[key] = disabled_at
            if sealed is not None and channel["secret"] is None:
                unreadable.add(key)
    document["channels"] = channels
    return Stored(PreferencesDocument.model_validate(document), disabled, frozenset(unreadable))


def _raw_key(channel: Mapping[str, Any]) -> str:
    target = ",".join(sorted(channel["to"])) if channel["type"] == "email" else channel["url"]
    return f"{channel['type']}:{hashlib.sha256(target.encode()).hexdigest()[:32]}"


def dump(document: PreferencesDocument, box: SecretBox, disabled: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The stored JSON of `document`: secrets sealed, `disabled_at` kept for the channels in `disabled`."""
    out = document.model_dump(mode="json")
    for raw, channel in zip(out["channels"], document.channels, strict=True):
        if channel.type in SECRET_CHANNELS:
            secret = raw.pop("secret", None)
            raw["secret"] = None
            if secret is not None:
                raw["sealed_secret"] = box.seal(secret).decode()
        key = channel_key(channel)
        if disabled and key in disabled:
            raw["disabled_at"] = disabled[key]
    return out


def with_disabled(stored: Stored, key: str, at: datetime, box: SecretBox) -> dict[str, Any]:
    """The stored JSON again with channel `key` disabled at `at`."""
    return dump(stored.document, box, {**stored.disabled, key: at.isoformat()})
