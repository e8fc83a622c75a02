"""`python -m deploy.healthcheck URL`, compose's health check: 0 on 200 only, as a real process."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/readyz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def check(url: str) -> int:
    return subprocess.run([sys.executable, "-m", "deploy.healthcheck", url], capture_output=True, timeout=30).returncode


def test_ready_unready_and_nobody_there(server):
    assert check(f"{server}/readyz") == 0
    assert check(f"{server}/stalled") == 1  # 503: not ready
    assert check("http://127.0.0.1:9/readyz") == 1  # nothing listens
