"""The local images (e2e/images.py) have what the project records of the real ones
(cache_patterns.core.images: programs at their paths, shell, user, entrypoint and command, PATH),
and on the node their entrypoints behave as the real ones do: the valkey image, started as root
with an option as its only argument, runs valkey-server as valkey (uid 999); the exporter image runs
/redis_exporter as 59000; the haproxy image runs `haproxy -W -db` as haproxy (99)."""
from __future__ import annotations

import json
import tarfile
import time

import pytest

from cache_patterns.core import images as facts
from e2e import images

pytestmark = [pytest.mark.cluster, pytest.mark.node]
REFS = ["valkey/valkey:8.1.11-alpine", "haproxy:3.2-alpine", "oliver006/redis_exporter:v1.88.0-alpine",
        facts.RESTIC_IMAGE]


def _read(built: images.Built) -> tuple[dict, dict[str, tarfile.TarInfo]]:
    with tarfile.open(built.tar) as tf:
        index = json.load(tf.extractfile("index.json"))
        manifest = json.load(tf.extractfile(f"blobs/sha256/{index['manifests'][0]['digest'].split(':')[1]}"))
        config = json.load(tf.extractfile(f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"))
        layer = tf.extractfile(f"blobs/sha256/{manifest['layers'][0]['digest'].split(':')[1]}")
        with tarfile.open(fileobj=layer) as lt:
            entries = {"/" + m.name: m for m in lt.getmembers()}
    return config["config"], entries


def _resolves(entries: dict[str, tarfile.TarInfo], path: str) -> bool:
    """Whether `path` is a regular file in the layer, following symlinks."""
    for _ in range(10):
        e = entries.get(path)
        if e is None:
            return False
        if not e.issym():
            return e.isfile()
        path = e.linkname if e.linkname.startswith("/") else path.rsplit("/", 1)[0] + "/" + e.linkname
    return False


@pytest.mark.parametrize("ref", REFS)
def test_local_image_has_the_recorded_layout(ref):
    need_tools()
    f = facts.of(ref)
    config, entries = _read(images.build(ref))
    missing = [p for p in sorted(f.executables) if not _resolves(entries, p)]
    assert not missing, f"{ref}: programs the real image has at these paths are missing: {missing}"
    if f.shell:
        assert _resolves(entries, f.shell)
    if f.busybox:
        assert [a for a in sorted(facts.BUSYBOX_APPLETS) if not _resolves(entries, f"/bin/{a}")] == []
    else:
        assert "/bin/sh" not in entries
    assert config.get("Entrypoint") == list(f.entrypoint) and config.get("Cmd", []) == list(f.cmd)
    assert config.get("User", "") == ("" if f.user == "0" else f.user)
    assert f"PATH={':'.join(f.path)}" in config["Env"]


def need_tools() -> None:
    from e2e import toolchain
    from tests.conftest import skip_or_fail
    missing = [t for t in ("valkey", "haproxy", "redis_exporter", "restic", "kubelet", "coredns") if not toolchain.is_built(t)]
    if missing:
        skip_or_fail(f"toolchain not built: {', '.join(missing)} (`./run toolchain`)")


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "default"},
       "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [{"name": "main"}]}}


HAPROXY_CFG = ("defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
               "frontend probe\n  bind :8404\n")


def _run_pod(cluster, name: str, image: str, args: list[str] | None = None, config: tuple[str, str] | None = None) -> None:
    """A pod of the image without `command` (its entrypoint runs) and without a securityContext
    (the image's own user); `config`: (path, text) mounted from a ConfigMap."""
    pod = json.loads(json.dumps(POD))
    pod["metadata"]["name"] = name
    container = pod["spec"]["containers"][0]
    container.update({"image": image, "imagePullPolicy": "IfNotPresent", **({"args": args} if args else {})})
    if config:
        path, text = config
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
              "data": {"file": text}}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(cm))
        pod["spec"]["volumes"] = [{"name": "config", "configMap": {"name": name}}]
        container["volumeMounts"] = [{"name": "config", "mountPath": path, "subPath": "file"}]
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))


def _main_uid(cluster, name: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        proc = cluster.exec("default", name, "cat", "/proc/1/status", check=False)
        if proc.returncode == 0:
            return next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("Uid:"))
        assert time.monotonic() < deadline, proc.stderr
        time.sleep(1)


def test_entrypoints_behave_as_the_real_images_on_the_node(real_node):
    real_node.import_images(REFS)
    cases = {"valkey": ("valkey/valkey:8.1.11-alpine", ["--port", "7000"], "999", "valkey-server"),
             "haproxy": ("haproxy:3.2-alpine", None, "99", "haproxy"),
             "exporter": ("oliver006/redis_exporter:v1.88.0-alpine", None, "59000", "redis_exporter")}
    try:
        for name, (image, args, _, _) in cases.items():
            config = ("/usr/local/etc/haproxy/haproxy.cfg", HAPROXY_CFG) if name == "haproxy" else None
            _run_pod(real_node, f"image-{name}", image, args, config)
        for name, (_, _, uid, program) in cases.items():
            assert _main_uid(real_node, f"image-{name}") == uid, name
            cmdline = real_node.exec("default", f"image-{name}", "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
            assert program in cmdline, (name, cmdline)
        cmdline = real_node.exec("default", "image-haproxy", "cat", "/proc/1/cmdline").stdout.split("\0")
        assert cmdline[:5] == ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"], cmdline
        # valkey-server names itself by its address in its process title: the option reached it.
        assert "valkey-server *:7000" in real_node.exec("default", "image-valkey", "cat", "/proc/1/cmdline").stdout
    finally:
        real_node.kubectl("delete", "pod,configmap", "-n", "default", *(f"image-{n}" for n in cases),
                          "--ignore-not-found", "--wait=true", "--timeout=60s", check=False)


def test_the_restic_image_runs_restic_through_its_entrypoint_under_nice(real_node):
    """restic/restic: its entrypoint (no `command` in the pod) runs /usr/bin/restic with the pod's
    arguments through `nice -n $NICE` (the real image's rule: Debian's BusyBox has no nice applet, the
    image has coreutils' nice)."""
    real_node.import_images([facts.RESTIC_IMAGE])
    pod = json.loads(json.dumps(POD))
    pod["metadata"]["name"] = "image-restic"
    pod["spec"]["containers"][0].update({
        "image": facts.RESTIC_IMAGE, "imagePullPolicy": "IfNotPresent", "env": [{"name": "NICE", "value": "7"}],
        "args": ["version"]})
    try:
        real_node.kubectl("apply", "-f", "-", input=json.dumps(pod))
        real_node.kubectl("wait", "-n", "default", "pod/image-restic", "--for=jsonpath={.status.phase}=Succeeded",
                          "--timeout=120s", timeout=150)
        out = real_node.kubectl("logs", "-n", "default", "image-restic").stdout
        assert out.startswith(f"restic {facts.RESTIC_VERSION} compiled with go"), out
    finally:
        real_node.kubectl("delete", "pod", "-n", "default", "image-restic", "--ignore-not-found", "--wait=true",
                          "--timeout=60s", check=False)
