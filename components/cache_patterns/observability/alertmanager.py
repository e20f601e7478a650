"""Alertmanager inhibition rules, so one incident of a cache pages once.

Shipped as a config snippet (docs/observability.md shows it; `config_snippet()` returns it) to merge
into the Alertmanager's own `inhibit_rules`, not as an AlertmanagerConfig resource: that CRD is not
among those this project validates against (../shared/schemas/crds), and the Prometheus Operator adds
a `namespace` matcher to an AlertmanagerConfig's rules, which is what `equal` says here anyway.

Every rule needs `namespace`, `stack` and `cache` to be equal (every alert carries all three: see
rules.py) and only touches alerts that have a `cache` label, so other workloads' alerts in the same
namespace are left alone, and one cache's incident never hides another cache's.
"""
from __future__ import annotations

import yaml

EQUAL = ["namespace", "stack", "cache"]
OURS = 'cache=~".+"'


def inhibit_rules() -> list[dict]:
    return [
        # No primary (writes fail): every other alert of the cache is its cause or its consequence
        # (a server down, replicas without a primary, Sentinels seeing it down, quorum), and the
        # page's runbook says where to look.
        {"source_matchers": [OURS, 'alertname="RedisMissingPrimary"'],
         "target_matchers": [OURS, 'alertname!="RedisMissingPrimary"'], "equal": list(EQUAL)},
        # No Sentinel can authorize a failover: the per-Sentinel alerts say it again, one per Sentinel.
        {"source_matchers": [OURS, 'alertname="RedisSentinelQuorumLost"'],
         "target_matchers": [OURS, 'component="sentinel"', 'alertname!="RedisSentinelQuorumLost"'],
         "equal": list(EQUAL)},
        # While a cache pages, its warnings are noise.
        {"source_matchers": [OURS, 'severity="critical"'], "target_matchers": [OURS, 'severity="warning"'],
         "equal": list(EQUAL)},
    ]


def config_snippet() -> str:
    """The `inhibit_rules` block of an Alertmanager configuration (alertmanager.yml, or the
    `alertmanager.config` of kube-prometheus-stack's values)."""
    return yaml.safe_dump({"inhibit_rules": inhibit_rules()}, sort_keys=False, width=120)
