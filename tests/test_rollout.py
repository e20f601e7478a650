"""The rollout driver's order and refusals against a fake set of pods (the live tier runs it against
real processes: tests/live/test_rollout.py, tests/live/test_scaling.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cache_patterns.patterns.statefulset.rollout import Driver, RolloutError, ServerState


@dataclass
class FakePods:
    """Pods whose servers answer `probe.sh state` from a table; a deleted primary hands over to the
    first promotable replica, as the preStop hook does through Sentinel."""

    roles: dict[str, str]
    revisions: dict[str, str]
    target: str = "new"
    synced: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)
    idle: set[str] = field(default_factory=set)     # pods no runtime started: they answer nothing

    def names(self) -> list[str]:
        return sorted(self.roles)

    def sentinel_names(self) -> list[str]:
        return ["sentinel-0", "sentinel-1", "sentinel-2"]

    def revision(self, pod: str) -> str | None:
        return self.revisions.get(pod)

    def update_revision(self) -> str:
        return self.target

    def started(self, pod: str) -> bool:
        return pod not in self.idle

    def run(self, pod: str, script: str, *args: str) -> tuple[int, str]:
        self.log.append(f"{script} {' '.join(args)} {pod}")
        if script == "probe.sh" and args == ("state",):
            role = self.roles[pod]
            ok = role == "master" or pod in self.synced
            replicas = sum(1 for p in self.roles if p != pod and p in self.synced) if role == "master" else 0
            return 0, (f"role={role} link={'up' if ok else 'down'} sync={0 if ok else 1} offset=10 "
                       f"replicas={replicas} priority={100 if ok else 0} version=8.1.1")
        if script == "probe.sh" and args == ("ready",):
            return (0 if self.roles[pod] == "master" or pod in self.synced else 1), ""
        if script == "admin.sh" and args == ("handover",):
            self.hand_over(pod)
        return 0, ""

    def hand_over(self, pod: str) -> None:
        if self.roles[pod] == "master":
            new = next(p for p in self.names() if p != pod and p in self.synced)
            self.roles[pod], self.roles[new] = "slave", "master"
            self.synced.discard(new)
            self.synced.add(pod)

    def delete(self, pod: str) -> None:
        self.log.append(f"delete {pod}")
        self.hand_over(pod)
        self.revisions[pod] = self.target


def three(primary: str = "redis-1") -> FakePods:
    names = ["redis-0", "redis-1", "redis-2"]
    return FakePods(roles={p: "master" if p == primary else "slave" for p in names},
                    revisions={p: "old" for p in names}, synced={p for p in names if p != primary})


def driver(pods: FakePods) -> Driver:
    return Driver(pods, timeout_s=5, poll_s=0, sleep=lambda s: None)


@pytest.mark.parametrize("primary", ["redis-0", "redis-1", "redis-2"])
def test_replicas_first_highest_ordinal_first_and_the_primary_last_once(primary):
    pods = three(primary)
    report = driver(pods).roll()
    replicas = [p for p in ["redis-2", "redis-1", "redis-0"] if p != primary]
    assert report.order == replicas + [primary]
    assert report.handovers == 1
    assert [line for line in pods.log if line.startswith("delete")] == [f"delete {p}" for p in report.order]
    assert set(pods.revisions.values()) == {"new"}


def test_pods_already_on_the_new_revision_are_left_alone():
    pods = three("redis-0")
    pods.revisions["redis-2"] = "new"
    report = driver(pods).roll()
    assert report.order == ["redis-1", "redis-0"]


def test_a_set_without_a_synced_replica_is_refused_before_anything_is_deleted():
    pods = three("redis-0")
    pods.synced.discard("redis-2")
    with pytest.raises(RolloutError, match="redis-2"):
        driver(pods).roll()
    assert not any(line.startswith("delete") for line in pods.log)


def test_two_primaries_are_refused():
    pods = three("redis-0")
    pods.roles["redis-2"] = "master"
    with pytest.raises(RolloutError, match="exactly one primary"):
        driver(pods).roll()


def test_a_scale_down_hands_a_primary_on_a_removed_ordinal_over_to_a_kept_one():
    pods = three("redis-2")
    removed = driver(pods).prepare_scale_down(2)
    assert removed == ["redis-2"]
    assert pods.roles["redis-2"] == "slave" and "master" in (pods.roles["redis-0"], pods.roles["redis-1"])
    assert "admin.sh retire redis-2" in pods.log


def test_a_scale_down_retires_the_removed_replicas_and_leaves_a_kept_primary():
    pods = three("redis-0")
    assert driver(pods).prepare_scale_down(1) == ["redis-1", "redis-2"]
    assert pods.roles["redis-0"] == "master"
    assert {"admin.sh retire redis-1", "admin.sh retire redis-2"} <= set(pods.log)


def test_sentinels_forget_removed_replicas_one_at_a_time():
    pods = three("redis-0")
    driver(pods).forget_removed(2)
    resets = [line for line in pods.log if "sentinel-" in line]
    assert resets == [f"{s} sentinel-{i}" for i in range(3) for s in ("admin.sh reset", "probe.sh sentinel")]


def test_the_state_line_parses():
    s = ServerState.parse("role=slave link=up sync=0 offset=42 replicas=0 priority=100 version=9.1.2")
    assert s.synced_replica and s.offset == 42 and s.version == "9.1.2"
    assert not ServerState.parse("role=slave link=up sync=0 offset=42 replicas=0 priority=0 version=9.1.2").synced_replica


def test_the_kubectl_backend_runs_scripts_in_the_pods_own_container(monkeypatch):
    import subprocess

    from cache_patterns.patterns.statefulset import rollout

    calls = []

    def fake(cmd, **kwargs):
        calls.append(cmd)
        out = {"jsonpath={.spec.replicas}": "3", "jsonpath={.status.updateRevision}": "sts-abc"}.get(cmd[-1], "")
        return subprocess.CompletedProcess(cmd, 0, out, "")

    monkeypatch.setattr(rollout.subprocess, "run", fake)
    pods = rollout.KubectlPods("cache", "staging-sessions", context="prod")
    assert pods.names() == ["staging-sessions-0", "staging-sessions-1", "staging-sessions-2"]
    assert pods.update_revision() == "sts-abc"
    pods.run("staging-sessions-1", "probe.sh", "state")
    pods.run("staging-sessions-sentinel-0", "admin.sh", "reset")
    pods.delete("staging-sessions-2")
    assert calls[2] == ["kubectl", "-n", "cache", "--context", "prod", "exec", "staging-sessions-1", "-c", "redis",
                        "--", "sh", "/etc/cache-patterns/conf/probe.sh", "state"]
    assert calls[3][7:9] == ["-c", "sentinel"]
    assert calls[4][-3:] == ["pod", "staging-sessions-2", "--wait=false"]


def test_pods_no_runtime_started_are_replaced_without_being_read():
    """kwok's nodes (the engine tier) and Pending pods run no server: nothing to read or hand over."""
    pods = three("redis-1")
    pods.idle = set(pods.roles)
    report = driver(pods).roll()
    assert report.order == ["redis-2", "redis-1", "redis-0"] and report.handovers == 0
    assert not any(line.startswith(("probe.sh", "admin.sh")) for line in pods.log), pods.log
    assert set(pods.revisions.values()) == {"new"}


def test_an_idle_pod_goes_first_then_the_running_ones_in_the_driver_s_order():
    pods = three("redis-0")
    pods.idle = {"redis-1"}
    pods.synced.discard("redis-1")      # it answers nothing; once replaced it runs and syncs
    original = pods.delete

    def delete(pod: str) -> None:
        original(pod)
        if pod in pods.idle:
            pods.idle.discard(pod)
            pods.synced.add(pod)
    pods.delete = delete
    report = driver(pods).roll()
    assert report.order == ["redis-1", "redis-2", "redis-0"] and report.handovers == 1


def test_a_set_already_on_the_revision_is_not_read_at_all():
    pods = three("redis-0")
    pods.revisions = {p: "new" for p in pods.revisions}
    assert driver(pods).roll().order == []
    assert pods.log == []


def test_the_kubectl_backend_reads_container_ids_and_the_observed_generation(monkeypatch):
    import subprocess

    from cache_patterns.patterns.statefulset import rollout

    answers = {}

    def fake(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 0, answers.get(cmd[-1], ""), "")

    monkeypatch.setattr(rollout.subprocess, "run", fake)
    pods = rollout.KubectlPods("cache", "s")
    ids = 'jsonpath={.status.containerStatuses[?(@.name=="redis")].containerID}'
    assert not pods.started("s-0")                      # kwok: no container id
    answers[ids] = "containerd://0123abcd"
    assert pods.started("s-0")
    seen = "jsonpath={.metadata.generation} {.status.observedGeneration}"
    answers.update({seen: "3 2", "jsonpath={.status.updateRevision}": "s-abc"})
    assert not pods.observed()
    answers[seen] = "3"                                  # not observed at all yet
    assert not pods.observed()
    answers[seen] = "3 3"
    assert pods.observed()
