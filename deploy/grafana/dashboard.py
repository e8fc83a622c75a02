"""The Grafana dashboard of Dispute Desk, written out as deploy/grafana/dispute-desk.json.

    python -m deploy.grafana.dashboard            # print it
    python -m deploy.grafana.dashboard --write    # rewrite deploy/grafana/dispute-desk.json

The JSON is generated so that its ids, grid positions and datasource references cannot drift;
tests/integration/ops/test_dashboard.py checks the committed file is this output, and that every
metric its expressions name is served by some service's live /metrics.

Every panel reads `${datasource}` (a Prometheus data source variable). `$service` is the scrape
target's `service` label (deploy/prometheus/prometheus.yml sets it): it narrows the backbone panels.
Replicas of one service report the same group lag, outbox and DLQ sizes (they read the same Kafka
group and tables), so those are `max`-ed over replicas, never summed (lag per partition first, then
summed per topic).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("dispute-desk.json")
UID = "dispute-desk"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
S = '{service=~"$service"}'  # the service filter of the backbone panels


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[tuple[str, str], ...]  # (expr, legend)
    description: str
    unit: str = "short"
    kind: str = "timeseries"  # or "stat", "bargauge"
    width: int = 8
    height: int = 8


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]
    collapsed: bool = False


ROWS: tuple[Row, ...] = (
    Row(
        "Backbone: Kafka consumers",
        (
            Panel(
                "Consumer lag per group and topic",
                (
                    (
                        f"sum by (consumergroup, topic) (max by (consumergroup, topic, partition)"
                        f" (kafka_consumergroup_lag{S}))",
                        "{{consumergroup}} {{topic}}",
                    ),
                ),
                "Messages not yet consumed by each service's group (dd-<service>), per topic. Normal: near 0, "
                "spikes that drain within seconds. A line that keeps rising is alert ConsumerLagGrowing.",
                width=12,
            ),
            Panel(
                "Events handled per second",
                (
                    (
                        f"sum by (consumergroup, outcome) (rate(dd_events_handled_total{S}[5m]))",
                        "{{consumergroup}} {{outcome}}",
                    ),
                ),
                "Consumed events by outcome: handled (parked ones too), duplicate (the inbox saw it before), "
                "dead_lettered. Normal: handled, a few duplicates after a restart or a replay.",
                unit="ops",
                width=12,
            ),
            Panel(
                "Handler latency (p50, p95, p99)",
                tuple(
                    (
                        f"histogram_quantile({q}, sum by (le, consumergroup) "
                        f"(rate(dd_handler_latency_seconds_bucket{S}[5m])))",
                        f"p{int(q * 100)} {{{{consumergroup}}}}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ),
                "Time to apply one fetched batch (claim in the inbox, handle, commit) per group. Normal: p95 "
                "well under 100 ms; evidence's checker and submit's package building run outside the handlers.",
                unit="s",
                width=12,
            ),
            Panel(
                "Parked events",
                (
                    (f"max by (service) (dd_parked_events{S})", "{{service}}"),
                    (f"max by (service) (dd_parked_oldest_age_seconds{S}) / 60", "{{service}} oldest (min)"),
                ),
                "Events waiting for the earlier fact of their dispute (an update before its case). Normal: 0, "
                "or a few for seconds while topics catch up with each other.",
                width=12,
            ),
        ),
    ),
    Row(
        "Backbone: outbox and dead letters",
        (
            Panel(
                "Outbox backlog",
                ((f"max by (service) (dd_outbox_backlog{S})", "{{service}}"),),
                "Rows written with a service's transaction and not yet published to Kafka. Normal: 0 between "
                "bursts; a burst drains in about a second.",
            ),
            Panel(
                "Oldest outbox row",
                ((f"max by (service) (dd_outbox_oldest_age_seconds{S})", "{{service}}"),),
                "Age of the oldest unpublished row. Normal: under a second. Rising with no publishing is alert "
                "OutboxRelayStalled.",
                unit="s",
            ),
            Panel(
                "Published and relay failures per second",
                (
                    (f"sum by (service) (rate(dd_outbox_published_total{S}[5m]))", "{{service}} published"),
                    (f"sum by (service) (rate(dd_relay_failures_total{S}[5m]))", "{{service}} relay failures"),
                    (f"sum by (service) (rate(dd_producer_replacements_total{S}[5m]))", "{{service}} new producers"),
                ),
                "Events the relays published, and relay attempts that left rows behind (Kafka or PostgreSQL away). "
                "Normal: failures 0.",
                unit="ops",
            ),
            Panel(
                "Dead-letter topics: messages held",
                ((f"max by (topic) (dd_dlq_messages{S})", "{{topic}}"),),
                "Messages retained in each <topic>.dlq (replayed ones too, until they are trimmed or expire). "
                "Normal: 0 everywhere. See docs/operating.md#dead-letters.",
                kind="bargauge",
                width=12,
            ),
            Panel(
                "Dead-lettered in the last hour",
                ((f"sum by (topic) (increase(dd_dlq_sent_total{S}[1h]))", "{{topic}}"),),
                "Messages the consumers gave up on (after DD_CONSUMER_MAX_ATTEMPTS), by source topic.",
                width=12,
            ),
        ),
    ),
    Row(
        "Disputes in (ingest)",
        (
            Panel(
                "Webhooks per second by outcome",
                (("sum by (outcome) (rate(dd_ingest_webhooks_total[5m]))", "{{outcome}}"),),
                "Signed Coupang webhooks: accepted, replayed (a repeated webhook-id, answered again), refused.",
                unit="reqps",
                width=12,
            ),
            Panel(
                "Webhook refusals by code",
                (("sum by (code) (rate(dd_ingest_webhook_refusals_total[5m]))", "{{code}}"),),
                "Refused webhooks by the problem code answered. invalid_signature from one seller usually means its "
                "ERP still signs with a rotated-out secret (docs/operating.md#webhook-signatures-refused).",
                unit="reqps",
                width=12,
            ),
        ),
    ),
    Row(
        "Deadlines and reminders",
        (
            Panel(
                "Reminders due, not fired yet",
                (
                    ("max(dd_deadline_reminders_due)", "due"),
                    ("max(dd_deadline_reminders_due_oldest_age_seconds)", "oldest wait (s)"),
                ),
                "Pending reminders whose time has come. Normal: 0 (the scheduler fires within a second).",
                width=6,
            ),
            Panel(
                "Reminders fired per hour by offset",
                (
                    ("sum by (offset) (increase(dd_deadline_reminders_fired_total[1h]))", "{{offset}}"),
                    ("sum(increase(dd_deadline_reminders_skipped_total[1h]))", "skipped"),
                ),
                "Reminders sent before each deadline (72h, 24h, 6h, 1h by default). Skipped ones were stale after "
                "an outage (a later reminder of the same dispute fired instead).",
                width=6,
            ),
            Panel(
                "Deadlines missed per day",
                (("sum(increase(dd_deadline_deadlines_missed_total[1d]))", "missed"),),
                "Open deadlines that passed with no submission. Every one is a dispute lost by default.",
                width=6,
            ),
            Panel(
                "Cases at risk: due within 6 h, no ready report",
                (("max by (report) (dd_submit_cases_at_risk)", "report {{report}}"),),
                "Open, unsubmitted cases whose deadline is less than 6 h away and whose evidence report is not "
                "ready (needs_fix) or missing (none). Normal: 0. Alert DeadlineNearWithoutReadyReport.",
                kind="stat",
                width=6,
            ),
        ),
    ),
    Row(
        "Submissions and verdicts (submit)",
        (
            Panel(
                "Submissions per hour by outcome",
                (("sum by (adapter, outcome) (increase(dd_submit_submissions_total[1h]))", "{{adapter}} {{outcome}}"),),
                "receipted: the portal gave a receipt; deferred: the portal was away, the reconciler completes it; "
                "refused: the portal said no (the seller fixes and submits again); manual sent: waiting for the "
                "WING receipt number.",
                width=12,
            ),
            Panel(
                "Verdicts per day by outcome",
                (("sum by (outcome) (increase(dd_submit_verdicts_total[1d]))", "{{outcome}}"),),
                "Verdicts recorded (won, lost, partial), from the portal's callback or the poller.",
                width=12,
            ),
        ),
    ),
    Row(
        "Notifications (notify)",
        (
            Panel(
                "Deliveries per second by channel and outcome",
                (("sum by (channel, outcome) (rate(dd_notify_deliveries_total[5m]))", "{{channel}} {{outcome}}"),),
                "Delivery attempts: delivered, retry (scheduled again), gone (410: channel disabled), dead.",
                unit="ops",
            ),
            Panel(
                "Delivery attempt latency (p95)",
                (
                    (
                        "histogram_quantile(0.95, sum by (le, channel)"
                        " (rate(dd_notify_attempt_latency_seconds_bucket[5m])))",
                        "p95 {{channel}}",
                    ),
                ),
                "The outbound call of one attempt (webhook, e-mail, robot). Normal: well under 1 s.",
                unit="s",
            ),
            Panel(
                "Notifications due and dead",
                (("max(dd_notify_due)", "due now"), ("max(dd_notify_dead)", "dead")),
                "Due: waiting to be sent now (normal: near 0). Dead: gave up after the retry horizon; a rising count "
                "is alert NotificationsDead.",
            ),
        ),
    ),
)


@dataclass
class _Layout:
    next_id: int = 1
    y: int = 0
    panels: list[dict[str, Any]] = field(default_factory=list)

    def id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def _panel(layout: _Layout, panel: Panel, x: int, y: int) -> dict[str, Any]:
    targets = [
        {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
        for i, (expr, legend) in enumerate(panel.exprs)
    ]
    built: dict[str, Any] = {
        "id": layout.id(),
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
    }
    if panel.kind in ("stat", "bargauge"):
        built["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
        built["fieldConfig"]["defaults"]["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
        }
    return built


def build() -> dict[str, Any]:
    layout = _Layout()
    for row in ROWS:
        layout.panels.append(
            {
                "id": layout.id(),
                "type": "row",
                "title": row.title,
                "collapsed": row.collapsed,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": layout.y},
                "panels": [],
            }
        )
        layout.y += 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, layout.y = 0, layout.y + line_height
                line_height = 0
            layout.panels.append(_panel(layout, panel, x, layout.y))
            x += panel.width
            line_height = max(line_height, panel.height)
        layout.y += line_height
    return {
        "uid": UID,
        "title": "Dispute Desk",
        "description": "Dispute Desk's five services: Kafka consumers, outbox, dead letters, webhooks, deadlines, "
        "submissions, verdicts and notifications. What normal looks like: docs/operating.md.",
        "tags": ["dispute-desk"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                    "regex": "",
                    "options": [],
                },
                {
                    "name": "service",
                    "label": "Service",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {"query": "label_values(dd_outbox_backlog, service)", "refId": "service"},
                    "definition": "label_values(dd_outbox_backlog, service)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                    "hide": 0,
                    "refresh": 2,
                    "sort": 1,
                    "regex": "",
                    "options": [],
                },
            ]
        },
        "panels": layout.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv[1:] == ["--write"]:
        PATH.write_text(render(), encoding="utf-8")
        return 0
    if argv[1:]:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
