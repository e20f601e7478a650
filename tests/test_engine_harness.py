"""The engine tier's own logic, without an engine: how it reads the engine's event log and how it
compares a live object with the render (a comparison that passed everything would prove nothing)."""
from __future__ import annotations

import base64
import json

from e2e import engine, live
from tests.cluster import kube


def compare(rendered: dict, stored: dict) -> list[str]:
    """What the engine tier compares for one object (e2e/scenarios/test_stacks.py: compare_with_render)."""
    return kube.rewritten(live.secret_keys_only(kube.as_stored(rendered)), live.secret_keys_only(stored))


def test_a_live_object_with_server_defaults_and_owned_fields_matches_its_render():
    want = {"kind": "Service", "metadata": {"name": "s", "labels": {"a": "b"}},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"a": "b"}}}
    have = {"kind": "Service", "metadata": {"name": "s", "labels": {"a": "b"}, "uid": "u", "resourceVersion": "9",
                                            "managedFields": [{"manager": "pulumi"}]},
            "spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}], "selector": {"a": "b"},
                     "clusterIP": "10.96.0.10"}, "status": {"loadBalancer": {}}}
    assert compare(want, have) == []


def test_every_difference_from_the_render_is_named_in_any_kind():
    want = {"kind": "NetworkPolicy", "metadata": {"name": "n"},
            "spec": {"ingress": [{"ports": [{"port": 26379}]}], "policyTypes": ["Ingress"]}}
    have = {"kind": "NetworkPolicy", "metadata": {"name": "n"},
            "spec": {"ingress": [{"ports": [{"port": 6379}]}], "policyTypes": ["Ingress", "Egress"]}}
    assert compare(want, have) == ["spec.ingress[0].ports[0].port: sent 26379, stored 6379",
                                   "spec.policyTypes: sent 1 item(s), stored ['Ingress', 'Egress']"]


def test_a_secret_compares_by_key_not_by_value():
    rendered = {"kind": "Secret", "metadata": {"name": "x"}, "stringData": {"password": "placeholder"}}
    stored = {"kind": "Secret", "metadata": {"name": "x"}, "data": {"password": "Z2VuZXJhdGVk"}}
    assert compare(rendered, stored) == []
    assert compare(rendered, {**stored, "data": {"user-app": "Z2VuZXJhdGVk"}}) == ["data.password: sent '<value>', stored None"]


def test_a_password_is_found_in_any_file_of_the_backend_in_every_form(tmp_path):
    pw = "Ab3dEfGh9JkLmNoPqRsTuVwXyZ0123456789abcdefghijKL"
    history = tmp_path / ".pulumi" / "history" / "p" / "s"
    history.mkdir(parents=True)
    inner = json.dumps({"rediss://h:6379": pw})
    (history / "s-1.history.json").write_text(json.dumps({"data": base64.b64encode(inner.encode()).decode()}))
    (tmp_path / "clean.json").write_text(json.dumps({"ciphertext": "v1:" + base64.b64encode(b"x" * 90).decode()}))
    # An alphanumeric password reads the same plain and escaped; one with a quote does not.
    quoted = 'p"w\\' + pw
    (tmp_path / "escaped.json").write_text(json.dumps(json.dumps({"k": quoted})))
    assert sorted(live.backend_leaks(tmp_path, {"pw": pw, "quoted": quoted})) == sorted([
        "pw (base64) in .pulumi/history/p/s/s-1.history.json",
        "pw (plain) in escaped.json", "pw (JSON-escaped) in escaped.json", "pw (doubly JSON-escaped) in escaped.json",
        "quoted (doubly JSON-escaped) in escaped.json"])
    assert live.backend_leaks(tmp_path, {"other": "Zz" * 24}) == []


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


def test_only_the_form_of_a_binding_checksum_is_compared():
    def deployment(checksum):
        return {"kind": "Deployment", "spec": {"template": {"metadata": {"annotations": {
            "cache-patterns.io/binding-checksum": checksum, "other": "x"}}, "spec": {}}}}
    a, b = deployment("a" * 64), deployment("b" * 64)
    assert compare(live.checksum_masked(a), live.checksum_masked(b)) == []
    assert compare(live.checksum_masked(a), live.checksum_masked(deployment("not a sha256"))) != []
    assert live.checksum_masked(a)["spec"]["template"]["metadata"]["annotations"]["other"] == "x"
