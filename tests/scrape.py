"""A service's /metrics, read the way Prometheus reads it (prometheus_client's own text parser), and the
metric names the dashboard and the alerting rules refer to."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "deploy" / "grafana" / "dispute-desk.json"
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
# Every metric of ours is dd_* or kafka_* (kafka_exporter's lag names); labels and functions never are.
METRIC_NAME = re.compile(r"\b(?:dd|kafka)_[a-z0-9_]+\b")
# The series names a family of each type exposes, beyond its own name.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gauge": (),
}


class Scrape:
    """One scrape's samples: `value(name, **labels)` is the sum of the matching samples, 0 when absent."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = list(text_string_to_metric_families(text))
        self.samples = [s for family in self.families for s in family.samples]

    def value(self, name: str, **labels: str) -> float:
        found = [
            s.value for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(found)

    def names(self) -> set[str]:
        """Every series name this scrape can hold, also of families declared with no sample yet (a
        labelled counter before its first increment shows only its HELP and TYPE)."""
        names = {s.name for s in self.samples}
        for family in self.families:
            names.add(family.name)
            names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
        return names


async def scrape(client: httpx.AsyncClient) -> Scrape:
    answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    return Scrape(answer.text)


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v.get("definition")]
    return exprs


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def referenced_metric_names() -> dict[str, set[str]]:
    """{metric name: where it is used} over the dashboard's expressions and the rules'."""
    used: dict[str, set[str]] = {}
    for where, exprs in (("dashboard", dashboard_exprs()), ("alerts.yml", rule_exprs())):
        for expr in exprs:
            for name in METRIC_NAME.findall(expr):
                used.setdefault(name, set()).add(where)
    return used
