"""Helpers for tests on the real node (e2e/node.py): pods by label, waiting for them, the test app's
round trip through the contract, and acknowledged writes counted through a Service.

    from e2e import pods
    pods.wait_ready(c, "shop", {"app.kubernetes.io/name": "checkout"}, count=2)
    pods.app_check(c, "shop", pod)                       # the app's SET/GET through CACHE_*
    with pods.writes(c, "shop", pod, seconds=30, prefix="failover") as w:
        c.kubectl("delete", "pod", "-n", "cache", "staging-sessions-0", "--wait=false")
    w.result.acked, w.result.failed                      # after the block: the writer finished
    pods.lost(c, "shop", pod, "failover", w.result.acked)   # acknowledged writes missing now

The writer and the reader are the test app's own subcommands (e2e/testapp/app.py), run with
`kubectl exec` in an app pod, so every write goes the way the app's do: the project's client, the
contract's variables, the Service, HAProxy, the primary.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Iterator

from e2e.cluster import Cluster
from e2e.processes import ClusterError

APP = ("python3", "/app/app.py")


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def list_pods(cluster: Cluster, namespace: str, labels: dict[str, str] | None = None) -> list[dict]:
    args = ["get", "pods", "-n", namespace, "-o", "json"] + (["-l", selector(labels)] if labels else [])
    return json.loads(cluster.kubectl(*args).stdout)["items"]


def is_ready(pod: dict) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def why_not_ready(pod: dict) -> str:
    status = pod.get("status", {})
    out = [f"{pod['metadata']['name']}: {status.get('phase')}"]
    for c in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
        state = c.get("state", {})
        detail = next(iter(state.items()), ("?", {}))
        out.append(f"  {c['name']}: ready={c.get('ready')} restarts={c.get('restartCount')} {detail[0]} "
                   f"{detail[1].get('reason', '')} {detail[1].get('message', '')[:300]}")
    return "\n".join(out)


def wait_ready(cluster: Cluster, namespace: str, labels: dict[str, str], count: int,
               timeout: float = 180) -> list[dict]:
    """Wait until `count` pods with these labels are Ready (and none is being deleted); the error
    says why each is not."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = list_pods(cluster, namespace, labels)
        ready = [p for p in found if is_ready(p)]
        if len(ready) == count and len(found) == count:
            return ready
        time.sleep(1)
    raise ClusterError(f"{namespace} {selector(labels)}: not {count} Ready pod(s) after {timeout:.0f} s:\n"
                       + "\n".join(why_not_ready(p) for p in found))


def app_check(cluster, namespace: str, pod: str, container: str | None = None) -> dict:
    """The test app's SET/GET through the contract, run in the app's container."""
    proc = cluster.exec(namespace, pod, *APP, "check", container=container, check=False)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"ok": False, "error": (proc.stderr + proc.stdout).strip()[-2000:]}


@dataclass
class WriteResult:
    acked: list[int] = field(default_factory=list)
    failed: int = 0
    errors: dict = field(default_factory=dict)   # error type -> count
    first: dict = field(default_factory=dict)    # error type -> its first message


@dataclass
class Writes:
    future: concurrent.futures.Future
    result: WriteResult | None = None


@contextlib.contextmanager
def writes(cluster, namespace: str, pod: str, seconds: float, prefix: str,
           container: str | None = None) -> Iterator[Writes]:
    """The app writes `prefix:<n>` for `seconds` while the block runs (and after it, until the time
    is up); on leaving, its result: which writes were acknowledged, how many failed."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(cluster.exec, namespace, pod, *APP, "write", str(seconds), prefix,
                         container=container, check=False, timeout=seconds + 120)
    w = Writes(future)
    time.sleep(1)   # the writer is connected and writing before the block disturbs anything
    try:
        yield w
    finally:
        proc = future.result()
        pool.shutdown()
        try:
            data = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise ClusterError(f"the writer in {namespace}/{pod} failed: {(proc.stderr + proc.stdout)[-2000:]}") from None
        w.result = WriteResult(data["acked"], data["failed"], data["errors"], data.get("first", {}))


def lost(cluster, namespace: str, pod: str, prefix: str, acked: list[int], container: str | None = None) -> dict:
    """Which acknowledged writes a read through the contract does not find (or finds changed)."""
    proc = cluster.exec(namespace, pod, *APP, "read", prefix, container=container, check=False,
                        input=" ".join(map(str, acked)) + "\n")
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise ClusterError(f"the reader in {namespace}/{pod} failed: {(proc.stderr + proc.stdout)[-2000:]}") from None
