"""The Grafana dashboard: the generator's output, and a sound Grafana 10/11 document (every panel on
`${datasource}` with PromQL targets, unique ids, inside the 24-column grid, the two variables)."""

from __future__ import annotations

import json

from deploy.grafana import dashboard
from tests.scrape import DASHBOARD, METRIC_NAME, dashboard_exprs

# Grafana 10.0 writes schemaVersion 38, 11.x writes 39 to 41.
GRAFANA_10_11 = range(38, 42)
WANTED = {  # what the dashboard must show (issue 21), by a metric each
    "consumer lag": "kafka_consumergroup_lag",
    "outbox backlog": "dd_outbox_backlog",
    "outbox oldest age": "dd_outbox_oldest_age_seconds",
    "DLQ counts": "dd_dlq_messages",
    "handler latency": "dd_handler_latency_seconds_bucket",
    "webhook rates": "dd_ingest_webhooks_total",
    "webhook rejections": "dd_ingest_webhook_refusals_total",
    "reminders due": "dd_deadline_reminders_due",
    "reminders fired": "dd_deadline_reminders_fired_total",
    "submissions": "dd_submit_submissions_total",
    "verdicts": "dd_submit_verdicts_total",
    "deliveries": "dd_notify_deliveries_total",
    "dead notifications": "dd_notify_dead",
}


def _load() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_the_committed_dashboard_is_the_generators_output() -> None:
    assert DASHBOARD.read_text(encoding="utf-8") == dashboard.render(), (
        "deploy/grafana/dispute-desk.json is stale: python -m deploy.grafana.dashboard --write"
    )


def test_the_dashboard_is_a_sound_grafana_document() -> None:
    doc = _load()
    assert doc["schemaVersion"] in GRAFANA_10_11 and doc["uid"] and doc["title"]
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["service"]["type"] == "query" and variables["service"]["datasource"]["uid"] == "${datasource}"

    panels = doc["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    rows = [p for p in panels if p["type"] == "row"]
    shown = [p for p in panels if p["type"] != "row"]
    assert len(rows) >= 5 and len(shown) >= 15
    for panel in shown:
        where = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert panel["type"] in ("timeseries", "stat", "bargauge", "gauge", "table"), where
        assert panel["targets"], where
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), where
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}" and target["expr"].strip(), where
            assert METRIC_NAME.search(target["expr"]), f"{where}: {target['expr']} names no metric of ours"
            assert target["expr"].count("(") == target["expr"].count(")"), f"{where}: {target['expr']}"
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, where
        assert panel["description"], where


def test_the_panels_do_not_overlap() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in _load()["panels"]:
        g = panel["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    exprs = " ".join(dashboard_exprs())
    missing = {what: metric for what, metric in WANTED.items() if metric not in METRIC_NAME.findall(exprs)}
    assert not missing
