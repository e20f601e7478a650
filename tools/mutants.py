"""The planted faults of the mutation check (tools/mutate.py, docs/mutation.md): each an exact text edit
of one file and the test node ids that must catch it."""
from __future__ import annotations

from pathlib import Path

from tools.mutant import Mutant
from tools.mutants_backup import BACKUP_MUTANTS
from tools.mutants_day2 import DAY2

CLIENT_SRC = Path("clients/python/src")
PL = "tests/test_placement.py::test_every_pod_template_carries_the_stack_placement_images_and_pull_secrets"


MUTANTS = (
    Mutant("secret-in-env", "the generated password as a plain env value of the Redis container",
           "components/cache_patterns/patterns/statefulset/component.py",
           '"command": plan.command("redis"), "env": plan.env("redis"),',
           '"command": plan.command("redis"), "env": plan.env("redis") + '
           '([{"name": "REDIS_PASSWORD", "value": self._password}] if s.auth else []),',
           ("tests/test_render.py::test_secret_values_are_redacted_and_generated_ones_never_written[staging]",
            "tests/test_statefulset.py::test_no_password_in_configmaps_args_or_env_values")),
    Mutant("networkpolicy-port", "the Sentinels' NetworkPolicy admits 6379 instead of 26379: clients and "
           "peers cannot reach Sentinel", "components/cache_patterns/patterns/statefulset/network.py",
           '"sentinel": [{"from": own + app_from, "ports": [port(ha.SENTINEL_PORT)]}],',
           '"sentinel": [{"from": own + app_from, "ports": [port(ha.REDIS_PORT)]}],',
           ("tests/test_wiring.py::test_services_policies_and_budgets_select_pods_and_ports_that_exist[staging]",)),
    Mutant("operator-networkpolicy-port", "an operator cache's NetworkPolicy drops the Sentinel port",
           "components/cache_patterns/patterns/operator/component.py",
           "ports = [REDIS_PORT] + ([SENTINEL_PORT] if s.kind != \"ot-cluster\" else [])",
           "ports = [REDIS_PORT]",
           ("tests/test_operator.py::test_the_network_policy_admits_bound_apps_own_pods_and_the_operator_only",)),
    Mutant("service-selector", "the write/read Services select the Redis pods instead of HAProxy: writes "
           "reach replicas", "components/cache_patterns/patterns/statefulset/component.py",
           'spec={"type": "ClusterIP", "selector": self.selectors["endpoint"],',
           'spec={"type": "ClusterIP", "selector": self.selectors["redis"],',
           ("tests/test_wiring.py::test_services_policies_and_budgets_select_pods_and_ports_that_exist[staging]",)),
    Mutant("app-service-selector", "an app's Service selects a label its pods do not carry", "components/cache_patterns/app.py",
           'spec={"type": "ClusterIP", "selector": selector,',
           'spec={"type": "ClusterIP", "selector": {**selector, "app.kubernetes.io/component": "app"},',
           ("tests/test_app.py::test_deployment_and_service_are_named_after_the_app_with_derived_labels",
            "tests/test_wiring.py::test_services_policies_and_budgets_select_pods_and_ports_that_exist")),
    Mutant("privilege-escalation", "containers may escalate privileges (restricted Pod Security refuses the pods)",
           "components/cache_patterns/core/k8s.py", '"allowPrivilegeEscalation": False,', '"allowPrivilegeEscalation": True,',
           ("tests/test_stacks.py::test_every_pod_meets_the_restricted_pod_security_standard",)),
    Mutant("production-unprotected", "production ElastiCache neither protected nor retained on delete",
           "components/cache_patterns/patterns/external/elasticache.py",
           "protect=cache._production, retain_on_delete=cache._production,",
           "protect=False, retain_on_delete=False,",
           ("tests/test_external.py::test_replication_group_production_defaults",), count=2),
    Mutant("secret-data-written", "a rendered Secret file holds the password", "tools/render.py",
           "obj[key] = {k: REDACTED for k in obj[key]}", "pass",
           ("tests/test_render.py::test_secret_values_are_redacted_and_generated_ones_never_written[staging]",)),
    Mutant("ip-as-external-name", "an IP endpoint becomes an ExternalName Service, which does not resolve",
           "components/cache_patterns/patterns/external/endpoint.py", "    ip = endpoint_ip(target)\n", "    ip = None\n",
           ("tests/test_external.py::test_an_ip_endpoint_gets_a_selector_less_service_and_an_endpoint_slice_per_family",)),
    Mutant("shared-release-name", "both operators released as redis-operator: the second install fails",
           "components/cache_patterns/patterns/operator/charts.py", '"spotahome": "spotahome-redis-operator"}', '"spotahome": "redis-operator"}',
           ("tests/test_operator.py::test_both_operators_installed_side_by_side_get_distinct_releases",)),
    Mutant("ot-no-maxmemory", "OT caches run without maxmemory (OOM-killed instead of evicting)",
           "components/cache_patterns/patterns/operator/component.py", '        if s.kind in ("ot-replication", "ot-cluster"):\n',
           "        if False:\n",
           ("tests/live/test_operator_memory.py::test_ot_caches_start_with_the_planned_maxmemory_and_policy",)),
    Mutant("int-key-accepted", "set(42) is stored as '42' instead of being refused (two tiers: its "
           "invalidation named 42 NUL bytes)", str(CLIENT_SRC / "cache_patterns_client/cache.py"),
           "        protocol.key_bytes(key)\n        data = self._encode(value)\n",
           "        data = self._encode(value)\n",
           ("tests/client/test_key_types.py::test_every_keyed_method_refuses_other_key_types_before_touching_any_tier",
            "tests/client/test_key_types.py::test_a_single_tier_client_refuses_them_too")),
    Mutant("l1-outlives-l2", "an L1 copy's TTL is sent relative (PX), so it counts from when the SET reaches L1, "
           "not from the L2 entry's deadline: a delayed populate outlives the L2 entry", str(CLIENT_SRC / "cache_patterns_client/l1store.py"),
           "self.client.set(key, value, pxat=deadline_ms)",
           "self.client.set(key, value, px=deadline_ms - __import__('time').time_ns() // 1_000_000)",
           ("tests/client/test_two_tier_live.py::test_a_populate_delayed_on_its_way_to_l1_does_not_outlive_the_l2_entry",)),
    Mutant("no-invalidation", "a write publishes no invalidation: other pods serve the old value until the TTL cap",
           str(CLIENT_SRC / "cache_patterns_client/cache.py"),
           "                pipe.publish(channel, message)\n", "",
           ("tests/client/test_two_tier_live.py::test_write_on_one_pod_invalidates_the_other",)),
    Mutant("missing-primary-or-vector", "RedisMissingPrimary written the upstream way, `(count by (job) (...) or "
           "vector(0)) < 1`: it pages while a primary exists", "components/cache_patterns/observability/rules.py",
           'f"({answering} or {gone}) unless on (job) (count by (job) (redis_instance_info{primary}) >= {n})"',
           'f"(count by (job) (redis_instance_info{primary}) or vector(0)) < {n}"',
           ("tests/observability/test_rules_promtool.py::test_every_alert_of_a_store_fires_and_stays_quiet_where_it_must",)),
    Mutant("flapping-per-series", "RedisFailoverFlapping counts changes per series: failovers that move "
           "master_address are never counted", "components/cache_patterns/observability/rules.py",
           'f"changes(max by (job, master_name) (redis_sentinel_master_config_epoch{j})[1h:1m]) > 2"',
           'f"changes(redis_sentinel_master_config_epoch{j}[1h]) > 2"',
           ("tests/observability/test_rules_promtool.py::test_every_alert_of_a_store_fires_and_stays_quiet_where_it_must",)),
    Mutant("unscoped-redis-down", "RedisDown without its job: a Sentinel's exporter (redis_up 0) pages as a Redis down",
           "components/cache_patterns/observability/rules.py", 'b.add("RedisDown", f"redis_up{j} == 0", "5m",',
           'b.add("RedisDown", "redis_up == 0", "5m",',
           ("tests/observability/test_rules_promtool.py::test_every_alert_of_a_store_fires_and_stays_quiet_where_it_must",
            "tests/observability/test_scrape_objects.py::test_rules_and_dashboards_select_exactly_the_podmonitors_jobs")),
    Mutant("metrics-from-any-namespace", "the exporters' port is open to every namespace",
           "components/cache_patterns/observability/scrape.py",
           'peer: dict = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": prometheus.namespace}}}',
           'peer: dict = {"namespaceSelector": {}}',
           ("tests/observability/test_scrape_objects.py::test_one_networkpolicy_rule_admits_only_the_scraper_to_the_metrics_ports",)),
    Mutant("alarm-wrong-dimension", "ElastiCache alarms on a dimension their metrics do not carry: they never fire",
           "components/cache_patterns/observability/cloudwatch.py", 'NODE_DIMENSION = "CacheClusterId"', 'NODE_DIMENSION = "CacheNodeId"',
           ("tests/observability/test_cloudwatch.py::test_prod_has_the_verified_alarms_on_every_member_cluster_and_a_topic_for_events",)),
    Mutant("l1-misses-uncounted", "the client counts no L1 miss: the L1 hit ratio reads 100% and never collapses",
           str(CLIENT_SRC / "cache_patterns_client/cache.py"), "            self.stats.l1_misses += 1",
           "            pass", ("tests/client/test_metrics.py::test_per_tier_hits_misses_and_invalidations_are_exposed",)),
    Mutant("plan-slot-array-floor", "the per-key model counts half the hash-table slots: caches planned too small",
           "components/cache_patterns/planning/memory.py", "    return SLOT * 2 ** math.ceil(math.log2(n))\n",
           "    return SLOT * 2 ** math.floor(math.log2(n))\n",
           ("tests/test_planning.py::test_bytes_per_key_within_one_percent_of_every_measured_data_set",
            "tests/live/test_planning_live.py::test_bytes_per_key_against_used_memory[redis]")),
    Mutant("plan-no-fork-headroom", "the limit leaves no room for a fork: a BGSAVE under writes is OOM-killed",
           "components/cache_patterns/planning/headroom.py",
           '        out["fork"] = ceil_to(self.cow * self.steady_factor * maxmemory, KI) if self.forks else 0\n',
           '        out["fork"] = 0\n',
           ("tests/test_planning.py::test_the_limit_is_the_sum_of_its_parts",
            "tests/live/test_planning_live.py::test_bgsave_under_writes_fits_the_planned_limit[redis-100 B values at 5k writes/s]")),
    Mutant("plan-sync-buffer-ignores-writes", "the replica buffer ignores the write rate: full syncs loop forever",
           "components/cache_patterns/planning/headroom.py",
           "    return ceil_to(max(REPL_FRACTION * maxmemory, during_sync, REPL_MIN_KNOWN), MI)\n",
           "    return ceil_to(max(REPL_FRACTION * maxmemory, REPL_MIN_KNOWN), MI)\n",
           ("tests/test_planning.py::test_replica_buffer_holds_what_a_measured_sync_buffered",)),
    Mutant("plan-unsafe-only-warned", "a limit a fork would exceed is only a warning in production",
           "components/cache_patterns/config/capacity.py",
           '        hard = f.severity == planning.FATAL or (f.severity == planning.UNSAFE and env != "development")\n',
           "        hard = f.severity == planning.FATAL\n",
           ("tests/test_capacity.py::test_an_unsafe_setting_is_an_error_outside_development",)),
    Mutant("exporter-off-path", "the exporter runs `exec redis_exporter` in a shell: not on the image's PATH, "
           "exit 127, a crash loop", "components/cache_patterns/patterns/statefulset/exporter.py",
           '"command": list(images.of(EXPORTER_IMAGE).entrypoint), "env": env,',
           '"command": ["sh", "-c", "exec redis_exporter"], "env": env,',
           ("tests/test_image_commands.py::test_every_command_a_pod_runs_exists_in_its_image",
            "tests/live/test_exporter_live.py::test_the_rendered_exporter_serves_health_and_scrapes_redis_with_auth_and_tls")),
    Mutant("new-ca-served-at-once", "a new CA's certificate is served before the other pods trust it: "
           "HAProxy's checks and peers refuse the handshakes", "components/cache_patterns/patterns/statefulset/scripts/tls.sh",
           '            if [ "$_now" -ge "$_after" ]; then\n', "            if true; then\n",
           ("tests/live/test_tls_scripts.py::test_a_new_ca_is_trusted_at_once_and_its_key_pair_served_only_after_the_delay",
            "tests/live/test_tls_rotation.py::test_a_new_ca_is_trusted_everywhere_before_any_pod_serves_its_certificate")),
    Mutant("sentinels-restart-any-time", "Sentinels restart for a new certificate outside their slots: "
           "several may be down at once", "components/cache_patterns/patterns/statefulset/scripts/tls-reload.sh",
           "        my_slot || continue\n", "        true\n",
           ("tests/live/test_tls_scripts.py::test_a_sentinel_restarts_in_its_own_slot_and_only_while_every_peer_is_healthy",),
           count=2),
    Mutant("redis-tls-not-reloaded", "Redis keeps serving the old certificate after a renewal",
           "components/cache_patterns/patterns/statefulset/scripts/tls-reload.sh",
           'cli "$self" CONFIG SET tls-cert-file', 'cli "$self" CONFIG GET tls-cert-file',
           ("tests/live/test_tls_scripts.py::test_the_redis_reload_loop_loads_a_renewal_with_config_set",
            "tests/live/test_tls_rotation.py::test_a_renewal_under_the_same_ca_is_served_at_once")),
    # Issue 18.15 and 18.16: the certificate watchers' probe, the alerts and their inhibition.
    Mutant("missing-primary-blind-to-gone-pods", "every pod of a cache gone: RedisMissingPrimary counts the "
           "redis_up series that no longer exist, and nothing pages", "components/cache_patterns/observability/rules.py",
           'f"({answering} or {gone}) unless on (job)', 'f"({answering}) unless on (job)',
           ("tests/observability/test_rules_promtool.py::test_every_alert_of_a_store_fires_and_stays_quiet_where_it_must",)),
    Mutant("quorum-lost-blind-to-silent-sentinels", "every Sentinel gone (or silent behind OT's exporter): no "
           "quorum alert", "components/cache_patterns/observability/rules.py",
           'f"max by (job, master_name) ({quorum}) == 0 or {silent}"', 'f"max by (job, master_name) ({quorum}) == 0"',
           ("tests/observability/test_rules_promtool.py::test_every_alert_of_a_store_fires_and_stays_quiet_where_it_must",)),
    Mutant("alerts-without-namespace", "grouped and absent() alerts lose `namespace`: namespace-routed "
           "Alertmanagers never get them", "components/cache_patterns/observability/rules.py",
           '            labels["namespace"] = self.t.namespace\n', "            pass\n",
           ("tests/observability/test_rules_promtool.py::test_every_alert_of_a_store_fires_and_stays_quiet_where_it_must",
            "tests/observability/test_rules.py::test_every_rule_carries_a_summary_description_and_runbook_url_and_routing_labels")),
    Mutant("replica-loss-pages-at-once", "a replica down one minute already alerts (the mixin waits five)",
           "components/cache_patterns/observability/rules.py", 'b.add("RedisDown", f"redis_up{j} == 0", "5m",',
           'b.add("RedisDown", f"redis_up{j} == 0", "1m",',
           ("tests/observability/test_rules_promtool.py::test_every_alert_of_a_store_fires_and_stays_quiet_where_it_must",
            "tests/observability/test_rules.py::test_a_lost_replica_is_a_warning_that_waits_five_minutes")),
    Mutant("no-inhibition-by-missing-primary", "a primary lost without a failover pages four times (the "
           "Sentinels' alerts are not inhibited)", "components/cache_patterns/observability/alertmanager.py",
           """{"source_matchers": [OURS, 'alertname="RedisMissingPrimary"'],""",
           """{"source_matchers": [OURS, 'alertname="NoSuchAlert"'],""",
           ("tests/observability/test_alertmanager.py::test_one_incident_pages_once",)),
    Mutant("ot-sentinels-unwatched", "OT's Sentinels get no exporter: no Sentinel or quorum alert for them",
           "components/cache_patterns/patterns/operator/monitoring.py",
           'if s.kind == "ot-replication" and sentinels:', "if False:",
           ("tests/observability/test_scrape_objects.py::test_ot_sentinels_are_scraped_by_an_exporter_of_this_programs_own",
            "tests/live/test_standalone_exporter_live.py::test_the_ot_sentinel_exporter_scrapes_every_sentinel_for_what_the_rules_read")),
    Mutant("standalone-exporter-scrapes-itself", "the OT Sentinel PodMonitor scrapes the exporter's own /metrics "
           "(no Sentinel's)", "components/cache_patterns/observability/scrape.py",
           '{**endpoint, "path": "/scrape", "params"', '{**endpoint, "params"',
           ("tests/live/test_standalone_exporter_live.py::test_the_ot_sentinel_exporter_scrapes_every_sentinel_for_what_the_rules_read",)),
    Mutant("watcher-heartbeat-only-at-start", "the certificate watchers note their heartbeat once: a running "
           "watcher is restarted every 30 s", "components/cache_patterns/patterns/statefulset/scripts/tls-reload.sh",
           "    while :; do\n        heartbeat\n        tls_refresh\n", "    while :; do\n        tls_refresh\n",
           ("tests/live/test_tls_reload_probe.py::test_a_stopped_watcher_fails_its_liveness_probe_and_a_restarted_one_reloads",), count=2),
    Mutant("stopped-watcher-stays-alive", "a certificate watcher that stopped watching passes its liveness probe: "
           "renewals are never loaded", "components/cache_patterns/patterns/statefulset/scripts/tls-reload.sh",
           '    [ $(( $(date +%s) - last )) -le "$limit" ]\n', "    true\n",
           ("tests/live/test_tls_reload_probe.py::test_a_stopped_watcher_fails_its_liveness_probe_and_a_restarted_one_reloads",)),
    Mutant("watcher-without-liveness", "the certificate watchers have no probe at all",
           "components/cache_patterns/patterns/statefulset/tls_reload.py",
           '        "livenessProbe": plan.tls_reload_probe(role),\n', "",
           ("tests/test_checkov.py::test_every_rendered_stack_passes_checkov_but_for_the_accepted_checks",)),
    # Issue 18.10: a pattern switch says what it does.
    Mutant("pattern-switch-silent", "a render after a pattern switch prints only the new object list",
           "tools/render.py", "        lines = impact.impact(previous, current) if previous is not None else []\n",
           "        lines = []\n",
           ("tests/test_impact.py::test_render_prints_the_impact_against_the_last_render_and_not_on_a_first_render",)),
    Mutant("switch-hides-lost-variables", "the impact of a switch does not name the contract variables an app loses",
           "tools/impact.py", 'lost = sorted(set(old["apps"].get(app, [])) - set(new["apps"].get(app, [])))',
           "lost: list[str] = []",
           ("tests/test_impact.py::test_sidecar_to_statefulset_names_the_variables_each_app_loses_and_the_data_in_its_pods",)),
    Mutant("unknown-arg-ignored", "a misspelt component arg is silently ignored (its default applies instead)",
           "components/cache_patterns/core/component.py",
           "                for key in args if key not in allowed]", "                for key in args if False]",
           ("tests/test_component_api.py::test_a_mistake_in_the_args_is_named_with_what_is_allowed[cluster_domian]",)),
    Mutant("erroneous-block-missing", "a block with an unknown key in it counts as absent: every cache that needs "
           "it is also reported as lacking it", "components/cache_patterns/stack.py",
           'aws_given=raw.get("aws") is not None', "aws_given=aws is not None",
           ("tests/test_config_errors.py::test_an_unknown_key_inside_a_block_is_the_only_problem_of_that_block",)),
    Mutant("plan-pods-beside-redis-uncounted", "the plan leaves out the Sentinel and HAProxy pods of pattern 2",
           "components/cache_patterns/planning/report.py",
           '    others = inp.other_pods if current == "statefulset" else ()', "    others = ()",
           ("tests/test_plan_cli.py::test_the_statefulset_plan_counts_its_sentinels_and_haproxy_pods",)),
    # The component provider (issue 19.5): what it adds to the SDK's for the YAML program.
    Mutant("provider-output-input-unmapped", "a complex input that comes from another resource's outputs (a "
           "cache's `bindings` passed to AppDeployment) is mapped as an empty object: every app of a YAML "
           "program fails", "components/cache_patterns/provider.py",
           "        return type_def is not None and not type_def.enum\n", "        return False\n",
           ("tests/test_provider.py::test_an_app_gets_its_binding_from_the_caches_outputs_through_the_provider",)),
    Mutant("provider-floats-kept", "integers inside complex inputs stay floats: `replicas: 1` from YAML is "
           "refused", "components/cache_patterns/provider.py", "                mapped[py_name] = _int(mapped[py_name])\n",
           "                pass\n",
           ("tests/test_provider.py::test_an_integer_inside_a_complex_input_is_an_integer_and_bindings_come_back_in_schema_names",)),
    Mutant("provider-unknown-key-dropped", "a misspelt settings key from another language is dropped silently",
           "components/cache_patterns/provider.py",
           "            mapped.update({k: v for k, v in inputs.items() if k not in properties and k not in later})\n",
           "            pass\n",
           ("tests/test_provider.py::test_a_settings_mistake_is_an_input_properties_error_naming_each_property",)),
    Mutant("in-process-over-a-cluster", "an in-process L1 is accepted over a cluster-mode L2: one tracking connection "
           "sees one node's writes, so copies of the other nodes' keys stay stale for the TTL cap",
           "components/cache_patterns/patterns/two_tier/settings.py", "        if cache.cluster_mode:\n",
           "        if False:\n",
           ("tests/test_two_tier.py::test_in_process_is_refused_where_the_l2_cannot_track_for_one_connection",)),
    Mutant("in-process-runs-a-sidecar", "l1.mode: in-process still gets the sidecar and its variables: the app's "
           "client never enables its near cache", "components/cache_patterns/patterns/two_tier/component.py",
           "    if l1.in_process:\n", "    if False:\n",
           ("tests/test_two_tier.py::test_in_process_l1_adds_no_container_and_gives_bounds_and_tracking",)),
    Mutant("near-unbounded", "the in-process L1 evicts nothing: it grows past maxEntries and maxBytes until the "
           "app is OOM-killed", str(CLIENT_SRC / "cache_patterns_client/near.py"),
           "            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:\n",
           "            while False:\n",
           ("tests/client/test_conformance.py::test_scenario[python:in-process-the-bounds-hold-under-a-zipf-workload]",)),
    Mutant("near-kept-after-tracking-loss", "in-process copies outlive their tracking connection: with L2 away, hits "
           "go on from copies no invalidation can reach", str(CLIENT_SRC / "cache_patterns_client/tracking.py"),
           '                    self._flush_l1("tracking connection lost")\n', "                    pass\n",
           ("tests/client/test_conformance.py::test_scenario[python:in-process-l2-down-empties-the-l1-and-raises]",)),
    Mutant("near-invalidation-ignored", "the in-process L1 counts the server's invalidation messages but drops no "
           "copy: another pod's write leaves this process serving the old value until the TTL cap",
           str(CLIENT_SRC / "cache_patterns_client/tracking.py"),
           '            self._invalidate_local(key if isinstance(key, bytes) else str(key).encode("utf-8"))\n',
           "            pass\n",
           ("tests/client/test_near_bench_live.py::"
            "test_on_the_zipf_workload_the_in_process_l1_holds_its_bound_serves_fresh_and_hits_as_often",
            "tests/client/test_conformance.py::test_scenario[python:in-process-another-clients-write-invalidates-within-milliseconds]")),
    Mutant("reload-loop-ignores-sigterm", "the Redis pods' TLS reload loop, its container's PID 1, ignores "
           "SIGTERM: every deleted Redis pod waits out its 105 s grace period",
           "components/cache_patterns/patterns/statefulset/scripts/tls-reload.sh",
           "reload_redis() {\n    trap stop_loop TERM INT\n", "reload_redis() {\n",
           ("tests/live/test_tls_scripts.py::test_the_reload_loops_stop_on_sigterm_as_their_containers_pid_1",)),
    # What the real node found (docs/node.md), caught by the node tier.
    Mutant("node-sysctls-not-restored", "`./run cluster down` leaves the kernel sysctls the real node's kubelet "
           "set (kernel.panic, vm.overcommit_memory) on the host", "e2e/hoststate.py",
           'skipped = restore_sysctls(node.get("sysctls_changed") or {})', "skipped = {}",
           ("tests/node/test_host.py::test_host_changes_are_namespaced_or_recorded",)),
    # What the engine tier found (docs/engine.md), caught by the engine tier itself.
    Mutant("urn-alias-removed", "objects that move between pattern components keep no alias: a statefulset -> "
           "operator switch fails on a server-side apply conflict", "components/cache_patterns/core/moves.py",
           "    return [pulumi.Alias(parent=pulumi.resource.create_urn(name, other)) for other in in_cluster_components()\n"
           "            if other != parent.pulumi_resource_type]\n", "    return []\n",
           ("e2e/scenarios/test_changes.py::test_staging_switches_statefulset_to_operator",)),
    Mutant("claim-patch-not-retained", "the volume claims' patches are deleted with the stack: `pulumi destroy` "
           "fails after a volume growth", "components/cache_patterns/patterns/statefulset/volumes.py",
           "depends_on=[statefulset], retain_on_delete=True)", "depends_on=[statefulset])",
           ("e2e/scenarios/test_changes.py::test_staging_grows_its_volumes_without_deleting_anything",)),
    Mutant("rotation-keepers-unchanged", "a password generator's keepers ignore the rotation generation: a bump "
           "changes nothing, the old passwords stay valid", "components/cache_patterns/core/passwords.py",
           'keepers={"generation": str(generation)}', 'keepers={"generation": "1"}',
           ("e2e/scenarios/test_rotation.py::"
            "test_a_password_rotation_replaces_the_secrets_rolls_the_readers_and_the_old_passwords_are_refused",)),
    Mutant("stack-owner-label-dropped", "objects carry no stack-owner label: a second stack declaring the same "
           "namespaces silently adopts them, and destroying it deletes the first stack's",
           "components/cache_patterns/core/ownership.py",
           '        props["metadata"] = labelled(props.get("metadata"), stack)\n',
           '        props["metadata"] = props.get("metadata")\n',
           # The cheapest scenario that sees it (the render names every object, the label finds them);
           # the two-stack scenario, which drove the fix, catches it too (76 s instead of 31 s).
           ("e2e/scenarios/test_stacks.py::test_stack_lifecycle[local]",)),
    # Issue 21: placement, images and pull Secrets on every pod, the grace period, mirrors, exposure.

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
    Mutant("expose-refused-as-unknown", "`expose` on an operator or sidecar cache reads as a typo (\"did you mean "
           "'exporter'?\") instead of saying only statefulset caches have it", "components/cache_patterns/config/errors.py",
           "        if loc[-1] in model.ELSEWHERE:\n", "        if False:\n",
           ("tests/test_expose.py::test_other_patterns_refuse_it_saying_why_beside_their_other_problems",)),
    Mutant("split-tier-drops-a-file", "a split tier's second part loses a file: CI never runs its scenarios, and "
           "says every tier passed", "tools/tiers.py", '    "engine-b": list(ENGINE_B),', '    "engine-b": list(ENGINE_B[1:]),',
           ("tests/test_tiers.py::test_every_test_is_in_exactly_one_part_of_a_split_tier",)),
    Mutant("starved-timing-tests-offline", "the mutation check's part at the lowest CPU priority takes mutants whose "
           "tests run servers against timers: a starved run fails a timing bound and counts a mutant as caught",
           "tools/mutate.py", '        return not node.startswith(("tests/live/", "tests/client/")) and not any(c in source(node) for c in CLOCKS)',
           '        return True',
           ("tests/test_outcomes.py::test_the_two_parts_of_the_check_are_every_mutant_once_and_the_offline_one_waits_on_no_clock",)),
)

# Issue 22 (backups, restore, the empty-node protections and the stack-wide checks they met): their own module.
MUTANTS = MUTANTS + BACKUP_MUTANTS
# Issue 23 (day-2 changes: upgrades, scaling, memory, refusals at preview, autoscaling): their own module.
MUTANTS = MUTANTS + DAY2
