"""checkov over every rendered stack: the Kubernetes checks of an independent scanner, pinned
(e2e/pins.toml [tools.checkov], built by `./run toolchain checkov` into a virtualenv outside the
repository). A check the project does not accept fails the suite, so a container without a probe, a
privileged or root container, a missing memory limit or a writable root filesystem fails CI.

The checks the project accepts are listed below, each with its reason and the condition under which
it holds; checkov reports a workload, not a container, so each condition is checked on the manifest
(a tls-reload watcher without a readiness probe is accepted, the Redis container beside it is not).
"""
from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Callable

import pytest
import yaml

from tests.conftest import skip_or_fail
from tools import harness, render


def _containers(obj: dict) -> list[dict]:
    spec = obj["spec"]["template"]["spec"] if "template" in obj.get("spec", {}) else obj.get("spec", {})
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def _pinned_tags(obj: dict) -> bool:
    return all(":" in c["image"] and not c["image"].endswith(":latest") and c.get("imagePullPolicy") == "IfNotPresent"
               for c in _containers(obj))


def _memory_limited(obj: dict) -> bool:
    return all(c.get("resources", {}).get("limits", {}).get("memory") for c in _containers(obj))


def _password_env_opted_in(obj: dict) -> bool:
    refs = [e["name"] for c in _containers(obj) for e in c.get("env", [])
            if "secretKeyRef" in (e.get("valueFrom") or {})]
    return bool(refs) and all(name.endswith("_PASSWORD") for name in refs)


def _only_watchers_lack_readiness(obj: dict) -> bool:
    lacking = [c for c in _containers(obj) if "readinessProbe" not in c]
    return bool(lacking) and all(c["name"] == "tls-reload" and
                                 (c.get("livenessProbe") or {}).get("exec", {}).get("command", [])[-2:-1] == ["alive"]
                                 for c in lacking)


ACCEPTED: dict[str, tuple[str, Callable[[dict], bool]]] = {
    "CKV_K8S_11": ("No CPU limit: CFS throttling stalls Redis's single thread (latency spikes, missed Sentinel "
                   "pings) while a request already reserves the CPU; `cpuLimit` sets one where a platform "
                   "requires it. Memory is always limited.", _memory_limited),
    "CKV_K8S_15": ("imagePullPolicy IfNotPresent, not Always: every image is a pinned release tag "
                   "(core/images.py), and Always would make each restart of a cache pod depend on the "
                   "registry.", _pinned_tags),
    "CKV_K8S_43": ("Tags, not digests: the image table pins release tags whose facts (user, entrypoint, "
                   "shell) were read from those images (core/images.py); a platform that requires digests "
                   "sets `image:` per cache.", _pinned_tags),
    "CKV_K8S_35": ("A password as an env value only where an app opts in (`passwordEnv: true`, for "
                   "frameworks that only take a URL); the contract's default is the mounted file.",
                   _password_env_opted_in),
    "CKV_K8S_9": ("The certificate watchers (tls-reload) have a liveness probe on their heartbeat and, on "
                  "purpose, no readiness probe: a failing readiness probe would take a cache pod that still "
                  "serves with a valid certificate out of its Service (docs/patterns/statefulset.md).",
                  _only_watchers_lack_readiness),
}


def checkov() -> str:
    from e2e import toolchain

    toolchain._load_recipes()
    if not toolchain.is_built("checkov"):
        skip_or_fail("checkov is not built (./run toolchain checkov)")
    return str(toolchain.bin_dir("checkov") / "checkov")


def scan(folder: Path) -> list[dict]:
    """checkov's failed checks over every manifest under `folder` (offline: --skip-download)."""
    proc = subprocess.run([checkov(), "-d", str(folder), "--framework", "kubernetes", "--quiet", "--compact",
                           "--skip-download", "-o", "json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    reports = report if isinstance(report, list) else [report]
    assert all(r.get("summary", {}).get("parsing_errors", 0) == 0 for r in reports)
    return [f for r in reports for f in r.get("results", {}).get("failed_checks", [])]


def unaccepted(folder: Path, failures: list[dict]) -> list[str]:
    out = []
    for f in failures:
        obj = yaml.safe_load((folder / f["file_path"].lstrip("/")).read_text())
        accepted = ACCEPTED.get(f["check_id"])
        if accepted is None or not accepted[1](obj):
            out.append(f"{f['file_path']}: {f['check_id']} {f['check_name']}")
    return sorted(out)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, list[dict]]:
    """One checkov run (it takes seconds to start) over every stack rendered under `stacks/`, and under
    `planted/` one manifest per fault checkov must report, made from staging's Redis StatefulSet."""
    root = tmp_path_factory.mktemp("checkov")
    for stack in harness.list_stacks():
        render.render(stack, root / "stacks", check=False)
    (sts,) = list((root / "stacks").glob("staging/*/StatefulSet-staging-sessions.yaml"))
    base = yaml.safe_load(sts.read_text())
    faults = {
        "no-readiness-on-redis": lambda c: c["name"] == "redis" and c.pop("readinessProbe"),
        "no-liveness-on-the-watcher": lambda c: c["name"] == "tls-reload" and c.pop("livenessProbe", None),
        "privileged": lambda c: c["name"] == "redis" and c["securityContext"].update(privileged=True),
    }
    (root / "planted").mkdir()
    for name, fault in faults.items():
        obj = copy.deepcopy(base)
        obj["metadata"]["name"] = name
        for c in obj["spec"]["template"]["spec"]["containers"]:
            fault(c)
        (root / "planted" / f"{name}.yaml").write_text(yaml.safe_dump(obj))
    return root, scan(root)


def test_every_rendered_stack_passes_checkov_but_for_the_accepted_checks(scanned):
    root, failures = scanned
    stacks = [f for f in failures if f["file_path"].startswith("/stacks/")]
    assert {f["file_path"].split("/")[2] for f in stacks} <= set(harness.list_stacks())
    assert unaccepted(root, stacks) == []
    # The watchers beside Redis and beside HAProxy: staging is the stack with TLS.
    watchers = {(f["file_path"].split("/")[2], Path(f["file_path"]).name.split("-")[0]) for f in stacks
                if f["check_id"] == "CKV_K8S_9"}
    assert watchers == {("staging", "StatefulSet"), ("staging", "Deployment")}


def test_checkov_reports_a_missing_probe_and_a_privileged_container(scanned):
    root, failures = scanned
    found = unaccepted(root, [f for f in failures if f["file_path"].startswith("/planted/")])
    assert any("no-readiness-on-redis.yaml: CKV_K8S_9" in f for f in found), found
    assert any("no-liveness-on-the-watcher.yaml: CKV_K8S_8" in f for f in found), found
    assert any("privileged.yaml: CKV_K8S_16" in f for f in found), found
