"""The rollout driver of pattern 2: the order in which Redis pods are replaced after a change of their
template (an engine upgrade, a new memory limit), and the hand-over before a scale-down.

The Redis StatefulSet is rendered with `updateStrategy: OnDelete`, so Kubernetes replaces a pod only
when it is deleted; this driver deletes them in the one order that moves the primary exactly once:
every replica first, one at a time, each back on the new revision, synced and promotable before the
next goes; the primary last, whose preStop hook hands over to one of the already-replaced replicas
(one client-visible switch). Kubernetes' own RollingUpdate goes from the highest ordinal down, so a
primary on any but the lowest ordinal hands over to a replica that is replaced later: two switches, or
more (docs/upgrades.md).

It reads each server through `probe.sh state` run in its pod and deletes pods through a `Pods`
backend: `kubectl` against a cluster (`KubectlPods`), or the live tests' processes.
"""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol


# How often Sentinel refreshes a replica's INFO (and so the replica-priority it chooses by).
SENTINEL_INFO_PERIOD_S = 10


class RolloutError(RuntimeError):
    """The set is not in a state the driver may act on; nothing more was deleted (the message says why)."""


@dataclass(frozen=True)
class ServerState:
    """One line of `probe.sh state`."""

    role: str
    link: str
    sync: str
    offset: int
    replicas: int
    priority: int
    version: str
    used: int = 0
    maxmemory: int = 0

    @classmethod
    def parse(cls, line: str) -> "ServerState":
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        def num(key: str) -> int:
            return int(fields.get(key) or 0)
        return cls(role=fields.get("role", ""), link=fields.get("link", ""), sync=fields.get("sync", ""),
                   offset=num("offset"), replicas=num("replicas"), priority=num("priority"),
                   version=fields.get("version", ""), used=num("used"), maxmemory=num("maxmemory"))

    @property
    def synced_replica(self) -> bool:
        """A replica that holds the data and may be promoted."""
        return self.role == "slave" and self.link == "up" and self.sync == "0" and self.priority > 0


class Pods(Protocol):
    """What the driver needs of the cluster: the Redis pods, their revision, a script run in one, a delete."""

    def names(self) -> list[str]: ...                       # the Redis pods, in ordinal order
    def sentinel_names(self) -> list[str]: ...
    def revision(self, pod: str) -> str | None: ...         # None: the pod does not exist (yet)
    def started(self, pod: str) -> bool: ...                # a runtime started its server (it may hold data)
    def update_revision(self) -> str: ...
    def run(self, pod: str, script: str, *args: str) -> tuple[int, str]: ...  # (exit status, stdout)
    def delete(self, pod: str) -> None: ...                 # returns once the deletion is requested


@dataclass
class Step:
    pod: str
    role: str
    started: float
    done: float = 0.0


@dataclass
class Report:
    """What a rollout did, in order."""

    steps: list[Step] = field(default_factory=list)

    @property
    def handovers(self) -> int:
        return sum(1 for s in self.steps if s.role == "master")

    @property
    def order(self) -> list[str]:
        return [s.pod for s in self.steps]


@dataclass
class Driver:
    pods: Pods
    timeout_s: float = 600
    poll_s: float = 0.5
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def state(self, pod: str) -> ServerState | None:
        status, out = self.pods.run(pod, "probe.sh", "state")
        return ServerState.parse(out.strip().splitlines()[-1]) if status == 0 and out.strip() else None

    def states(self) -> dict[str, ServerState]:
        out = {}
        for pod in self.pods.names():
            s = self.state(pod)
            if s is None:
                raise RolloutError(f"{pod} does not answer `probe.sh state`; the set must be whole before a rollout")
            out[pod] = s
        return out

    def primary(self, states: dict[str, ServerState]) -> str:
        masters = [p for p, s in states.items() if s.role == "master"]
        if len(masters) != 1:
            raise RolloutError(f"expected exactly one primary, found {masters or 'none'}; wait for Sentinel to settle")
        lagging = [p for p, s in states.items() if p != masters[0] and not s.synced_replica]
        if lagging:
            raise RolloutError(f"replicas not synced and promotable: {', '.join(lagging)}; a rollout now could "
                               f"leave no replica to hand over to")
        return masters[0]

    def wait(self, what: str, check: Callable[[], bool]) -> None:
        deadline = self.clock() + self.timeout_s
        while not check():
            if self.clock() > deadline:
                raise RolloutError(f"timed out after {self.timeout_s:.0f} s waiting for {what}")
            self.sleep(self.poll_s)

    def replace(self, pod: str, expect_replicas: int, primary: Callable[[], str]) -> None:
        """Delete `pod`, then wait until it is back on the new revision, ready (`probe.sh ready`, which
        also makes it promotable), synced, and counted by the primary."""
        target = self.pods.update_revision()
        self.pods.delete(pod)
        self.wait(f"{pod} to come back on revision {target}", lambda: self.pods.revision(pod) == target)
        def back() -> bool:
            if self.pods.run(pod, "probe.sh", "ready")[0] != 0:
                return False
            s = self.state(pod)
            if s is None or not s.synced_replica:
                return False
            p = self.state(primary())
            return p is not None and p.role == "master" and p.replicas >= expect_replicas
        self.wait(f"{pod} to be a synced, promotable replica the primary counts", back)

    def roll(self) -> Report:
        """Replace every pod not on the update revision: replicas first (highest ordinal first), the
        primary last, through its preStop hand-over."""
        report = Report()
        target = self.pods.update_revision()
        stale = [p for p in reversed(self.pods.names()) if self.pods.revision(p) != target]
        # A pod no runtime ever started (Pending; a node that runs no container, like kwok's) holds no
        # server and no data: it is replaced first, without reading it, and made again on the new revision.
        for pod in [p for p in stale if not self.pods.started(p)]:
            report.steps.append(step := Step(pod, "idle", self.clock()))
            self.pods.delete(pod)
            self.wait(f"{pod} to come back on revision {target}", lambda: self.pods.revision(pod) == target)
            step.done = self.clock()
        stale = [p for p in stale if p not in report.order]
        if not stale:
            return report
        states = self.states()
        primary = self.primary(states)
        replicas = len(states) - 1
        current = {"primary": primary}

        def who() -> str:
            return current["primary"]

        for pod in [p for p in stale if p != primary] + [p for p in stale if p == primary]:
            step = Step(pod, "master" if pod == primary else "slave", self.clock())
            report.steps.append(step)
            if pod == primary:
                self.pods.delete(pod)
                self.wait(f"{pod} to come back on revision {target}", lambda: self.pods.revision(pod) == target)
                def new_primary() -> bool:
                    found = [p for p in self.pods.names() if p != pod and (s := self.state(p)) and s.role == "master"]
                    if len(found) == 1:
                        current["primary"] = found[0]
                        return True
                    return False
                self.wait("a new primary among the replaced replicas", new_primary)
                self.wait(f"{pod} to be a synced, promotable replica", lambda: self.pods.run(pod, "probe.sh", "ready")[0] == 0
                          and bool((s := self.state(pod)) and s.synced_replica))
            else:
                self.replace(pod, replicas, who)
            step.done = self.clock()
        return report

    def prepare_scale_down(self, servers: int) -> list[str]:
        """Before the StatefulSet shrinks to `servers` pods (it deletes the highest ordinals): every
        replica to be removed is retired (never promoted), and a primary on a removed ordinal hands over
        to a kept replica and stays up as a replica. Refuses when no kept replica is synced. Returns
        the pods to be removed."""
        names = self.pods.names()
        if not 1 <= servers < len(names):
            raise RolloutError(f"a scale-down keeps 1 to {len(names) - 1} of {len(names)} servers, got {servers}")
        states = self.states()
        primary = self.primary(states)
        kept, removed = names[:servers], names[servers:]
        if primary in removed and not any(states[p].synced_replica for p in kept):
            raise RolloutError(f"the primary {primary} is on a removed ordinal and no kept replica is synced to "
                               f"take over: refusing the scale-down")
        for pod in removed:
            if pod != primary and self.pods.run(pod, "admin.sh", "retire")[0] != 0:
                raise RolloutError(f"could not retire {pod}")
        if primary in removed:
            # Sentinel reads a replica's priority from its INFO, refreshed every 10 s: until then it could
            # still pick a retired replica.
            self.sleep(SENTINEL_INFO_PERIOD_S + 1)
            if self.pods.run(primary, "admin.sh", "handover")[0] != 0:
                raise RolloutError(f"{primary} did not hand over; nothing was removed")
            self.pods.run(primary, "admin.sh", "retire")
            def moved() -> bool:
                found = [p for p in kept if (s := self.state(p)) is not None and s.role == "master"]
                return len(found) == 1
            self.wait("a primary on a kept ordinal", moved)
            # Sentinel's failover moves the replicas over one at a time; one still waiting when the removed
            # pods go (the retired ones counted for minReplicasToWrite until then) leaves the new primary
            # without a replica, refusing writes until the failover times out (29 s seen in CI). So every
            # other server follows the new primary before anything is removed.
            def all_follow() -> bool:
                states = self.states()
                return any(s.role == "master" and s.replicas >= len(names) - 1 for s in states.values())
            self.wait("every other server to replicate from the new primary", all_follow)
        return removed

    def forget_removed(self, servers: int) -> None:
        """After a scale-down: each Sentinel in turn forgets the removed replicas (SENTINEL RESET, once it
        names the primary the others name) and counts the quorum again (CKQUORUM) before the next, so a
        majority always knows the primary."""
        for sentinel in self.pods.sentinel_names():
            # admin.sh refuses while this Sentinel still names another primary than the others (it
            # learns the hand-over from their hello messages within a few seconds): wait for it.
            self.wait(f"{sentinel} to name the primary the others name, and reset",
                      lambda: self.pods.run(sentinel, "admin.sh", "reset")[0] == 0)
            self.wait(f"{sentinel} to reach its quorum again", lambda: self.pods.run(sentinel, "probe.sh", "sentinel")[0] == 0)

    def wait_joined(self) -> None:
        """After a scale-up: every replica synced and promotable (the new ones included)."""
        def joined() -> bool:
            try:
                self.primary(self.states())
                return True
            except RolloutError:
                return False
        self.wait("every replica synced and promotable", joined)

    def set_maxmemory(self, maxmemory: int, headroom: float = 0.1) -> dict[str, int]:
        """A new maxmemory within the same container limit, applied live: refused when any server's
        used_memory is above `maxmemory` less `headroom` (it would evict at once, or refuse writes with
        noeviction), else CONFIG SET on the replicas, then the primary (a replica never holds a smaller
        limit than its primary for long). Returns each pod's used_memory."""
        states = self.states()
        self.primary(states)
        used = {pod: s.used for pod, s in states.items()}
        biggest = max(used, key=lambda p: used[p])
        if used[biggest] > maxmemory * (1 - headroom):
            raise RolloutError(f"maxmemory {maxmemory} is below what {biggest} holds: used_memory {used[biggest]} "
                               f"(+{headroom:.0%} headroom); shrink the data set first or keep a larger maxmemory")
        order = [p for p, s in states.items() if s.role != "master"] + \
            [p for p, s in states.items() if s.role == "master"]
        for pod in order:
            if self.pods.run(pod, "admin.sh", "maxmemory", str(maxmemory))[0] != 0:
                raise RolloutError(f"CONFIG SET maxmemory failed in {pod}")
        return used


@dataclass
class KubectlPods:
    """The `Pods` backend of a cluster, through `kubectl` (the user's kubeconfig and context): the Redis
    pods `<statefulset>-<i>`, the Sentinels `<statefulset>-sentinel-<i>`, scripts run with `kubectl
    exec` in the pod's own container (with its environment), pods deleted without waiting."""

    namespace: str
    statefulset: str
    context: str | None = None
    conf_dir: str = "/etc/cache-patterns/conf"

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["kubectl", "-n", self.namespace, *(["--context", self.context] if self.context else []), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=check)

    def _field(self, kind: str, name: str, path: str) -> str:
        r = self.kubectl("get", kind, name, "-o", f"jsonpath={{{path}}}", check=False)
        return r.stdout.strip() if r.returncode == 0 else ""

    def names(self) -> list[str]:
        n = int(self._field("statefulset", self.statefulset, ".spec.replicas") or 0)
        return [f"{self.statefulset}-{i}" for i in range(n)]

    def sentinel_names(self) -> list[str]:
        name = f"{self.statefulset}-sentinel"
        return [f"{name}-{i}" for i in range(int(self._field("statefulset", name, ".spec.replicas") or 0))]

    def revision(self, pod: str) -> str | None:
        if self._field("pod", pod, ".metadata.deletionTimestamp"):
            return None
        return self._field("pod", pod, ".metadata.labels.controller-revision-hash") or None

    def update_revision(self) -> str:
        return self._field("statefulset", self.statefulset, ".status.updateRevision")

    def observed(self) -> bool:
        """The StatefulSet controller has seen the current template (its update revision is that one's)."""
        seen = self._field("statefulset", self.statefulset, ".metadata.generation} {.status.observedGeneration").split()
        return len(seen) == 2 and seen[0] == seen[1] and bool(self.update_revision())

    def started(self, pod: str) -> bool:
        return bool(self._field("pod", pod, '.status.containerStatuses[?(@.name=="redis")].containerID'))

    def run(self, pod: str, script: str, *args: str) -> tuple[int, str]:
        container = "sentinel" if pod.startswith(f"{self.statefulset}-sentinel-") else "redis"
        r = self.kubectl("exec", pod, "-c", container, "--", "sh", f"{self.conf_dir}/{script}", *args, check=False)
        return r.returncode, r.stdout

    def delete(self, pod: str) -> None:
        self.kubectl("delete", "pod", pod, "--wait=false")


def main(argv: list[str] | None = None) -> int:
    """python -m cache_patterns.patterns.statefulset.rollout NAMESPACE STATEFULSET [roll|scale-down N|forget N|maxmemory B]"""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("namespace")
    ap.add_argument("statefulset")
    ap.add_argument("action", choices=["roll", "scale-down", "forget", "maxmemory"], default="roll", nargs="?")
    ap.add_argument("value", type=int, nargs="?")
    ap.add_argument("--context")
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args(argv)
    driver = Driver(KubectlPods(a.namespace, a.statefulset, a.context), timeout_s=a.timeout)
    try:
        if a.action == "roll":
            report = driver.roll()
            print(f"replaced {', '.join(report.order) or 'nothing'}; hand-overs: {report.handovers}")
        elif a.value is None:
            ap.error(f"{a.action} needs a value")
        elif a.action == "scale-down":
            print(f"retired {', '.join(driver.prepare_scale_down(a.value))}: now lower `replicas` and `pulumi up`, "
                  f"then run `forget {a.value}`")
        elif a.action == "forget":
            driver.forget_removed(a.value)
        else:
            print(f"maxmemory {a.value} set; used_memory: {driver.set_maxmemory(a.value)}")
    except RolloutError as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
