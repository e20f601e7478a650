"""The real node's machinery without a node (the unit tier): image names as the CRI looks them up,
the images and ports a render's pods name, the OCI packer's layer (owners, modes, links exactly as
declared), the host-state diff, and the node tools' pins."""
from __future__ import annotations

import io
import json
import tarfile

from e2e import hoststate, images, oci, toolchain

NODE_TOOLS = ("kubelet", "containerd", "runc", "cni-plugins", "coredns", "cert-manager", "kube-router")


def test_every_node_tool_is_pinned_to_a_release_with_its_module_sum():
    toolchain._load_recipes()
    pins = toolchain.pins()
    for tool in NODE_TOOLS:
        assert tool in toolchain.RECIPES, tool
        pin = pins[tool]
        assert pin["version"].startswith("v") and "-" not in pin["version"], (tool, pin["version"])
        assert pin["sum"].startswith("h1:") and pin["sum"].endswith("="), tool
    # The node runs the control plane's release (version skew: kubelet never newer than the API server).
    assert pins["kubelet"]["version"] == pins["kubernetes"]["version"]
    assert pins["kubelet"]["module"] == pins["kubernetes"]["module"] and pins["kubelet"]["sum"] == pins["kubernetes"]["sum"]


def test_image_names_are_those_the_cri_looks_up():
    assert images.normalize("haproxy:3.2-alpine") == ["docker.io/library/haproxy:3.2-alpine"]
    assert images.normalize("valkey/valkey:8.1.11-alpine") == ["docker.io/valkey/valkey:8.1.11-alpine"]
    assert images.normalize("quay.io/opstree/redis:v7.0.15") == ["quay.io/opstree/redis:v7.0.15"]
    digest = "sha256:" + "ab" * 32
    assert images.normalize(f"ghcr.io/acme/search:0.9.4@{digest}") == [
        "ghcr.io/acme/search:0.9.4", f"ghcr.io/acme/search@{digest}"]
    assert images.normalize("localhost:5000/app") == ["localhost:5000/app:latest"]


def test_references_and_ports_come_from_every_container_of_the_pods():
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {
        "initContainers": [{"image": "valkey/valkey:8.1.11-alpine"}],
        "containers": [{"image": "ghcr.io/acme/app:1", "ports": [{"containerPort": 9090},
                                                               {"containerPort": 53, "protocol": "UDP"}]}]}}}}
    pod = {"kind": "Pod", "spec": {"containers": [{"image": "ghcr.io/acme/app:1", "ports": [{"containerPort": 8080}]}]}}
    assert images.references([deployment, pod, {"kind": "Service", "spec": {}}]) == [
        "ghcr.io/acme/app:1", "valkey/valkey:8.1.11-alpine"]
    assert images.ports([deployment, pod]) == {"ghcr.io/acme/app:1": (8080, 9090)}
    assert images.builder("ghcr.io/acme/app:1") is images.app
    assert images.builder("haproxy:3.2-alpine") is images.haproxy


def test_the_packer_writes_owners_modes_and_links_as_declared(tmp_path):
    r = oci.Rootfs()
    r.dir("/data", mode=0o1777, uid=999, gid=1000)
    r.file("/usr/local/bin/docker-entrypoint.sh", data="#!/bin/sh\nexec \"$@\"\n", mode=0o755)
    r.symlink("/usr/local/bin/valkey-sentinel", "valkey-server")
    config = oci.ImageConfig(entrypoint=["docker-entrypoint.sh"], cmd=["valkey-server"], user="valkey",
                             env=["PATH=/usr/local/bin:/bin"], workdir="/data", stop_signal="SIGUSR1")
    out = tmp_path / "image.tar"
    digest = oci.pack(r, config, ["docker.io/valkey/valkey:8.1.11-alpine", "example.org/other:1"], out)
    assert oci.manifest_digest(out) == digest
    with tarfile.open(out) as tf:
        index = json.load(tf.extractfile("index.json"))
        assert [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]] == [
            "docker.io/valkey/valkey:8.1.11-alpine", "example.org/other:1"]
        manifest = json.load(tf.extractfile(f"blobs/sha256/{digest.split(':')[1]}"))
        cfg = json.load(tf.extractfile(f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"))
        layer = tf.extractfile(f"blobs/sha256/{manifest['layers'][0]['digest'].split(':')[1]}").read()
    assert cfg["config"] == {"Env": ["PATH=/usr/local/bin:/bin"], "Entrypoint": ["docker-entrypoint.sh"],
                             "Cmd": ["valkey-server"], "User": "valkey", "WorkingDir": "/data", "StopSignal": "SIGUSR1"}
    assert cfg["rootfs"]["diff_ids"] == [manifest["layers"][0]["digest"]]
    with tarfile.open(fileobj=io.BytesIO(layer)) as lt:
        members = {m.name: m for m in lt.getmembers()}
    assert (members["data"].mode, members["data"].uid, members["data"].gid) == (0o1777, 999, 1000)
    assert members["usr/local/bin"].isdir() and members["usr"].uid == 0
    assert members["usr/local/bin/valkey-sentinel"].linkname == "valkey-server"
    assert members["usr/local/bin/docker-entrypoint.sh"].mode == 0o755
    # The same content packs to the same digest (fixed times, sorted entries).
    assert oci.pack(r, config, ["docker.io/valkey/valkey:8.1.11-alpine", "example.org/other:1"], tmp_path / "again.tar") == digest


def test_host_state_diff_names_each_change():
    before = {"sysctls": {"kernel/panic": "0", "vm/overcommit_memory": "0"}, "links": ["eth0"],
              "cgroups": {"/sys/fs/cgroup/cpu": []}}
    after = {"sysctls": {"kernel/panic": "10", "vm/overcommit_memory": "0"}, "links": ["eth0", "cni0"],
             "cgroups": {"/sys/fs/cgroup/cpu": ["cache-patterns-node-1"]}}
    assert hoststate.diff(before, after) == [
        "sysctls kernel/panic: '0' -> '10'", "links: gone [], new ['cni0']",
        "cgroups /sys/fs/cgroup/cpu: [] -> ['cache-patterns-node-1']"]
    assert hoststate.diff(before, before) == []
