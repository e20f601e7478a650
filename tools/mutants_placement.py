"""The mutation check's planted faults for where pods run and what they pull (issue 21): placement,
images and pull Secrets on every pod, the Redis pods' grace period, registry mirrors and exposure.
Kept beside tools/mutate.py, which runs them with the others."""
from __future__ import annotations

from tools.mutant import Mutant

PL = "tests/test_placement.py::test_every_pod_template_carries_the_stack_placement_images_and_pull_secrets"

MUTANTS = (
    Mutant("pull-secrets-dropped", "pods come without the image pull Secrets: ImagePullBackOff from a private registry",
           "components/cache_patterns/core/placement.py",
           '    secrets = list(dict.fromkeys(pull_secrets))\n', "    secrets = []\n",
           (PL + "[everything]",)),
    Mutant("tolerations-dropped", "pods without their tolerations: Pending on a tainted node pool",
           "components/cache_patterns/core/placement.py",
           '    if placed.tolerations:\n        spec["tolerations"]', '    if False:\n        spec["tolerations"]',
           (PL + "[staging]",
            "tests/test_placement_config.py::test_lists_and_single_values_are_taken_whole_from_the_most_specific_level")),
    Mutant("standalone-exporter-unplaced", "the OT Sentinel exporter's pod ignores the placement and the pull Secrets",
           "components/cache_patterns/observability/standalone.py",
           "    return placing.place(template, placed, dict(s.selector[\"matchLabels\"]), pull_secrets=images.pull_secrets)",
           "    return template",
           (PL + "[everything]",)),
    Mutant("operator-images-unmoved", "operator custom resources keep the public images: an air-gapped cluster "
           "cannot pull them", "components/cache_patterns/patterns/operator/pods.py",
           "        parent.update(pods.images.pick(given, key))", "        pass",
           ("tests/test_placement.py::test_every_operator_pod_gets_them_through_its_custom_resource",)),
    Mutant("grace-shorter-than-handover", "a Redis pod's grace period shorter than the preStop handover is "
           "accepted: the kubelet kills the primary mid-handover", "components/cache_patterns/patterns/statefulset/settings.py",
           "        if grace is not None and grace < self.handover_grace_s:", "        if False:",
           ("tests/test_placement_config.py::test_the_grace_period_of_redis_pods_must_leave_the_handover_room",)),
    Mutant("default-spread-dropped", "cache pods lose their default zone spread: a zone outage takes every replica",
           "components/cache_patterns/patterns/statefulset/pods.py",
           "default_spread=placing.zone_spread(selector), pull_secrets", "default_spread=None, pull_secrets",
           ("tests/test_placement_config.py::test_the_statefulset_pods_keep_their_default_spread_and_anti_affinity",)),
    Mutant("mirror-without-library", "a registry mirror's Docker Hub images lose `library/`: the mirror has no "
           "such repository", "components/cache_patterns/core/image_set.py",
           "    if short and registry == DOCKER_HUB:\n        path = repository.removeprefix(\"library/\")\n"
           "    else:\n        path = f\"{registry}/{repository}\"",
           "    if short and registry == DOCKER_HUB:\n        path = repository.removeprefix(\"library/\")\n"
           "    else:\n        path = f\"{registry}/{repository.removeprefix('library/')}\"",
           ("tests/test_images.py::test_a_registry_moves_every_image_keeping_its_path",)),
    Mutant("exposed-to-everyone", "the external endpoint's NetworkPolicy admits every address",
           "components/cache_patterns/patterns/statefulset/expose.py",
           '    return [{"from": [{"ipBlock": {"cidr": c}} for c in expose.source_ranges],',
           '    return [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],',
           ("tests/test_expose.py::test_a_load_balancer_admits_only_its_source_ranges_to_the_write_port",)),
)
