"""Secrets a service must use again (an HMAC key, a robot's signing secret) kept encrypted at rest.

Fernet (AES-128-CBC + HMAC-SHA256) under a key that lives in the settings, never in the database,
so a database dump alone opens nothing. Ingest seals its sellers' webhook secrets with it, notify
the secrets of the sellers' channels (each service with its own `DD_<SERVICE>_SECRET_KEY`).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_OPENED_MAX = 10_000  # opened secrets kept in memory


def _fernet_key(setting: str) -> bytes:
    # Any string of >= 32 characters works as a setting; Fernet wants 32 url-safe base64 bytes.
    return base64.urlsafe_b64encode(hashlib.sha256(setting.encode()).digest())


class SecretBox:
    """Encrypts with the first key of `keys` (comma-separated), decrypts with any of them."""

    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise ValueError("at least one secret key is needed")
        self._fernet = MultiFernet([Fernet(_fernet_key(part)) for part in parts])
        self._opened: dict[bytes, str] = {}

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str | None:
        """The secret, or None when no configured key opens it (a key was retired too early).

        Opened secrets are kept in memory by their sealed form (which always opens to the same
        secret), so a hot path pays no decryption: a rotation needs no invalidation, since the
        database decides which sealed secrets are still live, and the keys only change with a restart.
        """
        token = bytes(sealed)
        secret = self._opened.get(token)
        if secret is None:
            try:
                secret = self._fernet.decrypt(token).decode()
            except InvalidToken:
                return None
            if len(self._opened) >= _OPENED_MAX:
                self._opened.clear()  # bounded; refilled on demand
            self._opened[token] = secret
        return secret
