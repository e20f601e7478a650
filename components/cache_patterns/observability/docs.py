"""The generated parts of docs/observability.md: every alert (from rules.CATALOGUE, the same text the
annotations carry), the Alertmanager inhibition rules, and every CloudWatch alarm (from cloudwatch's
alarm lists, verified or not).
`./run docs` (tools/docs.py) writes them between the page's markers; a test fails when page and code
disagree.
"""
from __future__ import annotations

from cache_patterns.observability import alertmanager, cloudwatch, rules

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def alert_table() -> str:
    out = ["| alert | severity | reads | generated for | what it means | what to do |", "|---|---|---|---|---|---|"]
    for d in rules.CATALOGUE.values():
        # The anchor is the fragment of the alert's runbook_url annotation.
        name = f'<a id="{d.anchor}"></a>`{d.name}`'
        out.append(f"| {name} | {d.severity} | {d.scope} | {_cell(d.applies)} | {_cell(d.meaning)} | "
                   f"{_cell(d.runbook)} |")
    return "\n".join(out) + "\n"


def _condition(a: cloudwatch.Alarm) -> str:
    op = {"GreaterThanThreshold": ">", "LessThanThreshold": "<"}[a.comparison]
    what = f"`{a.expression}` over {', '.join(f'{m} ({s})' for _, m, s in a.inputs)}" if a.expression \
        else f"`{a.metric}` {a.statistic}"
    threshold = int(a.threshold) if float(a.threshold).is_integer() else a.threshold
    return f"{what} {op} {threshold}, {a.datapoints} of {a.datapoints} x {a.period_s}s"


def alarm_table() -> str:
    out = ["| alarm | kind | condition | made by default | what it means | what to do |", "|---|---|---|---|---|---|"]
    rows = [("node-based (per member cluster)", a) for a in cloudwatch.node_alarms("noeviction", 1)]
    rows += [("node-based (per member cluster)", a) for a in cloudwatch.node_alarms("allkeys-lru", 1)
             if a.key == "eviction-churn"]
    rows += [("serverless", a) for a in cloudwatch.serverless_alarms("noeviction", 20, 100_000)]
    for kind, a in rows:
        default = "yes" if a.verified else f"no: unverified ({a.why_unverified}); `alarms.unverified: true`"
        out.append(f"| `{a.key}` | {kind} | {_cell(_condition(a))} | {_cell(default)} | {_cell(a.meaning)} | "
                   f"{_cell(a.runbook)} |")
    return "\n".join(out) + "\n"


def inhibit_snippet() -> str:
    return "```yaml\n" + alertmanager.config_snippet() + "```\n"


SECTIONS = {"alerts": alert_table, "alarms": alarm_table, "inhibit": inhibit_snippet}

