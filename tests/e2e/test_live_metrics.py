"""The live /metrics of every service, after real traffic (`make demo` against the session's system,
plus a refused webhook), read by promtool as Prometheus would: no problem reported, the traffic visible,
and every metric the dashboard and the alerting rules name served by some service (a renamed metric
would leave a panel or an alert silently empty)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.infra import REPO
from tests.scrape import Scrape, referenced_metric_names
from tests.system import RunningSystem

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
SERVICES = ("ingest", "evidence", "deadline", "notify", "submit")

pytestmark = pytest.mark.skipif(not shutil.which(PROMTOOL), reason="promtool (Debian's prometheus) is not installed")


@pytest.fixture(scope="module")
def scrapes(system: RunningSystem) -> dict[str, str]:
    demo = subprocess.run(
        [sys.executable, "-m", "deploy.demo", "--seller", f"VM{uuid.uuid4().hex[:6].upper()}", "--wait", "60"],
        cwd=REPO,
        env={**system.env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-2000:]
    texts: dict[str, str] = {}
    with httpx.Client(timeout=10) as client:
        refused = client.post(  # a webhook signed with nothing: counted as refused
            f"{system.url('ingest')}/v1/webhooks/coupang/V-NOBODY", content=b"{}", headers={"webhook-id": "msg_x"}
        )
        assert refused.status_code in (400, 401), refused.text
        for name, _ in system.ports.items():
            answer = client.get(f"{system.url(name)}/metrics")
            if name not in SERVICES and answer.status_code == 404:
                continue  # the portal simulator serves no metrics
            assert answer.status_code == 200, (name, answer.text[:500])
            assert answer.headers["content-type"].startswith("text/plain"), name
            texts[name] = answer.text
    assert set(SERVICES) <= set(texts)
    return texts


def test_promtool_finds_no_problem_in_any_services_metrics(scrapes: dict[str, str]) -> None:
    for name, text in scrapes.items():
        checked = subprocess.run(
            [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
        )
        assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), (
            f"{name}: {checked.stdout}{checked.stderr}"
        )


def test_the_traffic_shows_in_the_metrics(scrapes: dict[str, str]) -> None:
    m = {name: Scrape(text) for name, text in scrapes.items()}
    assert m["ingest"].value("dd_ingest_webhooks_total", outcome="accepted") >= 1
    assert m["ingest"].value("dd_ingest_webhooks_total", outcome="refused") >= 1
    assert m["ingest"].value("dd_ingest_webhook_refusals_total") >= 1
    assert m["submit"].value("dd_submit_submissions_total", outcome="receipted") >= 1
    assert m["submit"].value("dd_submit_verdicts_total", outcome="won") >= 1
    assert m["notify"].value("dd_notify_deliveries_total", outcome="delivered") >= 1
    for name in SERVICES:
        group = f"dd-{name}"
        assert m[name].value("dd_events_handled_total", consumergroup=group) >= 1, name
        lags = [s for s in m[name].samples if s.name == "kafka_consumergroup_lag"]
        assert lags and {s.labels["consumergroup"] for s in lags} == {group}, name
        assert m[name].value("dd_outbox_backlog") >= 0 and "dd_dlq_messages" in m[name].names(), name
    assert m["ingest"].value("dd_outbox_published_total", topic="dispute.received") >= 1


def test_every_metric_the_dashboard_and_the_rules_name_is_served(scrapes: dict[str, str]) -> None:
    served = set().union(*(Scrape(text).names() for text in scrapes.values()))
    used = referenced_metric_names()
    assert len(used) >= 20
    missing = {name: sorted(where) for name, where in used.items() if name not in served}
    assert not missing, f"named but served by no service: {missing}"
