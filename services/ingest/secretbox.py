"""Sellers' webhook secrets: made here, shown once, kept encrypted with the service's key.

Verifying a Standard Webhooks signature needs the secret itself (it is an HMAC key), so we
cannot keep only a hash; we keep it sealed by the shared `SecretBox` (shared/secretbox.py)
under a key that lives in the settings, never in the database. A database dump alone forges nothing.
"""

from __future__ import annotations

import base64
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64 bytes


def new_webhook_secret() -> str:
    """A fresh `whsec_<base64 of 32 random bytes>`, in the form the standardwebhooks library reads."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
