"""The engine tier's own logic, without an engine: how it reads the engine's event log and how it
compares a live object with the render (a comparison that passed everything would prove nothing)."""
from __future__ import annotations

import json

from e2e import engine, live


def test_a_live_object_with_server_defaults_matches_its_render():
    want = {"containers": [{"name": "app", "image": "a:1", "ports": [{"containerPort": 8080}]}]}
    have = {"containers": [{"name": "app", "image": "a:1", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "terminationMessagePath": "/dev/termination-log"}], "dnsPolicy": "ClusterFirst"}
    assert live.subset_problems(want, have) == []


def test_every_difference_from_the_render_is_named():
    want = {"containers": [{"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]}],
            "volumes": [{"name": "conf"}]}
    have = {"containers": [{"name": "app", "image": "a:2"}], "volumes": []}
    problems = live.subset_problems(want, have)
    assert ".containers[0].image: rendered 'a:1', live 'a:2'" in problems
    assert any(p.startswith(".containers[0].env: rendered") and "absent live" in p for p in problems)
    assert ".volumes: rendered 1 items, live has []" in problems


def test_mock_auto_names_are_mapped_to_live_names_anywhere_in_a_manifest():
    manifest = {"spec": {"volumes": [{"configMap": {"name": "conf-1234abcd"}}], "env": [{"value": "keep"}]}}
    assert live.rename(manifest, {"conf-1234abcd": "conf-9f8e7d6c"}) == {
        "spec": {"volumes": [{"configMap": {"name": "conf-9f8e7d6c"}}], "env": [{"value": "keep"}]}}


def test_steps_come_from_the_event_log_with_their_last_operation(tmp_path):
    urn_a = "urn:pulumi:dev::cache-patterns::kubernetes:apps/v1:Deployment::a"
    urn_b = "urn:pulumi:dev::cache-patterns::kubernetes:core/v1:ConfigMap::b"
    events = [
        {"resourcePreEvent": {"metadata": {"op": "update", "urn": urn_a, "type": "kubernetes:apps/v1:Deployment",
                                           "diffs": ["spec"]}}},
        {"resourcePreEvent": {"metadata": {"op": "replace", "urn": urn_b, "type": "kubernetes:core/v1:ConfigMap",
                                           "diffs": ["data"], "keys": ["data"]}}},
        {"diagnosticEvent": {"severity": "warning", "urn": urn_a, "message": "slow"}},
        {"diagnosticEvent": {"severity": "info", "message": "chatter"}},
    ]
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    steps, diags = engine._read_events(log)
    result = engine.Result(command="up", code=0, output="", steps=steps)
    assert result.replaced == {urn_b}
    assert [s.urn for s in result.ops("update")] == [urn_a]
    assert {s.urn: s.replaces for s in result.steps} == {urn_a: (), urn_b: ("data",)}
    assert diags == [f"warning: {urn_a}: slow"]


def test_state_names_are_read_for_kubernetes_objects_only():
    resources = [
        {"urn": "u1", "custom": True, "type": "kubernetes:core/v1:Secret",
         "outputs": {"kind": "Secret", "metadata": {"name": "s-1a2b3c4d", "namespace": "shop"}}},
        {"urn": "u2", "custom": True, "type": "kubernetes:core/v1:Namespace",
         "outputs": {"kind": "Namespace", "metadata": {"name": "shop"}}},
        {"urn": "u3", "custom": True, "type": "random:index/randomPassword:RandomPassword", "outputs": {}},
        {"urn": "u4", "custom": True, "type": "kubernetes:helm.sh/v3:Release", "outputs": {"name": "x"}},
    ]
    assert live.live_names(resources) == {"u1": live.Ref("Secret", "shop", "s-1a2b3c4d"),
                                          "u2": live.Ref("Namespace", None, "shop")}


def test_engine_urns_are_compared_in_the_mocks_form():
    stack = "urn:pulumi:dev::cache-patterns::"
    assert live.mock_urn(stack + "kubernetes:core/v1:Namespace::ns") == \
        stack + "pulumi:pulumi:Stack$kubernetes:core/v1:Namespace::ns"
    assert live.mock_urn(stack + "a:index:A$a:index:B$kubernetes:v1:ConfigMap::c") == stack + "a:index:B$kubernetes:v1:ConfigMap::c"
    assert live.mock_urn(stack + "a:index:A$kubernetes:v1:ConfigMap::c") == stack + "a:index:A$kubernetes:v1:ConfigMap::c"
