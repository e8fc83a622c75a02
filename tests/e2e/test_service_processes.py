"""The five services and the simulator as real processes: they start, get ready, stop cleanly."""

from __future__ import annotations

import signal

import httpx

from tests.system import start_system, system_ports


def test_every_service_process_becomes_ready_and_stops_on_sigterm(infra, kafka):
    # Its own system, not the shared `system` fixture: this test stops every process to read how it ended.
    system = start_system(infra, ports=system_ports(shift=200), name="sigterm")
    try:
        health = httpx.get(f"{system.url('deadline')}/healthz", timeout=5).json()
        assert health == {"status": "ok", "service": "deadline"}
    finally:
        codes = system.stop()
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete, hence -SIGTERM.
    assert codes == {name: -signal.SIGTERM for name, _ in system.ports.items()}
    for name, _ in system.ports.items():
        if name != "portal_sim":
            log = system.log(name)
            assert '"event": "service_stopped"' in log, f"{name} did not shut down cleanly:\n{log[-2000:]}"
