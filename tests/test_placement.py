"""Every pod the program creates carries the placement, images and pull Secrets of its stack: a walk
over every rendered object of every stack (each committed stack with the production blocks added,
and one stack with every pattern, kind and optional part), which finds pod templates wherever they are
(so a new workload cannot forget them), the operators' custom resources by their kinds' pod fields
(an unknown kind fails) and the operators' Helm values."""
from __future__ import annotations

import copy
from typing import Any, Iterator

import pytest

from cache_patterns.core.image_set import CATALOGUE
from tests.conftest import stack_run
from tools import harness, validate

REGISTRY = "registry.internal.example/mirror"
SECRET = "internal-registry"
DIGEST = "sha256:" + "0123456789abcdef" * 4
TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "cache", "effect": "NoSchedule"}
STACK_PLACEMENT = {"nodeSelector": {"node-pool": "cache"}, "tolerations": [TOLERATION],
                   "priorityClassName": "cache-critical", "podLabels": {"team": "platform"},
                   "podAnnotations": {"example.com/owner": "platform"}}
APP_PLACEMENT = {"nodeSelector": {"node-pool": "apps"}}
# Every image the program names pinned by digest (the charts' images need their tag beside it).
IMAGES = {"registry": REGISTRY, "pullSecrets": [SECRET], "pullPolicy": "Always",
          **{key: {"digest": DIGEST} if image.tag else {"tag": "v0.26.0", "digest": DIGEST}
             for key, image in CATALOGUE.items()}}
TLS = {"issuer": "internal-ca"}
# Every pattern, kind and optional part in one stack (staging: Spotahome is refused in production).
EVERYTHING = {
    "cache-patterns:environment": "staging",
    "cache-patterns:namespace": "cache",
    "cache-patterns:caches": {
        "sts": {"pattern": "statefulset", "tls": TLS, "exporter": True, "l1": {"memory": "64Mi"},
                "expose": {"type": "NodePort", "sourceRanges": ["203.0.113.0/24"]},
                "backup": {"destination": {"endpoint": "https://s3.example.com", "bucket": "backups"},
                           "credentials": {"secret": "s3"}, "encryptionKey": {"name": "k", "key": "key"}},
                "restore": {"from": "latest"}},
        "side": {"pattern": "sidecar"},
        "ext": {"pattern": "external", "kind": "endpoint", "host": "10.0.0.5", "l1": {"memory": "64Mi"}},
        "otr": {"pattern": "operator", "kind": "ot-replication", "exporter": True, "tls": TLS, "storage": "1Gi",
                "l1": {"memory": "64Mi"}},
        "otc": {"pattern": "operator", "kind": "ot-cluster", "exporter": True, "tls": TLS},
        "spot": {"pattern": "operator", "kind": "spotahome-failover", "exporter": True},
    },
    "cache-patterns:passwords": {"ext": {"secure": "v1:unused"}},
    "cache-patterns:operators": {"ot-container-kit": {"install": True, "version": "0.26.0"},
                                 "spotahome": {"install": True, "version": "3.3.0"}},
    "cache-patterns:apps": [{"name": f"app-{c}", "namespace": f"ns-{c}", "image": f"ghcr.io/acme/app-{c}:1.0.0",
                             "cache": c} for c in ("sts", "side", "ext", "otr", "otc", "spot")],
}


def production(config: dict) -> dict:
    """A stack's config with the production blocks: placement, images, the apps' own placement."""
    out = copy.deepcopy(config)
    out["cache-patterns:placement"] = STACK_PLACEMENT
    out["cache-patterns:images"] = IMAGES
    for app in out.get("cache-patterns:apps", []):
        app["placement"] = APP_PLACEMENT
    return out


CONFIGS = {**{s: production(harness.load_stack_config(s)) for s in harness.list_stacks()},
           "everything": production(EVERYTHING)}
_runs: dict[str, harness.Run] = {}


def run(name: str) -> harness.Run:
    if name not in _runs:
        _runs[name] = harness.run(name, CONFIGS[name])
    return _runs[name]


def pod_templates(node: Any, where: str = "") -> Iterator[tuple[str, dict, dict]]:
    """(where, metadata, pod spec) of every pod template in an object, found by shape: a `spec` with
    `containers` beside a `metadata` (Deployments, StatefulSets, and any workload added later)."""
    if isinstance(node, dict):
        spec = node.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("containers"), list):
            yield where, node.get("metadata") or {}, spec
        for key, value in node.items():
            yield from pod_templates(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from pod_templates(value, f"{where}[{i}]")


def pinned(image: str) -> bool:
    return image.startswith(REGISTRY + "/") and image.endswith("@" + DIGEST)


def containers(spec: dict) -> list[dict]:
    return list(spec.get("initContainers") or []) + list(spec["containers"])


def cache_placement_problems(meta: dict, spec: dict) -> list[str]:
    out = []
    if spec.get("nodeSelector") != STACK_PLACEMENT["nodeSelector"]:
        out.append(f"nodeSelector {spec.get('nodeSelector')}")
    if spec.get("tolerations") != [TOLERATION]:
        out.append(f"tolerations {spec.get('tolerations')}")
    if spec.get("priorityClassName") != "cache-critical":
        out.append(f"priorityClassName {spec.get('priorityClassName')}")
    if (meta.get("labels") or {}).get("team") != "platform":
        out.append("podLabels")
    if (meta.get("annotations") or {}).get("example.com/owner") != "platform":
        out.append("podAnnotations")
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_pod_template_carries_the_stack_placement_images_and_pull_secrets(name):
    r = run(name)
    apps = {a["name"]: a for a in CONFIGS[name].get("cache-patterns:apps", [])}
    seen = 0
    for obj in (m for m in r.manifests() if not validate.is_custom(m)):
        for where, meta, spec in pod_templates(obj):
            seen += 1
            ref = f"{obj['kind']} {obj['metadata'].get('name')}{where}"
            assert spec.get("imagePullSecrets") == [{"name": SECRET}], ref
            app = apps.get(obj["metadata"].get("name")) if obj["kind"] == "Deployment" else None
            for c in containers(spec):
                assert c["imagePullPolicy"] == "Always", (ref, c["name"])
                if app is not None and c["name"] == app["name"]:
                    assert c["image"] == app["image"], (ref, "an app's own image is used as written")
                else:
                    assert pinned(c["image"]), (ref, c["name"], c["image"])
            if app is not None:
                assert spec.get("nodeSelector") == APP_PLACEMENT["nodeSelector"], ref
                assert "priorityClassName" not in spec, (ref, "the stack's placement is the caches'")
            else:
                assert not cache_placement_problems(meta, spec), (ref, cache_placement_problems(meta, spec))
    assert seen, f"{name}: no pod template found"


# Where each custom resource kind keeps its pods' fields: path -> (placement fields, pull Secrets there).
CR_PODS = {
    "RedisReplication": {(): ("nodeSelector", "tolerations", "priorityClassName"),
                         ("sentinel",): ("nodeSelector", "tolerations", "priorityClassName")},
    "RedisCluster": {("redisLeader",): ("nodeSelector", "tolerations"),
                     ("redisFollower",): ("nodeSelector", "tolerations"), (): ("priorityClassName",)},
    "RedisFailover": {("redis",): ("nodeSelector", "tolerations", "priorityClassName", "imagePullSecrets"),
                      ("sentinel",): ("nodeSelector", "tolerations", "priorityClassName", "imagePullSecrets")},
}
OPERATOR_GROUPS = {"redis.redis.opstreelabs.in", "databases.spotahome.com"}
CR_PULL_SECRETS = {"RedisReplication": [("kubernetesConfig",), ("sentinel",)], "RedisCluster": [("kubernetesConfig",)],
                   "RedisFailover": [("redis",), ("sentinel",)]}
EXPECTED = {"nodeSelector": STACK_PLACEMENT["nodeSelector"], "tolerations": [TOLERATION],
            "priorityClassName": "cache-critical", "imagePullSecrets": [{"name": SECRET}]}


def images_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                yield value
            else:
                yield from images_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from images_in(value)


def at(spec: dict, path: tuple) -> dict:
    for key in path:
        spec = spec[key]
    return spec


def test_every_operator_pod_gets_them_through_its_custom_resource():
    customs = [m for m in run("everything").manifests() if validate.group_of(m) in OPERATOR_GROUPS]
    assert {m["kind"] for m in customs} == set(CR_PODS), "a custom resource kind this test does not know"
    for cr in customs:
        spec = cr["spec"]
        found = list(images_in(spec))
        assert found and all(pinned(i) for i in found), (cr["kind"], found)
        for path, fields in CR_PODS[cr["kind"]].items():
            for f in fields:
                assert at(spec, path).get(f) == EXPECTED[f], (cr["kind"], path, f, at(spec, path).get(f))
        for path in CR_PULL_SECRETS[cr["kind"]]:
            assert at(spec, path).get("imagePullSecrets") == [{"name": SECRET}], (cr["kind"], path)
        # Every operator copies the resource's labels to its pods.
        assert cr["metadata"]["labels"]["team"] == "platform", cr["kind"]


def test_every_operator_install_gets_them_through_its_chart_values():
    releases = {r.inputs["name"]: r.inputs["values"] for r in run("everything").of_type("kubernetes:helm.sh/v3:Release")}
    assert len(releases) == 2
    ot, spot = releases["redis-operator"], releases["spotahome-redis-operator"]
    for values in (ot, spot):
        assert values["nodeSelector"] == STACK_PLACEMENT["nodeSelector"]
        assert values["tolerations"] == [TOLERATION] and values["priorityClassName"] == "cache-critical"
    assert ot["redisOperator"]["imageName"] == f"{REGISTRY}/opstree/redis-operator"
    assert ot["redisOperator"]["imageTag"] == f"v0.26.0@{DIGEST}"
    assert ot["redisOperator"]["imagePullSecrets"] == [{"name": SECRET}]
    assert ot["redisOperator"]["imagePullPolicy"] == "Always" and ot["redisOperator"]["podLabels"] == {"team": "platform"}
    assert spot["image"] == {"repository": f"{REGISTRY}/spotahome/redis-operator", "tag": f"v0.26.0@{DIGEST}",
                             "pullPolicy": "Always"}
    assert spot["imageCredentials"] == {"create": True, "existsSecrets": [SECRET]}
    # The restricted security context the program sets for OT's chart survives the merge.
    assert ot["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("version", validate.VALIDATED_VERSIONS)
def test_the_placed_objects_validate_strictly(version):
    problems = [p for obj in run("everything").manifests() if not validate.is_custom(obj)
                for p in validate.validate_k8s(obj, version)]
    assert not problems, "\n".join(problems)


def test_the_placed_custom_resources_validate_against_the_operators_crds(crd_index):
    from tools import crds

    customs = [o for o in run("everything").manifests() if validate.is_custom(o) and crds.covers(o, crd_index)]
    assert {o["kind"] for o in customs} >= set(CR_PODS)
    problems = [p for obj in customs for p in crds.validate(obj, crd_index)]
    assert not problems, "\n".join(problems)


def test_without_the_blocks_every_stack_renders_as_before():
    """The blocks are the only change: the committed stacks, without them, have no placement keys,
    pull Secrets or registry (render-diff against main holds the rest)."""
    for stack in harness.list_stacks():
        for obj in stack_run(stack).manifests():
            for where, _, spec in pod_templates(obj):
                assert not {"imagePullSecrets", "nodeSelector", "tolerations", "priorityClassName"} & set(spec), where
                assert not any(c["image"].startswith(REGISTRY) for c in containers(spec))


# ---- the production example (docs/production.md) --------------------------------------------------

EXAMPLE = harness.ROOT / "docs" / "production-cluster.yaml"


def example() -> harness.Run:
    if "example" not in _runs:
        from cache_patterns.stack_reader import read_stack_file

        _runs["example"] = harness.run("production-cluster", read_stack_file(EXAMPLE))
    return _runs["example"]


def test_the_production_example_puts_every_cache_pod_on_its_pool_from_the_internal_registry():
    from cache_patterns.stack_reader import read_stack_file

    cfg = read_stack_file(EXAMPLE)
    registry = cfg["cache-patterns:images"]["registry"]
    pool = cfg["cache-patterns:placement"]["nodeSelector"]
    pods = [(m, meta, spec) for m in example().manifests() for _, meta, spec in pod_templates(m)]
    assert len(pods) == 4
    for obj, meta, spec in pods:
        assert spec["imagePullSecrets"] == [{"name": "internal-registry"}]
        for c in containers(spec):
            assert c["image"].startswith(registry + "/") or c["image"].startswith("registry.internal.example/"), c
            assert "@sha256:" in c["image"], (obj["metadata"]["name"], c["name"], c["image"])
        if obj["metadata"]["name"] != "checkout":
            assert spec["nodeSelector"] == pool and spec["tolerations"][0]["key"] == "dedicated"
            assert spec["priorityClassName"] == "cache-critical"


@pytest.mark.parametrize("version", validate.VALIDATED_VERSIONS)
def test_the_production_example_validates_strictly(version):
    problems = [p for obj in example().manifests() if not validate.is_custom(obj)
                for p in validate.validate_k8s(obj, version)]
    assert not problems, "\n".join(problems)


def test_the_production_example_meets_the_restricted_standard_and_renders_without_warnings():
    from cache_patterns import stack as config
    from cache_patterns.stack_reader import read_stack_file
    from tools import pss

    for obj in example().manifests():
        for where, spec in pss.pod_specs(obj):
            assert not pss.restricted_violations(spec), where
    values = {k.split(":", 1)[1]: v for k, v in read_stack_file(EXAMPLE).items()}
    assert config.parse(values, "production-cluster").warnings == ()


def test_the_outputs_name_every_namespace_the_pull_secrets_must_exist_in():
    out = run("everything").outputs["imagePullSecrets"].value
    assert out == {"secrets": [SECRET], "namespaces": sorted(
        {"cache", "redis-operator", *(a["namespace"] for a in EVERYTHING["cache-patterns:apps"])})}
    pods = {m["metadata"]["namespace"] for m in run("everything").manifests()
            if not validate.is_custom(m) and any(True for _ in pod_templates(m))}
    assert pods <= set(out["namespaces"])
    assert "imagePullSecrets" not in stack_run("staging").outputs


# Optional parts that add no pod (so the walk has nothing to see in them): each with why.
NO_POD = {"capacity": "the planner's input", "retainVolumes": "the volume claims' retention policy",
          "autoscaling": "a HorizontalPodAutoscaler: the pods it adds are the Redis StatefulSet's (placed above)"}


def optional_parts(model) -> Iterator[str]:
    """The keys of a settings model that are off unless given: blocks (a model or None) and switches."""
    import typing

    from pydantic import BaseModel

    for name, f in model.model_fields.items():
        block = f.default is None and any(isinstance(a, type) and issubclass(a, BaseModel)
                                          for a in typing.get_args(f.annotation))
        if block or (f.default is False and f.annotation is bool):
            yield f.alias or name


def test_the_everything_stack_turns_on_every_optional_part_of_the_in_cluster_patterns():
    """So a new optional part (a backup CronJob, a restore step) is walked above: add it to EVERYTHING, or
    to NO_POD saying why it runs no pod."""
    from cache_patterns.patterns.operator.settings import OperatorSettings
    from cache_patterns.patterns.sidecar.settings import SidecarSettings
    from cache_patterns.patterns.statefulset.settings import StatefulSetSettings

    caches = EVERYTHING["cache-patterns:caches"].values()
    for pattern, model in (("statefulset", StatefulSetSettings), ("operator", OperatorSettings),
                           ("sidecar", SidecarSettings)):
        given = {k for c in caches if c["pattern"] == pattern for k, v in c.items() if v not in (None, False)}
        missing = sorted(set(optional_parts(model)) - given - set(NO_POD))
        assert not missing, (pattern, missing, "turn them on in EVERYTHING (or say in NO_POD why no pod)")
