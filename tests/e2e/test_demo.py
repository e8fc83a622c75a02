"""`make demo` against the whole system as processes (the session's `system`), twice: what it printed and
what the services hold afterwards, and that a second run works on the same seller (issue 19)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import httpx

from shared.settings import ServiceSettings
from shared.web.auth import Role, mint_token
from tests.infra import REPO
from tests.system import RunningSystem

# Outside .local/test, which the infrastructure removes when the session ends.
ARTIFACTS = REPO / ".local" / "artifacts" / "demo"
SYSTEM = ("INGEST", "EVIDENCE", "DEADLINE", "NOTIFY", "SUBMIT", "PORTAL_SIM")
DONE = re.compile(r"demo done: (\S+) (\w+), (\S+) (\w+), (\d+) notification\(s\) received")


def run_demo(system: RunningSystem, seller_id: str, run: int) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "deploy.demo", "--seller", seller_id, "--wait", "60"],
        cwd=REPO,
        env={**system.env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    # A test artefact: what a newcomer would have seen.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"run-{run}.txt").write_text(done.stdout + done.stderr, encoding="utf-8")
    return done


class _Settings(ServiceSettings):
    service = "tests"


def _operator(system: RunningSystem) -> dict[str, str]:
    secret = system.env.get("DD_AUTH_SECRET") or _Settings().auth_secret
    return {"Authorization": f"Bearer {mint_token(secret, Role.operator)}"}


def _assert_story(system: RunningSystem, seller_id: str, out: str) -> tuple[str, str]:
    done = DONE.search(out)
    assert done, out[-3000:]
    clean, clean_status, defective, defective_status, received = done.groups()
    assert (clean_status, defective_status) == ("won", "needs_fix"), out[-3000:]
    assert "report ready" in out and "report needs_fix" in out
    assert "carrier_not_accepted" in out and "message_source_not_accepted" in out  # the defective package's blockers
    assert "承运商" in out or "快递" in out or "物流" in out, "the report is printed in Chinese"
    assert "verdict: won" in out and "REFUSED" not in out
    assert "/dashboard/sign-in#token=" in out and "consumer lag" in out

    headers = _operator(system)
    with httpx.Client(timeout=10) as client:
        case = client.get(f"{system.url('ingest')}/v1/cases/{clean}", headers=headers).json()
        assert case["status"] == "won" and case["receipt_id"] and case["verdict"]["outcome"] == "won"
        types = [entry["type"] for entry in case["timeline"]]
        assert {"dispute.received", "evidence.validated", "case.submitted", "verdict.returned"} <= set(types)
        other = client.get(f"{system.url('ingest')}/v1/cases/{defective}", headers=headers).json()
        assert other["status"] == "needs_fix" and other["seller_id"] == seller_id
        report = client.get(f"{system.url('evidence')}/v1/cases/{defective}/report?lang=zh", headers=headers).json()
        assert report["status"] == "needs_fix" and report["lang"] == "zh"
        assert {"carrier_not_accepted", "message_source_not_accepted"} <= {f["rule"] for f in report["findings"]}
        sent = client.get(
            f"{system.url('notify')}/v1/notifications",
            params={"seller_id": seller_id, "dispute_id": clean, "event": "verdict.returned"},
            headers=headers,
        ).json()["items"]
        assert [n["status"] for n in sent] == ["delivered"]
    assert int(received) >= 4, out[-3000:]  # received, validated (x2 cases), submitted, verdict at least
    return clean, defective


def test_the_demo_tells_the_whole_story_and_is_safe_to_run_twice(system: RunningSystem):
    seller_id = f"VD{uuid.uuid4().hex[:6].upper()}"
    first = run_demo(system, seller_id, 1)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "onboarded seller" in first.stdout
    ids_first = _assert_story(system, seller_id, first.stdout)

    second = run_demo(system, seller_id, 2)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert "exists (seller_exists): rotated its webhook secret" in second.stdout
    ids_second = _assert_story(system, seller_id, second.stdout)
    assert set(ids_first).isdisjoint(ids_second)  # new cases, not duplicates of the first run's


def test_the_demo_says_in_one_line_that_the_system_is_not_up():
    # Nothing listens on ports 1-6: no system is needed to see what the demo says without one.
    ports = {f"DD_{name}_PORT": str(n) for n, name in enumerate(SYSTEM, start=1)}
    answer = subprocess.run(
        [sys.executable, "-m", "deploy.demo"],
        cwd=REPO,
        env={**os.environ, "DD_ENV": "local", "COLUMNS": "400", **ports},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 1
    lines = [line for line in answer.stdout.splitlines() if "demo stopped" in line]
    assert len(lines) == 1 and "make run" in lines[0] and "ingest (http://127.0.0.1:1)" in lines[0], answer.stdout
    assert "portal_sim (http://127.0.0.1:6)" in lines[0] and "DD_<SERVICE>_PORT" in lines[0]
    assert "Traceback" not in answer.stdout + answer.stderr
