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

from cache_patterns.stack_reader import read_stack_file
from tests.conftest import skip_or_fail
from tools import harness, render

# docs/production.md's example: every image from an internal registry, pinned by digest.
EXAMPLE = harness.ROOT / "docs" / "production-cluster.yaml"


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
    return [f for r in scan_reports(folder) for f in r.get("results", {}).get("failed_checks", [])]


def scan_reports(folder: Path) -> list[dict]:
    """checkov's reports over every manifest under `folder`, passed checks included (not --quiet)."""
    proc = subprocess.run([checkov(), "-d", str(folder), "--framework", "kubernetes", "--compact",
                           "--skip-download", "-o", "json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    reports = report if isinstance(report, list) else [report]
    assert all(r.get("summary", {}).get("parsing_errors", 0) == 0 for r in reports)
    return reports


def write_example(folder: Path) -> list[dict]:
    """The production example's objects, written as `./run render` writes a stack's."""
    run = harness.run("production-cluster", read_stack_file(EXAMPLE))
    manifests = [render.manifest_of(r, {harness.PLACEHOLDER_PASSWORD}, []) for r in run.k8s_objects]
    for obj in manifests:
        path = folder / render.file_name(obj)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
    return manifests


def unaccepted(folder: Path, failures: list[dict]) -> list[str]:
    out = []
    for f in failures:
        obj = yaml.safe_load((folder / f["file_path"].lstrip("/")).read_text())
        accepted = ACCEPTED.get(f["check_id"])
        if accepted is None or not accepted[1](obj):
            out.append(f"{f['file_path']}: {f['check_id']} {f['check_name']}")
    return sorted(out)


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> tuple[Path, list[dict]]:
    """One checkov run (it takes seconds to start) over every stack rendered under `stacks/`, the
    production example under `example/`, and under `planted/` one manifest per fault checkov must
    report, made from staging's Redis StatefulSet (and the example's, without its digests)."""
    root = tmp_path_factory.mktemp("checkov")
    for stack in harness.list_stacks():
        render.render(stack, root / "stacks", check=False)
    example = write_example(root / "example")
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
    (pinned,) = [o for o in example if o["kind"] == "StatefulSet" and "sentinel" not in o["metadata"]["name"]]
    unpinned = copy.deepcopy(pinned)
    unpinned["metadata"]["name"] = "no-digest"
    for c in unpinned["spec"]["template"]["spec"]["containers"]:
        c["image"] = c["image"].split("@")[0]
    (root / "planted" / "no-digest.yaml").write_text(yaml.safe_dump(unpinned))
    return root, scan_reports(root)


@pytest.fixture(scope="module")
def scanned(reports) -> tuple[Path, list[dict]]:
    root, found = reports
    return root, [f for r in found for f in r.get("results", {}).get("failed_checks", [])]


def test_every_rendered_stack_passes_checkov_but_for_the_accepted_checks(scanned):
    root, failures = scanned
    stacks = [f for f in failures if f["file_path"].startswith("/stacks/")]
    assert {f["file_path"].split("/")[2] for f in stacks} <= set(harness.list_stacks())
    assert unaccepted(root, stacks) == []
    # The watchers beside Redis and beside HAProxy: staging is the stack with TLS.
    watchers = {(f["file_path"].split("/")[2], Path(f["file_path"]).name.split("-")[0]) for f in stacks
                if f["check_id"] == "CKV_K8S_9"}
    assert watchers == {("staging", "StatefulSet"), ("staging", "Deployment")}


def test_with_digests_set_every_image_passes_the_digest_check(reports):
    """CKV_K8S_43 (images by digest) passes for every workload of the production example: checked, not
    accepted; and a copy of its Redis StatefulSet without the digests fails it."""
    root, found = reports
    passed = [c for r in found for c in r.get("results", {}).get("passed_checks", [])
              if c["check_id"] == "CKV_K8S_43" and c["file_path"].startswith("/example/")]
    failed = [c for r in found for c in r.get("results", {}).get("failed_checks", [])
              if c["check_id"] == "CKV_K8S_43"]
    workloads = {p.name for p in (root / "example").rglob("*.yaml") if p.name.split("-")[0] in
                 ("StatefulSet", "Deployment")}
    assert {Path(c["file_path"]).name for c in passed} == workloads and len(workloads) >= 4
    assert not [c for c in failed if c["file_path"].startswith("/example/")]
    assert any(c["file_path"] == "/planted/no-digest.yaml" for c in failed)
    example = [f for r in found for f in r.get("results", {}).get("failed_checks", [])
               if f["file_path"].startswith("/example/")]
    assert unaccepted(root, example) == []


def test_checkov_reports_a_missing_probe_and_a_privileged_container(scanned):
    root, failures = scanned
    found = unaccepted(root, [f for f in failures if f["file_path"].startswith("/planted/")])
    assert any("no-readiness-on-redis.yaml: CKV_K8S_9" in f for f in found), found
    assert any("no-liveness-on-the-watcher.yaml: CKV_K8S_8" in f for f in found), found
    assert any("privileged.yaml: CKV_K8S_16" in f for f in found), found
