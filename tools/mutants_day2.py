"""Issue 23's planted faults (day-2 changes: upgrades, scaling, memory, the planner on Valkey 8.1/9.x,
refusals at preview, autoscaling), appended to tools/mutants.py's MUTANTS."""
from __future__ import annotations

from tools.mutant import Mutant

DAY2 = (
    Mutant("rollout-primary-first", "the rollout driver replaces the primary before the replicas: it hands over "
           "to a replica still on the old engine, and the primary moves twice",
           "components/cache_patterns/patterns/statefulset/rollout.py",
           "for pod in [p for p in stale if p != primary] + [p for p in stale if p == primary]:",
           "for pod in [p for p in stale if p == primary] + [p for p in stale if p != primary]:",
           ("tests/test_rollout.py::test_replicas_first_highest_ordinal_first_and_the_primary_last_once",)),
    Mutant("replica-promotable-before-sync", "a new or restarted replica is promotable before its first sync: "
           "Sentinel can promote an empty replica", "components/cache_patterns/patterns/statefulset/scripts/redis-start.sh",
           '        echo "replica-priority 0"\n', "",
           ("tests/live/test_protect_data_scripts.py::test_every_replica_starts_unpromotable_without_protect_data",
            "tests/live/test_scaling.py::test_scale_2_to_4_to_1_with_the_primary_on_the_highest_ordinal")),
    Mutant("downgrade-allowed", "a downgrade Valkey 9.1 -> 8.1 is accepted (8.1 cannot load the RDB 80 a 9.1 "
           "primary writes)", "components/cache_patterns/core/upgrades.py",
           "    if new.engine == old.engine and new.number < old.number:",
           "    if False:",
           ("tests/test_upgrades.py::test_unsafe_steps_are_refused_with_the_reason",)),
    Mutant("valkey-embed-limit", "the Valkey 8.1 model embeds values up to 80 bytes instead of 64: small-value "
           "caches are planned too small", "components/cache_patterns/planning/memory.py",
           "ROBJ + (k + 3) + expire + (v + 4) <= 64", "ROBJ + (k + 3) + expire + (v + 4) <= 80",
           ("tests/test_planning.py::test_the_valkey_8_1_model_meets_the_figures_the_redis_model_missed",
            "tests/test_planning.py::test_valkey_8_1_embeds_a_value_only_when_the_object_fits_64_bytes")),
    Mutant("maxmemory-below-data", "a maxmemory below the live data set is applied: the cache evicts or refuses "
           "writes at once", "components/cache_patterns/patterns/statefulset/rollout.py",
           "        if used[biggest] > maxmemory * (1 - headroom):", "        if False:",
           ("tests/live/test_memory_change.py::test_a_new_maxmemory_is_applied_live_and_one_below_the_data_set_is_refused",)),
    Mutant("engine-step-unchecked", "`./run render` lets a StatefulSet cache's engine downgrade or skip Valkey 8.1 "
           "(the new servers cannot load the old primary's RDB and empty their data first)", "tools/impact.py",
           "            problem = upgrades.check(e1, v1, e2, v2)\n", "            problem = None\n",
           ("tests/test_impact.py::test_an_engine_version_change_is_checked_against_the_upgrade_paths",
            "tests/test_impact.py::test_render_refuses_an_unsafe_engine_step_and_keeps_the_last_render_s_engine")),
    Mutant("deployed-change-unchecked", "`pulumi up` applies a downgrade, an engine jump past Valkey 8.1 or an "
           "unprepared scale-down: the check against the stack's last `deployed` output finds nothing",
           "components/cache_patterns/core/deployed.py",
           "    found = problems(caches, previous)\n", "    found = []\n",
           ("tests/test_deployed.py::test_a_downgrade_is_refused_with_no_resource_registered",
            "tests/test_deployed.py::test_an_unsafe_jump_names_the_path_that_works")),
    Mutant("deployed-gate-unwired", "a refused day-2 change fails the program only after `pulumi up` has already "
           "applied what registered first (the providers do not wait for the check)",
           "components/cache_patterns/program.py",
           "opts=pulumi.ResourceOptions(depends_on=gate) if gate is not None else None)", "opts=None)",
           ("tests/test_deployed.py::test_a_downgrade_is_refused_with_no_resource_registered",), count=2),
    Mutant("scale-down-unprepared", "lowering `replicas` deletes the highest ordinals, the primary's pod among them, "
           "without the rollout driver's hand-over", "components/cache_patterns/patterns/statefulset/settings.py",
           "self.replicas < replicas and self.prepared_replicas != self.replicas:",
           "self.replicas < replicas and False:",
           ("tests/test_deployed.py::test_a_replica_shrink_is_refused_until_the_driver_prepared_it",)),
    Mutant("elasticache-autoscaled-count-reverted", "the next `pulumi up` sets an autoscaled ElastiCache group back to "
           "the configured shard/replica count (the program fights the autoscaler)",
           "components/cache_patterns/patterns/external/elasticache.py",
           "ignore_changes=autoscaling.owned_inputs(s) or None)", "ignore_changes=None)",
           ("tests/test_elasticache_autoscaling.py::test_targets_and_policies_on_the_replication_group_and_the_counts_ignored",
            "tests/test_elasticache_autoscaling.py::test_only_the_autoscaled_count_is_ignored_and_none_without_autoscaling")),
    Mutant("hpa-count-reverted", "the next `pulumi up` sets the Redis StatefulSet back to the configured count after "
           "the HorizontalPodAutoscaler added replicas (the program fights the autoscaler)",
           "components/cache_patterns/patterns/statefulset/autoscaling.py",
           "    return [REPLICAS_FIELD] if s.autoscaling is not None else []\n", "    return []\n",
           ("tests/test_statefulset_autoscaling.py::test_the_program_ignores_the_count_the_hpa_owns",)),
    Mutant("hpa-scales-down", "the HorizontalPodAutoscaler removes the highest ordinals, the primary's pod among them, "
           "without the rollout driver's hand-over", "components/cache_patterns/patterns/statefulset/autoscaling.py",
           '"scaleDown": {"selectPolicy": "Disabled"}', '"scaleDown": {"selectPolicy": "Max"}',
           ("tests/test_statefulset_autoscaling.py::test_the_hpa_scales_the_redis_statefulset_up_only_between_replicas_and_the_maximum",)),
    Mutant("rollout-driver-unwired", "`pulumi up` of an engine upgrade or a password rotation leaves the Redis pods "
           "(OnDelete) on the old template: the rollout driver's resource is not made",
           "components/cache_patterns/patterns/statefulset/component.py",
           "        self.rollout = rollout_step.wire(", "        self.rollout = (lambda *a: None)(",
           ("tests/test_rollout_step.py::test_the_driver_runs_after_the_redis_sentinel_and_haproxy_workloads_of_each_statefulset_cache",
            "e2e/scenarios/test_rotation.py::test_a_password_rotation_replaces_the_secrets_rolls_the_readers_and_the_old_passwords_are_refused")),
    Mutant("rollout-template-ignored", "a changed Redis pod template is no change for the rollout driver's resource: "
           "`pulumi up` skips the driver and the pods stay on the old template",
           "components/cache_patterns/patterns/statefulset/rollout_step.py",
           '    return hashlib.sha256(json.dumps(strip(template), sort_keys=True, separators=(",", ":")).encode()).hexdigest()',
           '    return "0"',
           ("tests/test_rollout_step.py::test_the_template_digest_moves_with_what_needs_new_pods_and_not_with_the_replica_count",)),
    Mutant("rollout-refusal-recorded-as-rolled", "a refused rollout records the new template as rolled: the next "
           "`pulumi up` sees no change and never runs the driver again",
           "components/cache_patterns/patterns/statefulset/rollout_step.py",
           '"template": previous if done["refused"] else props["template"]}', '"template": props["template"]}',
           ("tests/test_rollout_step.py::test_the_provider_records_the_new_template_only_once_rolled",)),
    Mutant("rollout-refusal-swallowed", "`pulumi up` succeeds although the rollout driver refused: pods stay on the "
           "old template and nobody is told", "components/cache_patterns/patterns/statefulset/rollout_step.py",
           "    if refused:\n        raise pulumi.RunError(", "    if False:\n        raise pulumi.RunError(",
           ("tests/test_rollout_step.py::test_a_refused_rollout_fails_the_run_with_the_driver_s_reason",)),
    Mutant("rollout-reads-idle-pods", "the driver reads pods no runtime started (Pending; kwok's): it refuses the "
           "rollout it could do without reading them", "components/cache_patterns/patterns/statefulset/rollout.py",
           "        for pod in [p for p in stale if not self.pods.started(p)]:", "        for pod in []:",
           ("tests/test_rollout.py::test_pods_no_runtime_started_are_replaced_without_being_read",)),
)
