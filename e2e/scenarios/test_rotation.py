"""A password rotation through the engine: staging with an ACL user (and no TLS, so a real Redis can
start from the live objects) is deployed, then `rotation.generation` is bumped. The engine replaces
every generator (their keepers changed), new passwords land in new Secrets (the old ones are
deleted), and every workload that reads one rolls: the Redis and Sentinel StatefulSets and the
HAProxy and app Deployments move to a new template, and their pods to it. The cluster is kwok's, so
no pod runs; the cache's refusal of the old passwords is shown by running the Redis container of the
live StatefulSet, as its pod would (testbed/pod_runner.py: its command, env and user, its
ConfigMap and Secret volumes as the API server holds them), in a real redis-server: the old
passwords (default and ACL user) are refused, the new ones accepted. No password, old or new, is
readable in any file of the state backend."""
from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from cache_patterns.core import images
from e2e import engine, live
from e2e.scenarios.conftest import destroyed_after
from e2e.scenarios.test_stacks import assert_secrets_not_in_backend, deploy
from tests.conftest import skip_or_fail

STS = "staging-sessions"
USER = {"name": "app", "permissions": "~app:* +@read +@write -@dangerous"}
UID = 10001


def rotation_config(config: dict) -> dict:
    cfg = copy.deepcopy(config)
    cache = cfg["cache-patterns:caches"]["sessions"]
    cache.pop("tls", None)
    cache["aclUsers"] = [USER]
    cfg["cache-patterns:apps"][0]["cacheUser"] = USER["name"]   # checkout authenticates as `app`
    return cfg


def get(cluster, kind: str, namespace: str, name: str) -> dict | None:
    proc = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def secrets(cluster, st: engine.Stack) -> dict[live.Ref, dict[str, str]]:
    return {ref: live.secret_values(obj) for ref, obj in live.owned_objects(cluster, st.name).items()
            if ref.kind == "Secret"}


def workloads(cluster, st: engine.Stack) -> dict[live.Ref, dict]:
    return {ref: obj for ref, obj in live.owned_objects(cluster, st.name).items()
            if ref.kind in ("StatefulSet", "Deployment")}


def mounted_secrets(obj: dict) -> set[str]:
    spec = obj["spec"]["template"]["spec"]
    names = {v["secret"]["secretName"] for v in spec.get("volumes") or [] if "secret" in v}
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        names |= {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env") or []
                  if "secretKeyRef" in (e.get("valueFrom") or {})}
    return names


def rolled(cluster, ref: live.Ref, timeout: float = 120) -> bool:
    """The workload's controller moved every pod to the current template (kwok makes them Ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = get(cluster, ref.kind.lower(), ref.namespace, ref.name) or {}
        status, want = obj.get("status") or {}, (obj.get("spec") or {}).get("replicas", 1)
        if status.get("observedGeneration") == obj["metadata"]["generation"]:
            # An OnDelete StatefulSet never advances currentRevision (the controller completes only a
            # RollingUpdate): every pod on the update revision and ready is its rolled state.
            on_delete = ((obj.get("spec") or {}).get("updateStrategy") or {}).get("type") == "OnDelete"
            if ref.kind == "StatefulSet" and (on_delete or status.get("currentRevision") == status.get("updateRevision")) \
                    and status.get("updatedReplicas") == want and status.get("readyReplicas") == want:
                return True
            if ref.kind == "Deployment" and status.get("updatedReplicas") == want \
                    and status.get("availableReplicas") == want and status.get("replicas") == want:
                return True
        time.sleep(2)
    return False


def test_a_password_rotation_replaces_the_secrets_rolls_the_readers_and_the_old_passwords_are_refused(
        workspace, empty_cluster):
    cluster = empty_cluster
    st = deploy(workspace, "staging", rotation_config(workspace.stack("staging", init=False).config()))
    with destroyed_after(st):
        st.up()
        old_secrets, old_workloads = secrets(cluster, st), workloads(cluster, st)
        old = passwords(old_secrets)
        assert set(old) == {"password", "user-app"}, old_secrets

        cfg = st.config()
        cfg["cache-patterns:caches"]["sessions"]["rotation"] = {"generation": 2}
        st.set_config(cfg)
        result = st.up(check=False)
        assert result.code == 0, f"the rotation failed:\n{engine._tail(result)}"
        generators = {s.name for s in result.ops("create-replacement", "replace")
                      if s.type == "random:index/randomPassword:RandomPassword"}
        # Staging turns backups on (issue 22): the backup job's ACL user has a generator too.
        backup = {"sessions-user-backup"} if cfg["cache-patterns:caches"]["sessions"].get("backup") else set()
        assert generators == {"sessions-password", "sessions-user-app"} | backup, result.describe()

        new_secrets, new_workloads = secrets(cluster, st), workloads(cluster, st)
        new = passwords(new_secrets)
        assert set(new) == set(old) and all(new[k] != old[k] for k in old), "a password did not change"
        assert not set(old_secrets) & set(new_secrets), "an old Secret is still there (or kept its name)"
        readers = {ref for ref, obj in old_workloads.items() if mounted_secrets(obj) & {r.name for r in old_secrets}}
        assert {r.name for r in readers} >= {STS, f"{STS}-sentinel", "checkout", "accounts"}, readers
        for ref in readers:
            before, after = old_workloads[ref], new_workloads[ref]
            assert after["metadata"]["uid"] == before["metadata"]["uid"], f"{ref} was replaced, not rolled"
            assert mounted_secrets(after) <= {r.name for r in new_secrets}, f"{ref} still reads an old Secret"
            assert after["metadata"]["generation"] > before["metadata"]["generation"], f"{ref}: template unchanged"
            if (after["spec"].get("updateStrategy") or {}).get("type") == "OnDelete":
                # The Redis StatefulSet is OnDelete: the rollout driver inside `pulumi up` moved its pods
                # before the `up` returned (kwok runs no container: it replaced them without reading them).
                assert pods_on_revision(cluster, ref, after) == [], f"{ref}: pods left on the old template"
            assert rolled(cluster, ref), f"{ref}: the pods did not move to the new template"
        assert "sessions-rollout" in {s.name for s in result.ops("update")}, result.describe()

        leaked = {**{f"old {k}": v for k, v in old.items()}, **{f"new {k}": v for k, v in new.items()}}
        assert_secrets_not_in_backend(workspace, cluster, st, extra=leaked)
        refused, accepted = auth_results(cluster, old, new)
        assert refused == {"default": True, "app": True}, f"an old password is accepted: {refused}"
        assert accepted == {"default": True, "app": True}, f"a new password is refused: {accepted}"
        assert st.preview_no_changes().code == 0


def pods_on_revision(cluster, ref: live.Ref, obj: dict) -> list[str]:
    """The StatefulSet's pods not on its update revision, read once (no waiting)."""
    want = (get(cluster, "statefulset", ref.namespace, ref.name) or {}).get("status", {}).get("updateRevision")
    pods = [get(cluster, "pod", ref.namespace, f"{ref.name}-{i}") or {} for i in range(obj["spec"]["replicas"])]
    return [p.get("metadata", {}).get("name", "?") for p in pods
            if not want or (p.get("metadata") or {}).get("labels", {}).get("controller-revision-hash") != want]


def passwords(by_secret: dict[live.Ref, dict[str, str]]) -> dict[str, str]:
    """The cache's passwords by Secret key (`password`, `user-app`), the same in every Secret."""
    out: dict[str, str] = {}
    for values in by_secret.values():
        for key in ("password", f"user-{USER['name']}"):
            if key in values:
                assert out.setdefault(key, values[key]) == values[key], f"two values of {key}"
    return out


def auth_results(cluster, old: dict, new: dict) -> tuple[dict, dict]:
    """Start the live StatefulSet's Redis container (pod 0) in a real server and try each password."""
    from testbed import engines, pod_runner
    from testbed.support import new_root

    why = pod_runner.can_run() or (None if engines.engine_program("server") else "no redis-server or valkey-server")
    if why:
        skip_or_fail(f"cannot run the cache's container here: {why}")
    root = new_root("cp-rotation-")   # the pod's user must traverse it (pytest's tmp_path is 0700)
    try:
        return _run_and_try(cluster, root, old, new)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_and_try(cluster, root: Path, old: dict, new: dict) -> tuple[dict, dict]:
    from testbed import engines, pod_runner
    from testbed.image_root import ImageRoot

    sts = get(cluster, "statefulset", "cache", STS)
    spec = sts["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == "redis")
    volumes: dict[str, Path] = {}
    for vol in spec["volumes"]:
        path = root / "volumes" / vol["name"]
        if "configMap" in vol:
            data = get(cluster, "configmap", "cache", vol["configMap"]["name"])["data"]
            path.mkdir(parents=True)
            for key, text in data.items():
                (path / key).write_text(text)
            path.chmod(0o755)
        elif "secret" in vol:
            data = get(cluster, "secret", "cache", vol["secret"]["secretName"])["data"]
            items = vol["secret"].get("items") or [{"key": k, "path": k} for k in data]
            for item in items:   # as the kubelet lays them out: item paths may have folders
                target = path / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(data[item["key"]]))
                _own(target, vol["secret"].get("defaultMode", 0o644), owner=False)
            for folder in sorted({p for p in path.rglob("*") if p.is_dir()} | {path}):
                folder.chmod(0o755)
        else:
            path.mkdir(parents=True)
            _own(path, 0o700)
        volumes[vol["name"]] = path
    for mount in container["volumeMounts"]:   # claim templates: an empty data dir
        if mount["name"] not in volumes:
            volumes[mount["name"]] = root / "volumes" / mount["name"]
            volumes[mount["name"]].mkdir(parents=True)
            _own(volumes[mount["name"]], 0o700)
    # The container's paths inside its files (`dir /data` in redis.conf) are its mount paths: mapped to
    # the volumes' folders here, as pod_runner maps them in its command line and env.
    for mount in sorted(container["volumeMounts"], key=lambda m: -len(m["mountPath"])):
        pattern = re.compile(r"(?<![\w/.-])" + re.escape(mount["mountPath"].rstrip("/")) + r"(?=[/\s\"']|$)", re.M)
        for conf in volumes["conf"].iterdir():
            conf.write_text(pattern.sub(str(volumes[mount["name"]]), conf.read_text()))
    image = ImageRoot(images.of(container["image"]), root / "image")
    c = pod_runner.Container(container, image, volumes=volumes, fields={"metadata.name": f"{STS}-0"})
    net = pod_runner.PodNetwork(root)
    log = root / "redis.log"
    try:
        sock = net.expose(next(p["containerPort"] for p in container["ports"] if p["name"] == "redis"))
        with log.open("w") as out:
            proc = net.popen([engines.which("setpriv") or "setpriv", f"--reuid={UID}", f"--regid={UID}",
                              "--clear-groups", "--inh-caps=-all", *c.argv()], env=c.env(), cwd="/",
                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_server(sock, proc, log)
        try:
            users = {"default": "password", USER["name"]: f"user-{USER['name']}"}
            refused = {u: _auth(sock, u, old[k]) is False for u, k in users.items()}
            accepted = {u: _auth(sock, u, new[k]) is True for u, k in users.items()}
            return refused, accepted
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        net.close()


def _own(path: Path, mode: int, owner: bool = True) -> None:
    """Volumes as the kubelet makes them for the pod's user (fsGroup 10001: Secret files group-readable)."""
    os.chown(path, UID if owner else 0, UID)
    path.chmod(mode)


def _command(sock: Path, *words: str) -> str:
    """One command on a new connection, in RESP; the server's first reply line (`+OK`, `-WRONGPASS ...`)."""
    payload = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(5)
        conn.connect(str(sock))
        conn.sendall(payload.encode())
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.decode(errors="replace").strip()


def _wait_for_server(sock: Path, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    """Until the cache answers PING with NOAUTH (up, and asking for a password)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the cache's container exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            reply = _command(sock, "PING")
        except OSError:
            time.sleep(0.5)
            continue
        if reply.startswith("-NOAUTH"):
            return
        if reply:
            pytest.fail(f"the cache answered PING without a password: {reply}")
        time.sleep(0.5)
    pytest.fail(f"the cache's container did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _auth(sock: Path, user: str, password: str) -> bool:
    """AUTH as `user` on a new connection: True when accepted, False when refused with WRONGPASS."""
    reply = _command(sock, "AUTH", user, password)
    assert reply == "+OK" or reply.startswith("-WRONGPASS"), reply
    return reply == "+OK"
