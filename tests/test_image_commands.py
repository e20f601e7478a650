"""Every command a rendered pod runs, resolved in the image it runs in (components/cache_patterns/core/images.py): the
container's command (or the image's ENTRYPOINT), the program a `sh -c` script runs, every exec probe
and hook, the script files a shell is given (from the mounted ConfigMap), the user the image needs,
and for operator custom resources the containers the operator builds on the images we choose.

A command is looked up in the image's filesystem with the image's PATH, never this machine's: the
exporter's `exec redis_exporter` on an alpine image whose binary sits at /redis_exporter (off PATH)
is exit 127 in the pod, and fails here. The scripts behind `sh FILE` are run in the live tests with
exactly these images' programs on PATH (testbed/image_root.py).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Iterator

import pytest

from cache_patterns.core import images
from tests.conftest import stack_run
from tests.test_operator import VARIANTS, run_variant
from tools import harness, pss

# Configurations the stacks do not cover: the other engine and versions, a pod without TLS.
EXTRA = {
    "statefulset, redis engine, TLS, exporter": {
        "cache-patterns:environment": "staging", "cache-patterns:namespace": "cache",
        "cache-patterns:caches": {"s": {"pattern": "statefulset", "engine": "redis", "exporter": True,
                                        "tls": {"issuer": "ca"}, "l1": {"memory": "64Mi"}}},
        "cache-patterns:apps": [{"name": "a", "namespace": "x", "image": "a:1", "cache": "s"}]},
    "statefulset, valkey 9.0, no TLS, exporter": {
        "cache-patterns:environment": "staging", "cache-patterns:namespace": "cache",
        "cache-patterns:caches": {"s": {"pattern": "statefulset", "version": "9.0", "exporter": True}},
        "cache-patterns:apps": [{"name": "a", "namespace": "x", "image": "a:1", "cache": "s"}]},
    "statefulset, redis engine, TLS, backup and restore": {
        "cache-patterns:environment": "staging", "cache-patterns:namespace": "cache",
        "cache-patterns:caches": {"s": {"pattern": "statefulset", "engine": "redis", "tls": {"issuer": "ca"},
                                        "persistence": "aof", "storage": "1Gi", "restore": {"from": "latest"},
                                        "backup": {"destination": {"endpoint": "https://s3.example.com",
                                                                   "bucket": "backups"},
                                                   "credentials": {"secret": "s3"},
                                                   "encryptionKey": {"name": "k", "key": "key"},
                                                   "pushgateway": "http://pg:9091"}}},
        "cache-patterns:apps": [{"name": "a", "namespace": "x", "image": "a:1", "cache": "s"}]},
    "sidecar, redis engine, Kubernetes 1.28": {
        "cache-patterns:environment": "development", "cache-patterns:kubernetesVersion": "1.28",
        "cache-patterns:caches": {"s": {"pattern": "sidecar", "engine": "redis"}},
        "cache-patterns:apps": [{"name": "a", "namespace": "x", "image": "a:1", "cache": "s"}]},
}
SHELLS = ("sh", "/bin/sh", "bash", "/bin/bash", "ash", "/bin/ash")
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "!", "{", "}"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")


@dataclass
class Command:
    where: str            # "<object>/<container>: command" etc.
    argv: list[str]


def script_commands(script: str) -> list[str]:
    """The programs a `sh -c` script runs: the first word of each simple command (after variable
    assignments and `exec`). A word the shell would only know at run time is returned as is and
    fails resolution: inline scripts must name their programs."""
    lex = shlex.shlex(script, posix=True, punctuation_chars=";&|()")
    lex.whitespace_split = True
    out, at_start = [], True
    for word in lex:
        if word in SEPARATORS:
            at_start = True
            continue
        if at_start:
            if ASSIGNMENT.fullmatch(word) or word in ("exec", "then", "do", "else", "if", "while", "until"):
                continue
            out.append(word)
            at_start = False
    return out


def commands(container: dict, facts: images.ImageFacts) -> Iterator[Command]:
    """Everything a container runs: its process, exec probes and lifecycle hooks."""
    name = container["name"]
    if container.get("command"):
        argv = list(container["command"]) + list(container.get("args") or [])
    else:
        argv = list(facts.entrypoint) + list(container.get("args") or facts.cmd)
    yield Command(f"{name}: command", argv)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if "exec" in (container.get(probe) or {}):
            yield Command(f"{name}: {probe}", list(container[probe]["exec"]["command"]))
    for hook in ("postStart", "preStop"):
        if "exec" in ((container.get("lifecycle") or {}).get(hook) or {}):
            yield Command(f"{name}: {hook}", list(container["lifecycle"][hook]["exec"]["command"]))


def problems(cmd: Command, container: dict, facts: images.ImageFacts, files: dict[str, str]) -> list[str]:
    """What would fail in the pod: each program resolved in the image; for a shell, its script."""
    out = []
    program = facts.resolve(cmd.argv[0])
    if program is None:
        return [f"{cmd.where}: {cmd.argv[0]!r} is not a program of {facts.repository} (PATH {':'.join(facts.path)})"]
    shadowed = [m["mountPath"] for m in container.get("volumeMounts") or []
                if program == m["mountPath"] or program.startswith(m["mountPath"].rstrip("/") + "/")]
    if shadowed:
        out.append(f"{cmd.where}: {program} is hidden by the volume mounted at {shadowed[0]}")
    if cmd.argv[0] not in SHELLS:
        return out
    args = cmd.argv[1:]
    while args and args[0].startswith("-") and args[0] != "-c":
        args = args[1:]                          # sh -e, -x ...
    if args[:1] == ["-c"]:
        for word in script_commands(args[1]):
            if word in images.SHELL_BUILTINS:
                continue
            if facts.resolve(word) is None:
                out.append(f"{cmd.where}: the script runs {word!r}, which {facts.repository} does not have on "
                           f"its PATH ({':'.join(facts.path)})")
    elif args:
        if args[0] not in files:
            out.append(f"{cmd.where}: the script {args[0]} is in no ConfigMap mounted in the container")
    return out


def mounted_files(container: dict, spec: dict, configmaps: dict[str, dict]) -> dict[str, str]:
    """Path -> text of every ConfigMap key mounted in the container."""
    out = {}
    for m in container.get("volumeMounts") or []:
        vol = next((v for v in spec.get("volumes") or [] if v["name"] == m["name"]), {})
        cm = configmaps.get((vol.get("configMap") or {}).get("name"))
        if cm is None or "subPath" in m:
            continue
        for key, text in (cm.get("data") or {}).items():
            out[f"{m['mountPath'].rstrip('/')}/{key}"] = text
    return out


def user_problems(where: str, facts: images.ImageFacts, container_sc: dict, pod_sc: dict) -> list[str]:
    uid = container_sc.get("runAsUser", pod_sc.get("runAsUser"))
    out = []
    if facts.uids != images.ANY_UID and str(uid) != facts.uids:
        out.append(f"{where}: runs as UID {uid}, but {facts.repository} works only as UID {facts.uids}")
    if facts.writes_root_filesystem and container_sc.get("readOnlyRootFilesystem") is True:
        out.append(f"{where}: {facts.repository} writes to its root filesystem, which is read-only here")
    return out


def pod_problems(run: harness.Run) -> tuple[list[str], int]:
    """(problems, number of commands checked) of every pod template the run renders."""
    manifests = run.manifests()
    configmaps = {o["metadata"]["name"]: o for o in manifests if o["kind"] == "ConfigMap"}
    out, checked = [], 0
    for obj in manifests:
        for _, spec in pss.pod_specs(obj):
            for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                where = f"{obj['kind']} {obj['metadata']['name']}/{container['name']}"
                facts = images.facts(container["image"])
                if facts is None:
                    # An app's own image: the program never gives it a command or an exec probe.
                    runs = [c for c in ("command", "args") if container.get(c)] + [
                        p for p in ("startupProbe", "readinessProbe", "livenessProbe") if "exec" in (container.get(p) or {})]
                    out += [f"{where}: {c} on an image without facts ({container['image']})" for c in runs]
                    continue
                files = mounted_files(container, spec, configmaps)
                for cmd in commands(container, facts):
                    checked += 1
                    out += [f"{obj['kind']} {obj['metadata']['name']}/{p}" for p in problems(cmd, container, facts, files)]
                out += user_problems(where, facts, container.get("securityContext") or {}, spec.get("securityContext") or {})
    return out, checked


def _get(spec: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(spec, dict) or key not in spec:
            return None
        spec = spec[key]
    return spec


def operator_problems(run: harness.Run) -> tuple[list[str], int]:
    """Each container an operator builds from our custom resources, on the image we name."""
    out, checked = [], 0
    for obj in run.manifests():
        for oc in (c for c in images.OPERATOR_CONTAINERS if c.kind == obj["kind"]):
            spec = obj.get("spec") or {}
            if oc.enabled is not None and not _get(spec, oc.enabled):
                continue
            image = _get(spec, oc.image)
            where = f"{obj['kind']} {obj['metadata']['name']} {oc.role}"
            facts = images.facts(image) if image else None
            if facts is None:
                out.append(f"{where}: image {image!r} has no facts")
                continue
            argv = list(oc.argv) if oc.argv else list(facts.entrypoint)
            checked += 1
            for word in [argv[0], *oc.programs]:
                if facts.resolve(word) is None:
                    out.append(f"{where}: the operator runs {word!r}, which {image} does not have")
            out += user_problems(where, facts, _get(spec, oc.security_context) or {},
                                 _get(spec, oc.pod_security_context) or {})
    return out, checked


RUNS = [f"stack {s}" for s in harness.list_stacks()] + [f"config {c}" for c in EXTRA] + \
    [f"operator {v}" for v in VARIANTS]


def evaluate(which: str) -> harness.Run:
    kind, _, name = which.partition(" ")
    if kind == "stack":
        return stack_run(name)
    if kind == "config":
        return harness.run("imgcheck", EXTRA[name])
    return run_variant(name)


@pytest.mark.parametrize("which", RUNS)
def test_every_command_a_pod_runs_exists_in_its_image(which: str) -> None:
    run = evaluate(which)
    found, checked = pod_problems(run)
    op_found, op_checked = operator_problems(run)
    assert not found + op_found, "\n".join(found + op_found)
    assert checked + op_checked > 0 or not run.k8s_objects


def test_the_staging_pods_run_what_the_images_have():
    """The stack the issue names: its exporter starts the image's binary by its path, and every
    Redis, Sentinel, HAProxy, reload and backup container, probe and hook was checked."""
    run = stack_run("staging")
    _, checked = pod_problems(run)
    sts = next(o for o in run.manifests() if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "staging-sessions")
    exporter = next(c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "exporter")
    assert images.of(exporter["image"]).resolve(exporter["command"][0]) == "/redis_exporter"
    # redis (command, 3 probes, preStop), tls-reload (command, probe), exporter; Sentinel (command,
    # 2 probes), its exporter; HAProxy and its tls-reload (command, probe); the backup CronJob's pod
    # (restic-tools' cp in the restic image, backup.sh in the engine image).
    assert checked == 5 + 2 + 1 + 3 + 1 + 2 + 1 + 2


def test_the_resolver_fails_what_the_pod_would_fail():
    alpine_exporter = images.of(images.EXPORTER_IMAGE)
    old = Command("exporter: command", ["sh", "-c", 'REDIS_PASSWORD="$(cat /p)" exec redis_exporter'])
    assert problems(old, {}, alpine_exporter, {}) == [
        "exporter: command: the script runs 'redis_exporter', which oliver006/redis_exporter does not have on its "
        "PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)"]
    scratch = images.of("quay.io/opstree/redis-exporter:v1.44.0")
    assert problems(Command("x", ["sh", "-c", "true"]), {}, scratch, {})
    valkey = images.of("valkey/valkey:8.1.11-alpine")
    assert problems(Command("p", ["sh", "-c", "valkey-cli ping | grep -q PONG"]), {}, valkey, {}) == []
    assert problems(Command("p", ["sh", "-c", "curl -f http://x | grep ok"]), {}, valkey, {})
    assert problems(Command("p", ["sh", "/conf/x.sh"]), {}, valkey, {"/conf/y.sh": ""})
    assert problems(Command("p", ["redis-server"]), {"volumeMounts": [{"mountPath": "/usr/local/bin"}]}, valkey, {})
    redis = images.of("redis:7.2.11-alpine")
    assert redis.resolve("valkey-server") is None and redis.resolve("redis-server") == "/usr/local/bin/redis-server"
    ot = images.of("quay.io/opstree/redis:v7.0.15")
    assert user_problems("r", ot, {"runAsUser": 10001, "readOnlyRootFilesystem": True}, {}) == [
        "r: runs as UID 10001, but quay.io/opstree/redis works only as UID 1000",
        "r: quay.io/opstree/redis writes to its root filesystem, which is read-only here"]
