"""`dd webhook send` (typer's CliRunner) against the real ingest process of the session's `system`."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from shared.cli import app
from shared.settings import ServiceSettings
from shared.web.auth import Role, mint_token
from shared.webhook_client import EXAMPLES
from tests.system import RunningSystem

runner = CliRunner()


class _Settings(ServiceSettings):
    service = "tests"


def _operator(system: RunningSystem) -> dict[str, str]:
    secret = system.env.get("DD_AUTH_SECRET") or _Settings().auth_secret
    return {"Authorization": f"Bearer {mint_token(secret, Role.operator)}"}


def _onboard(system: RunningSystem) -> tuple[str, str]:
    seller_id = f"VW{uuid.uuid4().hex[:6].upper()}"
    answer = httpx.post(
        f"{system.url('ingest')}/v1/sellers",
        json={"seller_id": seller_id, "name": "Ningbo Send Test", "contact": "ops@example.cn"},
        headers=_operator(system),
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return seller_id, answer.json()["webhook_secret"]


def _send(system: RunningSystem, *args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, ["webhook", "send", "--url", system.url("ingest"), *args], env=env or {})


def _answer(output: str) -> dict:
    return json.loads(output[output.index("{") :])


def test_an_example_is_sent_fresh_and_twice_makes_new_cases_that_are_not_expired(system: RunningSystem):
    seller_id, secret = _onboard(system)
    sample = str(EXAMPLES / "notice_two_orders.json")
    first = _send(system, "--seller", seller_id, "--secret", secret, sample)
    assert first.exit_code == 0, first.output
    assert f"/v1/webhooks/coupang/{seller_id} -> 202" in first.output and first.output.startswith("fresh: notified_at")
    results = _answer(first.output)["results"]
    assert [r["result"] for r in results] == ["created", "created"]
    assert all(r["dispute_id"].startswith(("CD-2026-004411-", "CD-2026-004412-")) for r in results)

    second = _send(system, "--seller", seller_id, "--secret", secret, sample)
    again = _answer(second.output)["results"]
    assert [r["result"] for r in again] == ["created", "created"]
    assert {r["dispute_id"] for r in again}.isdisjoint(r["dispute_id"] for r in results)

    headers = _operator(system)
    for r in results:
        case = httpx.get(f"{system.url('ingest')}/v1/cases/{r['dispute_id']}", headers=headers, timeout=10).json()
        assert abs(datetime.fromisoformat(case["notified_at"]) - datetime.now(UTC)) < timedelta(minutes=2)
        assert case["status"] != "expired"
        if case["respond_by"] is not None:  # the chargeback's explicit date: business days ahead, not in November
            assert case["respond_by"] > datetime.now(UTC).date().isoformat()


def test_a_file_with_newlines_is_signed_as_it_is_with_the_secret_from_the_environment(
    system: RunningSystem, tmp_path: Path
):
    seller_id, secret = _onboard(system)
    dispute_id = f"CD-SEND-{uuid.uuid4().hex[:8]}"
    notice = {
        "event": "dispute.opened",
        "notice_id": f"N-{uuid.uuid4().hex[:8]}",
        "notified_at": datetime.now(UTC).isoformat(),
        "disputes": [
            {
                "dispute_id": dispute_id,
                "kind": "chargeback",
                "order_id": "3000123456789",
                "amount": {"value": "45000", "currency": "KRW"},
                "reason_code": "NOT_RECEIVED",
                "reason_text": "상품 미수령",
                "buyer_id": "B-77",
                "respond_by": None,
            }
        ],
    }
    path = tmp_path / "notice.json"
    path.write_text(json.dumps(notice, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    sent = _send(system, "--seller", seller_id, str(path), env={"DD_WEBHOOK_SECRET": secret})
    assert sent.exit_code == 0, sent.output
    assert not sent.output.startswith("fresh:")  # a file outside examples/ goes as it is
    assert _answer(sent.output)["results"][0] == {**_answer(sent.output)["results"][0], "dispute_id": dispute_id}
    assert _answer(sent.output)["results"][0]["result"] == "created"

    again = _send(system, "--seller", seller_id, "--as-is", str(path), env={"DD_WEBHOOK_SECRET": secret})
    assert _answer(again.output)["results"][0]["result"] == "duplicate"


def test_a_wrong_secret_prints_the_401_and_its_explanation_and_exits_1(system: RunningSystem):
    seller_id, _ = _onboard(system)
    wrong = "whsec_" + "eHh4" * 11
    sent = _send(system, "--seller", seller_id, "--secret", wrong, str(EXAMPLES / "notice_two_orders.json"))
    assert sent.exit_code == 1
    answer = _answer(sent.output)
    assert "-> 401" in sent.output and answer["code"] == "invalid_signature"
    assert "--data-binary" in answer["detail"]


def test_without_a_secret_or_an_ingest_it_says_what_is_missing(system: RunningSystem):
    sample = str(EXAMPLES / "notice_two_orders.json")
    missing = runner.invoke(app, ["webhook", "send", "--seller", "V900", sample], env={"DD_WEBHOOK_SECRET": ""})
    assert missing.exit_code == 2 and "DD_WEBHOOK_SECRET" in missing.output
    down = runner.invoke(
        app, ["webhook", "send", "--seller", "V900", "--secret", "whsec_eHh4", "--url", "http://127.0.0.1:1", sample]
    )
    assert down.exit_code == 2 and "is ingest up?" in down.output


def _readme_snippet() -> str:
    """The curl + openssl block of examples/README.md, as a newcomer would paste it."""
    text = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("\n", 1)[1] for b in text.split("```sh")[1:]]
    return next(b.split("```")[0] for b in blocks if "openssl dgst" in b)


@pytest.mark.skipif(not all(shutil.which(t) for t in ("bash", "curl", "openssl")), reason="needs curl and openssl")
def test_the_curl_and_openssl_recipe_of_the_examples_readme_works_and_minus_d_does_not(
    system: RunningSystem, tmp_path: Path
):
    seller_id, secret = _onboard(system)
    dispute_id = f"CD-CURL-{uuid.uuid4().hex[:8]}"
    body = (EXAMPLES / "notice_two_orders.json").read_text(encoding="utf-8")
    notice = json.loads(body)
    notice["notified_at"] = datetime.now(UTC).isoformat()
    notice["disputes"] = [dict(notice["disputes"][0], dispute_id=dispute_id)]
    path = tmp_path / "my_notice.json"
    path.write_text(json.dumps(notice, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    host = system.url("ingest").removeprefix("http://")
    script = (
        _readme_snippet()
        .replace("SECRET=whsec_...; FILE=my_notice.json", f"SECRET='{secret}'; FILE='{path}'")
        .replace("localhost:8001", host)
        .replace("/coupang/V900", f"/coupang/{seller_id}")
    )
    assert f"SECRET='{secret}'" in script and "--data-binary" in script
    sent = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=30)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["results"][0] == {**json.loads(sent.stdout)["results"][0], "result": "created"}

    # The same recipe with `-d @file`, which strips the newlines: refused, and the answer says why.
    again = script.replace('--data-binary @"$FILE"', '-d @"$FILE"')
    assert again != script
    refused = subprocess.run(["bash", "-euo", "pipefail", "-c", again], capture_output=True, text=True, timeout=30)
    problem = json.loads(refused.stdout)
    assert problem["code"] == "invalid_signature" and "-d @file strips newlines" in problem["detail"]
