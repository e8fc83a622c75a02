"""`python -m deploy.healthcheck URL`: exit 0 when URL answers 200, else 1 (compose's health checks).

The image is python:3.11-slim, which has no curl or wget; Kubernetes probes over HTTP itself.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def healthy(url: str, timeout_s: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 (a URL of our own compose file)
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m deploy.healthcheck URL")
    sys.exit(0 if healthy(sys.argv[1]) else 1)
