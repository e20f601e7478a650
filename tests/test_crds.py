"""tools/crds.py, the offline CRD validator: each structural-schema rule on a small synthetic CRD (a
document that passes and one that fails), the index (recursive, `kind: List`, served versions), and the
real operator CRDs rejecting the blog post's invented fields."""
from __future__ import annotations

import pytest
import yaml

from tools import crds

GROUP = "example.test"


def crd(spec_schema: dict, *, kind: str = "Widget", versions: tuple[tuple[str, bool], ...] = (("v1", True),),
        scope: str = "Namespaced", root_extra: dict | None = None) -> dict:
    """A CustomResourceDefinition whose `spec` has the schema given."""
    root = {"type": "object", "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                             "metadata": {"type": "object"}, "spec": spec_schema},
            **(root_extra or {})}
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {"group": GROUP, "scope": scope, "names": {"kind": kind, "plural": plural},
                 "versions": [{"name": v, "served": served, "storage": i == 0,
                               "schema": {"openAPIV3Schema": root}} for i, (v, served) in enumerate(versions)]},
    }


def index_of(tmp_path, *docs: dict) -> crds.Index:
    (tmp_path / "crds.yaml").write_text(yaml.safe_dump_all(docs))
    return crds.load(tmp_path)


def widget(spec, name="w", version="v1", kind="Widget", **meta) -> dict:
    return {"apiVersion": f"{GROUP}/{version}", "kind": kind, "metadata": {"name": name, **meta}, "spec": spec}


def problems(tmp_path, spec_schema: dict, spec) -> list[str]:
    return crds.validate(widget(spec), index_of(tmp_path, crd(spec_schema)))


def obj(props: dict, **extra) -> dict:
    return {"type": "object", "properties": props, **extra}


# (rule, schema of spec, a spec that passes, a spec that fails, text the failure names)
RULES = [
    ("unknown field", obj({"size": {"type": "integer"}}), {"size": 1}, {"size": 1, "sise": 2},
     "spec.sise: unknown field"),
    ("type", obj({"size": {"type": "integer"}}), {"size": 3}, {"size": "3"}, "spec.size: must be of type integer"),
    ("integer rejects a fraction", obj({"size": {"type": "integer"}}), {"size": 3.0}, {"size": 3.5},
     "must be of type integer"),
    ("boolean is not an integer", obj({"size": {"type": "integer"}}), {"size": 0}, {"size": False},
     "must be of type integer"),
    ("required", obj({"size": {"type": "integer"}}, required=["size"]), {"size": 1}, {},
     "spec.size: missing required field"),
    ("enum", obj({"mode": {"type": "string", "enum": ["a", "b"]}}), {"mode": "a"}, {"mode": "c"},
     "'c' is not one of 'a', 'b'"),
    ("int32 range", obj({"n": {"type": "integer", "format": "int32"}}), {"n": 2**31 - 1}, {"n": 2**31},
     "out of the int32 range"),
    ("int64 range", obj({"n": {"type": "integer", "format": "int64"}}), {"n": 2**40}, {"n": 2**63},
     "out of the int64 range"),
    ("minimum", obj({"n": {"type": "integer", "minimum": 1}}), {"n": 1}, {"n": 0}, "must be >= 1"),
    ("maximum", obj({"n": {"type": "integer", "maximum": 100}}), {"n": 100}, {"n": 101}, "must be <= 100"),
    ("exclusive minimum", obj({"n": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}), {"n": 0.1},
     {"n": 0}, "must be > 0"),
    ("pattern", obj({"s": {"type": "string", "pattern": "^[a-z]+$"}}), {"s": "abc"}, {"s": "ABC"},
     "does not match the pattern"),
    ("maxLength", obj({"s": {"type": "string", "maxLength": 3}}), {"s": "abc"}, {"s": "abcd"},
     "longer than 3 characters"),
    ("int-or-string takes both", obj({"q": {"x-kubernetes-int-or-string": True,
                                            "anyOf": [{"type": "integer"}, {"type": "string"}]}}),
     {"q": "500m"}, {"q": 0.5}, "spec.q: must be an integer or a string, got 0.5"),
    ("int-or-string pattern applies to strings", obj({"q": {
        "x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE])?$"}}),
     {"q": 2}, {"q": "two"}, "does not match the pattern"),
    ("nullable", obj({"a": {"type": "string", "nullable": True}, "b": {"type": "string"}}), {"a": None},
     {"b": None}, "spec.b: null is not allowed"),
    ("preserve-unknown-fields", obj({"free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                     "strict": {"type": "object"}}),
     {"free": {"anything": {"goes": 1}}}, {"strict": {"anything": 1}}, "spec.strict.anything: unknown field"),
    ("additionalProperties schema", obj({"m": {"type": "object", "additionalProperties": {"type": "string"}}}),
     {"m": {"a": "x"}}, {"m": {"a": 1}}, "spec.m.a: must be of type string"),
    ("list-type set", obj({"l": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}}),
     {"l": ["a", "b"]}, {"l": ["a", "a"]}, "spec.l[1]: duplicate 'a' in a list of type set"),
    ("list-type map", obj({"l": {"type": "array", "x-kubernetes-list-type": "map",
                                 "x-kubernetes-list-map-keys": ["name"],
                                 "items": obj({"name": {"type": "string"}, "v": {"type": "integer"}},
                                              required=["name"])}}),
     {"l": [{"name": "a", "v": 1}, {"name": "b", "v": 1}]}, {"l": [{"name": "a", "v": 1}, {"name": "a", "v": 2}]},
     "duplicate entry (name='a') in a list of type map"),
    ("list-type atomic allows duplicates", obj({"l": {"type": "array", "items": {"type": "string"},
                                                       "x-kubernetes-list-type": "atomic"}}),
     {"l": ["a", "a"]}, {"l": [1]}, "spec.l[0]: must be of type string"),
    ("embedded resource", obj({"tpl": {"type": "object", "x-kubernetes-embedded-resource": True,
                                       "properties": {"spec": {"type": "object",
                                                               "x-kubernetes-preserve-unknown-fields": True}}}}),
     {"tpl": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "spec": {"x": 1}}},
     {"tpl": {"metadata": {"name": "data"}, "spec": {}}}, "spec.tpl.apiVersion: an embedded resource needs apiVersion"),
    ("embedded resource metadata is ObjectMeta", obj({"tpl": {"type": "object", "x-kubernetes-embedded-resource": True}}),
     {"tpl": {"apiVersion": "v1", "kind": "X", "metadata": {"labels": {"a": "b"}}}},
     {"tpl": {"apiVersion": "v1", "kind": "X", "metadata": {"lables": {"a": "b"}}}}, "spec.tpl.metadata.lables: unknown field"),
    ("items", obj({"l": {"type": "array", "items": obj({"n": {"type": "integer"}})}}), {"l": [{"n": 1}]},
     {"l": [{"n": 1}, {"m": 1}]}, "spec.l[1].m: unknown field"),
    ("date-time format", obj({"t": {"type": "string", "format": "date-time"}}), {"t": "2026-01-02T03:04:05Z"},
     {"t": "yesterday"}, "is not an RFC 3339 date-time"),
    ("allOf", obj({"n": {"type": "integer", "allOf": [{"minimum": 1}, {"maximum": 5}]}}), {"n": 3}, {"n": 9},
     "must be <= 5"),
]


@pytest.mark.parametrize("rule,schema,good,bad,message", RULES, ids=[r[0] for r in RULES])
def test_each_schema_rule_passes_a_good_document_and_names_the_path_of_a_bad_one(tmp_path, rule, schema, good, bad,
                                                                                  message):
    assert problems(tmp_path, schema, good) == []
    found = problems(tmp_path, schema, bad)
    assert found and all(p.startswith("Widget w: ") for p in found), found
    assert any(message in p for p in found), found


def test_unknown_top_level_field_is_rejected_and_the_root_may_preserve_unknown_fields(tmp_path):
    index = index_of(tmp_path, crd(obj({})))
    assert crds.validate({**widget({}), "extra": 1}, index) == ["Widget w: extra: unknown field (not in the CRD "
                                                                 "schema: the API server would silently drop it)"]
    open_root = index_of(tmp_path, crd(obj({}), root_extra={"x-kubernetes-preserve-unknown-fields": True}))
    assert crds.validate({**widget({}), "extra": 1}, open_root) == []


@pytest.mark.parametrize("name,ok", [("cache-1", True), ("a.b-c", True), ("x" * 253, True), ("Cache", False),
                                     ("-cache", False), ("cache_1", False), ("x" * 254, False), ("", False)])
def test_metadata_name_must_be_a_dns_1123_subdomain(tmp_path, name, ok):
    found = crds.validate(widget({}, name=name), index_of(tmp_path, crd(obj({}))))
    assert (found == []) == ok, found
    if not ok:
        assert "metadata.name" in found[0]


def test_metadata_is_checked_as_object_meta(tmp_path):
    index = index_of(tmp_path, crd(obj({})))
    assert crds.validate(widget({}, namespace="team-a", labels={"app.kubernetes.io/name": "w"}), index) == []
    found = crds.validate(widget({}, namespace="Team_A", labels={"bad key!": "x"}, lables={}), index)
    assert any("metadata.namespace" in p for p in found)
    assert any("metadata.labels: 'bad key!' is not a valid label key" in p for p in found)
    assert any("metadata.lables: unknown field" in p for p in found)
    cluster_scoped = index_of(tmp_path, crd(obj({}), scope="Cluster"))
    assert any("cluster-scoped" in p for p in crds.validate(widget({}, namespace="team-a"), cluster_scoped))


def test_only_served_versions_validate_and_unknown_kinds_are_reported_not_passed(tmp_path):
    index = index_of(tmp_path, crd(obj({"a": {"type": "string"}}), versions=(("v2", True), ("v1", False))))
    assert crds.validate(widget({"a": "x"}, version="v2"), index) == []
    (served,) = crds.validate(widget({"a": "x"}, version="v1"), index)
    assert "apiVersion example.test/v1 is not served" in served and "served: example.test/v2" in served
    (unknown,) = crds.validate(widget({}, kind="Gadget", version="v2"), index)
    assert "no CRD" in unknown and "cannot be validated" in unknown and "Widget" in unknown


def test_load_reads_folders_recursively_and_kubectl_list_output(tmp_path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "one.yml").write_text(yaml.safe_dump(crd(obj({}), kind="One")))
    # What `kubectl get crd NAME1 NAME2 -o yaml` prints: a List of CRDs.
    listing = {"apiVersion": "v1", "kind": "List", "items": [crd(obj({}), kind="Two"), crd(obj({}), kind="Three")]}
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(listing))
    (tmp_path / "notes.txt").write_text("not yaml: [")
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment"}))
    index = crds.load(tmp_path)
    assert {k for _, k in index.versions} == {"One", "Two", "Three"}


# ---- the real operator CRDs -------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_index(crd_index) -> crds.Index:
    return crd_index


def test_the_real_folder_holds_the_operator_kinds_at_the_pinned_versions(real_index):
    assert {("redis.redis.opstreelabs.in/v1beta2", k) for k in ("RedisReplication", "RedisCluster", "RedisSentinel")} \
        <= set(real_index.versions)
    assert ("databases.spotahome.com/v1", "RedisFailover") in real_index.versions


def test_the_blog_posts_operator_example_is_rejected(real_index):
    """The blog's manifest: `databases.spotahome.com/v1` has no RedisCluster, and OT's RedisCluster
    has neither numberOfMasters nor replicasPerMaster (it has clusterSize and redisFollower.replicas)."""
    blog_spec = {"numberOfMasters": 3, "replicasPerMaster": 1, "image": "redis:7-alpine",
                 "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}},
                 "storage": {"persistentVolumeClaim": {"metadata": {"name": "redis-data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}}}}
    blog = {"apiVersion": "databases.spotahome.com/v1", "kind": "RedisCluster",
            "metadata": {"name": "production-cache"}, "spec": blog_spec}
    (problem,) = crds.validate(blog, real_index)
    assert "no CRD" in problem and "RedisFailover" in problem
    as_ot = {**blog, "apiVersion": "redis.redis.opstreelabs.in/v1beta2",
             "spec": {**blog_spec, "clusterSize": 3, "kubernetesConfig": {"image": "quay.io/opstree/redis:v7.0.15"}}}
    found = crds.validate(as_ot, real_index)
    for field in ("numberOfMasters", "replicasPerMaster", "image", "storage.persistentVolumeClaim"):
        assert any(f"spec.{field}: unknown field" in p for p in found), (field, found)
    assert len(found) == 4, found


def test_a_bare_float_cpu_and_a_missing_required_field_are_rejected_by_the_real_crd(real_index):
    rr = {"apiVersion": "redis.redis.opstreelabs.in/v1beta2", "kind": "RedisReplication", "metadata": {"name": "r"},
          "spec": {"kubernetesConfig": {"image": "quay.io/opstree/redis:v7.0.15",
                                        "resources": {"requests": {"cpu": 0.5}}}}}
    found = crds.validate(rr, real_index)
    assert any("spec.clusterSize: missing required field" in p for p in found)
    assert any("spec.kubernetesConfig.resources.requests.cpu: must be an integer or a string" in p for p in found)
    rr["spec"].update(clusterSize=3)
    rr["spec"]["kubernetesConfig"]["resources"]["requests"]["cpu"] = "500m"
    assert crds.validate(rr, real_index) == []
