"""Running promtool on generated rules: the PrometheusRules a program run renders, unwrapped to rule
files, `promtool check rules --lint=all --lint-fatal`, and `promtool test rules` on test cases given
as Python data (their expected annotations expanded from the rules' own templates)."""
from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import need_binary
from tools import harness


def promtool() -> str:
    return need_binary("promtool")


def prometheus_rules(run: harness.Run) -> dict[str, list[dict]]:
    """`spec.groups` of every PrometheusRule of a run, by `<namespace>/<name>`."""
    return {f"{m['metadata']['namespace']}/{m['metadata']['name']}": harness.ints(m["spec"]["groups"])
            for m in run.manifests() if m["kind"] == "PrometheusRule"}


def jobs(run: harness.Run) -> dict[str, str]:
    """The job label each PodMonitor gives its targets (`<namespace>/<name>`, as the Prometheus
    Operator sets it), by the PodMonitor's role suffix (`redis`, `sentinel`)."""
    return {m["metadata"]["name"].rsplit("-", 1)[1]: f"{m['metadata']['namespace']}/{m['metadata']['name']}"
            for m in run.manifests() if m["kind"] == "PodMonitor"}


def write_rules(groups: list[dict], path: Path) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), "check", "rules", "--lint=all", "--lint-fatal", str(path)],
                          capture_output=True, text=True, timeout=120)


@dataclass
class Case:
    """One promtool test: input series, and at `eval_time` the alerts expected of `alert` (each as
    the labels the expression yields plus `value`, to expand the annotations)."""

    name: str
    alert: str
    series: list[tuple[str, str]]
    eval_time: str
    expect: list[dict] = field(default_factory=list)
    interval: str = "1m"


def _go_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _humanize_percentage(v: float) -> str:
    # Prometheus: fmt.Sprintf("%.4g%%", v*100)
    text = f"{v * 100:.4g}"
    return f"{text}%"


def expand(template: str, labels: dict, value: float) -> str:
    """The subset of Prometheus's alert templates the generated rules use."""
    def one(m: re.Match) -> str:
        expr = m.group(1).strip()
        if expr.startswith("$labels."):
            return str(labels.get(expr[len("$labels."):], ""))
        if expr == "$value":
            return _go_number(value)
        if expr == "$value | humanizePercentage":
            return _humanize_percentage(value)
        raise ValueError(f"template {expr!r} not handled by the test expander")
    return re.sub(r"\{\{(.*?)\}\}", one, template)


def rule_of(groups: list[dict], alert: str, index: int = 0) -> dict:
    found = [r for g in groups for r in g["rules"] if r.get("alert") == alert]
    assert found, f"no rule {alert} in the generated groups"
    return found[index]


def test_file(rule_file: Path, groups: list[dict], cases: list[Case], path: Path,
              evaluation_interval: str = "1m") -> Path:
    tests = []
    for case in cases:
        exp_alerts = []
        for e in case.expect:
            labels = {k: str(v) for k, v in e.items() if k not in ("value", "rule")}
            rule = rule_of(groups, case.alert, e.get("rule", 0))
            all_labels = {**labels, **{k: str(v) for k, v in rule.get("labels", {}).items()}}
            annotations = {k: expand(v, all_labels, e.get("value", math.nan)) for k, v in rule["annotations"].items()}
            exp_alerts.append({"exp_labels": all_labels, "exp_annotations": annotations})
        tests.append({
            "name": case.name, "interval": case.interval,
            "input_series": [{"series": s, "values": v} for s, v in case.series],
            "alert_rule_test": [{"eval_time": case.eval_time, "alertname": case.alert, "exp_alerts": exp_alerts}],
        })
    path.write_text(yaml.safe_dump({"rule_files": [str(rule_file)], "evaluation_interval": evaluation_interval,
                                    "tests": tests},
                                   sort_keys=False, width=200))
    return path


def run_tests(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=300)
