"""PostgreSQL over TLS: `DD_DATABASE_SSL_MODE` (libpq's sslmode words) as asyncpg's `ssl` connect argument.

asyncpg takes an `ssl.SSLContext`; built here once per engine, so the services' pools, `migrate`
and the submit rate limiter (shared/db/engine.py, migrations.py) connect the same way. `disable`
adds nothing, leaving the connect arguments as they always were.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from shared.settings import ServiceSettings

SslMode = Literal["disable", "require", "verify-ca", "verify-full"]


def database_ssl_context(mode: SslMode, root_cert: str | None = None) -> ssl.SSLContext | None:
    """None for `disable`; else a client context: `require` encrypts without checking the server (as libpq's
    does without a root certificate), `verify-ca` checks its chain, `verify-full` its chain and host name."""
    if mode == "disable":
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=root_cert)
    if mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif mode == "verify-ca":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def database_ssl(settings: ServiceSettings) -> ssl.SSLContext | None:
    return database_ssl_context(settings.database_ssl_mode, settings.database_ssl_root_cert)


def ssl_connect_args(context: ssl.SSLContext | None) -> dict[str, Any]:
    """asyncpg's connect arguments for `context`: none when it is None."""
    return {} if context is None else {"ssl": context}
