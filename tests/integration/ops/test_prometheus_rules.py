"""The alerting rules: valid for promtool, each alert firing on its series and not on a calm one
(alerts_test.yml), each with a severity, a summary, a description and a runbook that exists."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.scrape import REPO, RULES

PROMETHEUS = REPO / "deploy" / "prometheus"
OPERATING = REPO / "docs" / "operating.md"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

pytestmark = pytest.mark.skipif(not shutil.which(PROMTOOL), reason="promtool (Debian's prometheus) is not installed")


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], cwd=PROMETHEUS, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def _alerts() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, spaces to hyphens, punctuation dropped."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_promtool_checks_the_rules_and_the_example_config() -> None:
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in rules.stdout
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_alert_fires_on_its_series_and_not_on_a_calm_one() -> None:
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    cases = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    checks = [check for case in cases for check in case.get("alert_rule_test", [])]
    for alert in _alerts():
        mine = [c for c in checks if c["alertname"] == alert["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{alert['alert']}: no test in which it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{alert['alert']}: no test in which it stays quiet"


def test_a_broken_expectation_fails_promtool() -> None:
    """The unit tests can fail: the same file with one alert expected on the calm series does."""
    cases = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    quiet = next(c for t in cases["tests"] for c in t["alert_rule_test"] if not c["exp_alerts"])
    quiet["exp_alerts"] = [{"exp_labels": {"severity": "warning"}}]
    broken = PROMETHEUS / ".alerts_test_broken.yml"
    broken.write_text(yaml.safe_dump(cases))
    try:
        assert promtool("test", "rules", broken.name).returncode != 0
    finally:
        broken.unlink()


def test_each_alert_has_a_severity_a_summary_a_description_and_a_runbook_section() -> None:
    anchors = _anchors(OPERATING.read_text(encoding="utf-8"))
    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning", "info"), name
        notes = alert["annotations"]
        assert notes["summary"].strip() and len(notes["description"]) > 40, name
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page.endswith("/docs/operating.md"), name
        assert anchor in anchors, f"{name}: docs/operating.md has no section #{anchor}"
