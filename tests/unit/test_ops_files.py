"""The Prometheus configuration, alert rules and Grafana dashboard under ``ops/``
load: ``promtool`` checks the rules and runs their unit tests
(``ops/prometheus/alerts_test.yml``) where it is installed (Debian's
``prometheus`` package); the YAML and JSON are parsed everywhere."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

OPS = Path(__file__).resolve().parents[2] / "ops"
PROMTOOL = shutil.which("promtool")
RULES = OPS / "prometheus" / "alerts.yml"
NEEDED = {  # the alerts: 库存预警, 预算监控, reservation errors, breaker open
    "FlashSaleStockLow",
    "PromotionBudgetHigh",
    "ReservationErrorRatioHigh",
    "CircuitBreakerOpen",
}


def test_alert_rules_parse_and_name_the_sales_alerts() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= NEEDED
    for rule in rules:
        assert rule["expr"].strip()
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"]


def test_prometheus_config_loads_the_rules_beside_it() -> None:
    config = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert config["scrape_configs"][0]["metrics_path"] == "/metrics"


def test_dashboard_is_grafana_json_with_the_sale_panels() -> None:
    dashboard = json.loads((OPS / "grafana" / "dashboards" / "pricing-sale.json").read_text())
    assert dashboard["uid"] == "pricing-sale"
    titles = " / ".join(p["title"] for p in dashboard["panels"])
    for word in ("latency", "GMV", "Discount", "Reservations", "stock", "budget", "breakers"):
        assert word in titles
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert "pricing_" in target["expr"]


@pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)
@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", str(RULES)],
        ["check", "config", str(OPS / "prometheus" / "prometheus.yml")],
        ["test", "rules", str(OPS / "prometheus" / "alerts_test.yml")],
    ],
    ids=["check-rules", "check-config", "test-rules"],
)
def test_promtool(args: list[str]) -> None:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
