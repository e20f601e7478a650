"""Placement as config: the levels merged in the documented order (maps key by key, the rest whole),
the defaults kept unless replaced, a selector-less term selecting the component's own pods, the
Redis pods' grace period held to the handover, the operators' fields and charts refusing what they
cannot carry, and bad values refused at once, each naming its key."""
from __future__ import annotations

import copy

import pytest

from cache_patterns import stack
from cache_patterns.config.errors import ConfigError
from cache_patterns.config.placement import Placement, RedisPlacement
from cache_patterns.core import placement as placing
from tools import harness

SELECTOR = {"app.kubernetes.io/name": "x", "app.kubernetes.io/component": "redis"}
TEMPLATE = {"metadata": {"labels": dict(SELECTOR)}, "spec": {"containers": [{"name": "c"}]}}


def placed(*levels: dict) -> placing.Placed:
    return placing.merge(*(Placement.model_validate(level) for level in levels))


def test_maps_merge_key_by_key_and_the_more_specific_level_wins():
    p = placed({"nodeSelector": {"pool": "cache", "arch": "arm64"}, "podLabels": {"team": "a"}},
               {"nodeSelector": {"pool": "big"}}, {"podLabels": {"tier": "1"}})
    assert p.node_selector == {"pool": "big", "arch": "arm64"}
    assert p.pod_labels == {"team": "a", "tier": "1"}


def test_lists_and_single_values_are_taken_whole_from_the_most_specific_level():
    stack_level = {"tolerations": [{"key": "a", "operator": "Exists"}], "priorityClassName": "low"}
    p = placed(stack_level, {"tolerations": [{"key": "b", "operator": "Exists"}]}, {})
    assert [t.key for t in p.tolerations] == ["b"] and p.priority_class_name == "low"
    assert placed(stack_level, {"tolerations": []}).tolerations == ()


def test_the_defaults_stay_unless_a_level_replaces_them():
    defaults = {"default_affinity": placing.host_anti_affinity(SELECTOR), "default_spread": placing.zone_spread(SELECTOR)}
    kept = placing.place(TEMPLATE, placed({"nodeSelector": {"pool": "cache"}}), SELECTOR, **defaults)["spec"]
    assert kept["affinity"] == defaults["default_affinity"] and kept["topologySpreadConstraints"] == defaults["default_spread"]
    off = placing.place(TEMPLATE, placed({"affinity": {}, "topologySpreadConstraints": []}), SELECTOR, **defaults)["spec"]
    assert "affinity" not in off and "topologySpreadConstraints" not in off
    # Nothing configured: the template as it was, no empty keys.
    assert placing.place(TEMPLATE, placed(), SELECTOR) == TEMPLATE


def test_a_term_without_label_selector_selects_the_component_own_pods():
    p = placed({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname"}]}},
        "topologySpreadConstraints": [{"topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "DoNotSchedule",
                                       "labelSelector": {"matchLabels": {"other": "pods"}}}]})
    spec = placing.place(TEMPLATE, p, SELECTOR)["spec"]
    term = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term == {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": SELECTOR}}
    # A selector given is kept as given.
    assert spec["topologySpreadConstraints"][0]["labelSelector"] == {"matchLabels": {"other": "pods"}}
    assert spec["topologySpreadConstraints"][0]["maxSkew"] == 1


def test_pull_secrets_and_pod_metadata_land_on_the_template():
    p = placed({"podAnnotations": {"a": "1"}, "podLabels": {"team": "x"}, "priorityClassName": "high"})
    out = placing.place(TEMPLATE, p, SELECTOR, pull_secrets=["reg", "reg", "other"])
    assert out["spec"]["imagePullSecrets"] == [{"name": "reg"}, {"name": "other"}]
    assert out["metadata"]["annotations"] == {"a": "1"} and out["metadata"]["labels"]["team"] == "x"
    assert out["spec"]["priorityClassName"] == "high"
    assert TEMPLATE["spec"] == {"containers": [{"name": "c"}]}, "the template passed in is not changed"


def render(config: dict) -> harness.Run:
    return harness.run("placed", config)


def one(run: harness.Run, kind: str, name: str) -> dict:
    (found,) = [m for m in run.manifests() if m["kind"] == kind and m["metadata"].get("name") == name]
    return found


STATEFULSET = {"cache-patterns:environment": "staging", "cache-patterns:namespace": "cache",
               "cache-patterns:caches": {"s": {"pattern": "statefulset", "persistence": "rdb", "storage": "1Gi"}}}


def with_cache(**keys) -> dict:
    cfg = copy.deepcopy(STATEFULSET)
    cfg["cache-patterns:caches"]["s"].update(keys)
    return cfg


def test_the_levels_reach_each_component_of_a_statefulset_cache():
    cfg = with_cache(placement={"nodeSelector": {"pool": "cache"},
                                "sentinel": {"nodeSelector": {"pool": "small"}},
                                "haproxy": {"priorityClassName": "edge"},
                                "redis": {"terminationGracePeriodSeconds": 200}})
    cfg["cache-patterns:placement"] = {"priorityClassName": "cache-critical", "nodeSelector": {"arch": "arm64"}}
    r = render(cfg)
    redis, sentinel = one(r, "StatefulSet", "placed-s")["spec"]["template"]["spec"], \
        one(r, "StatefulSet", "placed-s-sentinel")["spec"]["template"]["spec"]
    endpoint = next(m for m in r.manifests() if m["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert redis["nodeSelector"] == {"arch": "arm64", "pool": "cache"} and redis["terminationGracePeriodSeconds"] == 200
    assert sentinel["nodeSelector"] == {"arch": "arm64", "pool": "small"}
    assert redis["priorityClassName"] == sentinel["priorityClassName"] == "cache-critical"
    assert endpoint["priorityClassName"] == "edge"
    assert sentinel["terminationGracePeriodSeconds"] == 30


def test_the_grace_period_of_redis_pods_must_leave_the_handover_room():
    with pytest.raises(ConfigError) as err:
        stack.parse({"environment": "staging", "caches": {"s": {"pattern": "statefulset", "persistence": "rdb",
                                                                "storage": "1Gi", "placement": {"redis": {
                                                                    "terminationGracePeriodSeconds": 104}}}}}, "t")
    (key, message), = err.value.problems
    assert key == "caches.s.placement.redis.terminationGracePeriodSeconds"
    assert "at least 105" in message and "handover" in message and "final save" in message
    stack.parse({"environment": "staging", "caches": {"s": {"pattern": "statefulset", "placement": {
        "redis": {"terminationGracePeriodSeconds": 45}}}}}, "t")   # no persistence: 30 + 15


def test_bad_values_are_refused_at_once_each_naming_its_key():
    bad = {"environment": "staging", "caches": {"s": {"pattern": "sidecar"}},
           "placement": {"tolerations": [{"key": "dedicated", "operator": "Equals", "value": "cache"}],
                         "priorityClassName": "p" * 254},
           "images": {"haproxy": {"digest": "sha256:abc"}, "valkey-8.1": {"repository": "Not A Repo"}},
           "apps": [{"name": "a", "image": "ghcr.io/acme/a:1.0@sha256:123", "cache": "s"}]}
    with pytest.raises(ConfigError) as err:
        stack.parse(bad, "t")
    problems = dict(err.value.problems)
    assert set(problems) == {"placement.tolerations[0].operator", "placement.priorityClassName",
                             "images.haproxy.digest", "images.valkey-8.1.repository", "apps[a].image"}, problems
    assert "'Equals' is not one of Equal, Exists" in problems["placement.tolerations[0].operator"]
    assert "at most 253 characters" in problems["placement.priorityClassName"]
    assert "sha256: and 64 lower-case hex digits" in problems["images.haproxy.digest"]


@pytest.mark.parametrize("placement, key, fragment", [
    ({"tolerations": [{"operator": "Equal", "value": "x"}]}, "tolerations[0].operator", "needs operator Exists"),
    ({"tolerations": [{"key": "k", "operator": "Exists", "value": "x"}]}, "tolerations[0].value", "any value"),
    ({"tolerations": [{"key": "k", "tolerationSeconds": 5}]}, "tolerations[0].tolerationSeconds", "NoExecute"),
    ({"topologySpreadConstraints": [{"topologyKey": "z", "whenUnsatisfiable": "ScheduleAnyway", "minDomains": 2}]},
     "topologySpreadConstraints[0].minDomains", "DoNotSchedule"),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["a"]}]}]}}}},
     "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]"
     ".values", "one integer"),
    ({"podLabels": {"app.kubernetes.io/name": "x"}}, "podLabels.app.kubernetes.io/name", "reserved"),
])
def test_kubernetes_rules_inside_placement_are_checked(placement, key, fragment):
    with pytest.raises(ConfigError) as err:
        stack.parse({"environment": "staging", "caches": {"s": {"pattern": "sidecar"}}, "placement": placement}, "t")
    problems = dict(err.value.problems)
    assert fragment in problems.get(f"placement.{key}", ""), problems


@pytest.mark.parametrize("cache, operators, key, fragment", [
    ({"kind": "ot-cluster", "placement": {"sentinel": {"nodeSelector": {"a": "b"}}}}, {},
     "caches.c.placement.sentinel", "runs no Sentinel"),
    ({"kind": "ot-replication", "placement": {"sentinel": {"podLabels": {"a": "b"}}}}, {},
     "caches.c.placement.sentinel.podLabels", "whole cache"),
    ({"kind": "ot-replication", "placement": {"redis": {"podAnnotations": {"a": "b"}}}}, {},
     "caches.c.placement.redis.podAnnotations", "whole cache"),
    ({"kind": "ot-replication", "placement": {"podLabels": {"role": "x"}}}, {},
     "caches.c.placement.podLabels.role", "selects its pods by"),
    ({"kind": "ot-cluster", "placement": {"exporter": {"nodeSelector": {"a": "b"}}}}, {},
     "caches.c.placement.exporter", "exporter pod of its own"),
    ({"kind": "ot-replication"}, {"ot-container-kit": {"install": True, "version": "0.26.0", "placement": {
        "topologySpreadConstraints": [{"topologyKey": "z", "whenUnsatisfiable": "DoNotSchedule"}]}}},
     "operators.ot-container-kit.placement.topologySpreadConstraints", "no value for it"),
    ({"kind": "spotahome-failover"}, {"spotahome": {"install": True, "version": "3.3.0", "placement": {
        "podLabels": {"a": "b"}}}}, "operators.spotahome.placement.podLabels", "no value for it"),
])
def test_what_an_operator_cannot_carry_is_refused(cache, operators, key, fragment):
    cfg = {"environment": "staging", "caches": {"c": {"pattern": "operator", **cache}}, "operators": operators}
    with pytest.raises(ConfigError) as err:
        stack.parse(cfg, "t")
    problems = dict(err.value.problems)
    assert fragment in problems.get(key, ""), problems


def test_a_spotahome_install_takes_one_pull_secret():
    cfg = {"environment": "staging", "caches": {"c": {"pattern": "operator", "kind": "spotahome-failover"}},
           "operators": {"spotahome": {"install": True, "version": "3.3.0"}},
           "images": {"pullSecrets": ["a", "b"]}}
    with pytest.raises(ConfigError) as err:
        stack.parse(cfg, "t")
    assert "once per Secret" in dict(err.value.problems)["images.pullSecrets"]
    cfg["images"]["pullSecrets"] = ["a"]
    stack.parse(cfg, "t")


def test_redis_placement_is_the_only_one_with_a_grace_period():
    assert "terminationGracePeriodSeconds" in RedisPlacement.config_keys()
    assert "terminationGracePeriodSeconds" not in Placement.config_keys()


def test_the_statefulset_pods_keep_their_default_spread_and_anti_affinity():
    r = render(STATEFULSET)
    for name, role in (("placed-s", "redis"), ("placed-s-sentinel", "sentinel")):
        spec = one(r, "StatefulSet", name)["spec"]["template"]["spec"]
        selector = {"app.kubernetes.io/name": "placed-s", "app.kubernetes.io/instance": "placed-s",
                    "app.kubernetes.io/component": role}
        assert spec["affinity"] == placing.host_anti_affinity(selector)
        assert spec["topologySpreadConstraints"] == placing.zone_spread(selector)
