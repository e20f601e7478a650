"""Which image each container pulls, and from where: the catalogue as the program always wrote it, a
registry for every image (Docker Hub's with their full path), per-image tags and digests, an image the
table does not know accepted with a warning naming what the pods rely on, the operators' charts given
only what the stack sets; and the resources of the containers beside Redis, planned by default."""
from __future__ import annotations

import copy

import pytest

from cache_patterns import stack
from cache_patterns.config.images import ImagesConfig
from cache_patterns.config.resources import ContainerResources, default
from cache_patterns.core import image_set, images
from cache_patterns.core.image_set import CATALOGUE, ImageSet
from cache_patterns.patterns.operator.chart_values import chart_values
from cache_patterns.core import placement as placing
from tools import harness

DIGEST = "sha256:" + "ab" * 32


def moved(**config) -> ImageSet:
    return ImageSet(ImagesConfig.model_validate(config))


def test_without_an_images_block_every_reference_is_as_before():
    assert {k: ImageSet().ref(k) for k in CATALOGUE if CATALOGUE[k].tag} == {
        "valkey-8.1": "valkey/valkey:8.1.11-alpine", "valkey-9.0": "valkey/valkey:9.0.8-alpine",
        "redis-7.2": "redis:7.2.11-alpine", "haproxy": "haproxy:3.2-alpine",
        "exporter": "oliver006/redis_exporter:v1.88.0-alpine", "exporter-scratch": "oliver006/redis_exporter:v1.88.0",
        "restic": "restic/restic:0.19.1",   # backup.py's RESTIC_IMAGE, as the backup pods always named it
        "ot-redis": "quay.io/opstree/redis:v7.0.15", "ot-sentinel": "quay.io/opstree/redis-sentinel:v7.0.15"}
    assert ImageSet().container("haproxy") == {"image": "haproxy:3.2-alpine", "imagePullPolicy": "IfNotPresent"}


def test_a_registry_moves_every_image_keeping_its_path():
    s = moved(registry="mirror.example:5000/hub")
    assert s.ref("redis-7.2") == "mirror.example:5000/hub/library/redis:7.2.11-alpine"
    assert s.ref("ot-redis") == "mirror.example:5000/hub/opstree/redis:v7.0.15"
    # Each image can come from a registry of its own, with its own path and tag.
    s = moved(registry="mirror.example", **{"ot-redis": {"registry": "quay-cache.example", "tag": "v7.0.16"},
                                           "haproxy": {"repository": "platform/haproxy"}})
    assert s.ref("ot-redis") == "quay-cache.example/opstree/redis:v7.0.16"
    assert s.ref("haproxy") == "mirror.example/platform/haproxy:3.2-alpine"


def test_a_digest_pins_the_tag_and_a_digest_alone_keeps_the_default_tag():
    s = moved(haproxy={"digest": DIGEST}, exporter={"tag": "v1.88.1-alpine", "digest": DIGEST})
    assert s.ref("haproxy") == f"haproxy:3.2-alpine@{DIGEST}"
    assert s.ref("exporter") == f"oliver006/redis_exporter:v1.88.1-alpine@{DIGEST}"


def test_the_pull_policy_is_stack_wide_with_per_image_overrides():
    s = moved(pullPolicy="Always", haproxy={"pullPolicy": "Never"})
    assert s.container("haproxy")["imagePullPolicy"] == "Never"
    assert s.container("exporter")["imagePullPolicy"] == "Always"
    assert s.given("ghcr.io/acme/app:1.0")["imagePullPolicy"] == "Always"


def test_a_chart_image_digest_needs_its_tag():
    with pytest.raises(Exception) as err:
        ImagesConfig.model_validate({"ot-operator": {"digest": DIGEST}})
    assert "ot-operator.digest" in str(err.value) and "needs `tag`" in str(err.value)


def test_the_charts_get_only_what_the_stack_sets():
    assert chart_values("ot-container-kit", placing.Placed(), ImageSet(), "redis-operator", {}) == {}
    assert chart_values("spotahome", placing.Placed(), ImageSet(), "spotahome-redis-operator", {}) == {}
    values = chart_values("ot-container-kit", placing.Placed(), moved(registry="r.example"), "redis-operator", {})
    assert values == {"redisOperator": {"imageName": "r.example/opstree/redis-operator"}}


@pytest.mark.parametrize("reference, known", [
    ("mirror.example/hub/valkey/valkey:8.1.11-alpine", True),
    ("mirror.example:5000/library/redis:7.2.11-alpine@" + DIGEST, True),
    ("harbor.example/quay/opstree/redis-sentinel:v7.0.15", True),
    ("mirror.example/someone/redis:7.2.11-alpine", False),
    ("mirror.example/hub/valkey/valkey:7.2.4", False),
])
def test_the_image_table_knows_an_image_wherever_it_is_pulled_from(reference, known):
    assert (images.facts(reference) is not None) == known


def test_an_image_the_table_does_not_know_is_accepted_with_a_warning_naming_what_the_pods_need():
    cfg = stack.parse({"environment": "staging", "images": {"haproxy": {"tag": "3.2-debian"}},
                       "caches": {"s": {"pattern": "statefulset", "image": "registry.example/own/valkey:8.1-custom"}}},
                      "t")
    warnings = dict(cfg.warnings)
    assert set(warnings) == {"images.haproxy", "caches.s.image"}
    assert "/usr/local/sbin/haproxy" in warnings["images.haproxy"] and "BusyBox" in warnings["images.haproxy"]
    assert "/usr/local/bin/valkey-server" in warnings["caches.s.image"]
    assert "valkey/valkey:8.1.11-alpine" in warnings["caches.s.image"]
    # Moved, pinned or retagged within the table: no warning.
    quiet = stack.parse({"environment": "staging", "images": {"registry": "r.example", "haproxy": {
        "tag": "3.2.21-alpine", "digest": DIGEST}}, "caches": {"s": {"pattern": "statefulset"}}}, "t")
    assert not quiet.warnings


def test_the_exporter_runs_the_default_image_entrypoint_wherever_its_image_comes_from():
    cfg = copy.deepcopy(harness.load_stack_config("staging"))
    cfg["cache-patterns:images"] = {"registry": "r.example", "exporter": {"repository": "own/exporter", "tag": "x1"}}
    cfg["cache-patterns:caches"]["sessions"]["exporter"] = True
    r = harness.run("staging", cfg)
    exporters = [c for m in r.manifests() if m["kind"] == "StatefulSet"
                 for c in m["spec"]["template"]["spec"]["containers"] if c["name"] == "exporter"]
    assert exporters and all(c["image"] == "r.example/own/exporter:x1" and c["command"] == ["/redis_exporter"]
                             for c in exporters)


def test_the_containers_beside_redis_are_planned_and_can_be_given():
    assert default("sentinel") == {"requests": {"cpu": "25m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
    given = ContainerResources.model_validate({"memory": "96Mi", "cpuLimit": "1"}).of("sentinel")
    assert given.k8s() == {"requests": {"cpu": "25m", "memory": "96Mi"}, "limits": {"memory": "96Mi", "cpu": "1"}}
    assert given.problems("x") == []
    bad = ContainerResources.model_validate({"memory": "128Mi", "memoryLimit": "64Mi", "cpu": "2", "cpuLimit": "1"})
    assert {k for k, _ in bad.of("haproxy").problems("resources.haproxy")} == {"resources.haproxy.memory",
                                                                             "resources.haproxy.cpu"}


def test_the_planner_counts_the_containers_of_the_pods_beside_redis():
    cfg = stack.parse({"environment": "staging", "caches": {"s": {
        "pattern": "statefulset", "tls": {"issuer": "ca"}, "exporter": True,
        "resources": {"sentinel": {"memoryLimit": "100Mi"}, "haproxy": {"memoryLimit": "200Mi"}}}}}, "t")
    groups = {g.role: g.memory for g in cfg.caches["s"].plan_pods("staging")}
    mi = 1024 * 1024
    # Sentinel + its exporter (64Mi); HAProxy + its certificate watcher (32Mi).
    assert groups == {"Sentinel": 164 * mi, "HAProxy": 232 * mi}


def test_image_set_of_takes_every_form_of_the_arg():
    assert image_set.of(None) is image_set.DEFAULT_IMAGES
    assert image_set.of({"registry": "r.example"}).ref("haproxy") == "r.example/library/haproxy:3.2-alpine"
