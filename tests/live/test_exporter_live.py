"""Live: the exporter container of the staging stack, as rendered, against the live cluster.

Its command line, env, user and Secret come from the rendered pod spec and Secret (not re-typed); its
program comes from the image (`/redis_exporter`, built by the toolchain from the same release the
image tag names), looked up with the image's PATH; it runs as the rendered UID in a network namespace
of its own, where 127.0.0.1:6379 is its pod's Redis (a TLS member of the live cluster, with a
certificate for exactly the rendered Certificate's DNS names). Checked: /health, and `redis_up 1`,
which needs the password from the JSON map and a TLS handshake verified against the pod's name.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from cache_patterns.core import images
from tools import harness

from testbed import engines, pod_runner
from testbed.members import SecretVolume
from testbed.statefulset import LocalStatefulSet
from testbed.support import PASSWORD, new_root, wait_until
from testbed.tls import make_tls
from .conftest import require_exporter_pods
from testbed.image_root import ImageRoot

pytestmark = pytest.mark.live
POD = "staging-sessions-0"


def rendered() -> dict:
    """The staging stack rendered with the live cluster's password."""
    run = harness.run("staging", password=PASSWORD)
    objs = run.manifests()
    sts = next(o for o in objs if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "staging-sessions")
    spec = sts["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    cert = next(o for o in objs if o["kind"] == "Certificate" and o["spec"]["secretName"] == "staging-sessions-tls")
    secrets = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Secret"}
    return {"pod": spec, "exporter": containers["exporter"], "redis": containers["redis"], "certificate": cert,
            "secrets": secrets}


def secret_volume(pod: dict, name: str, secrets: dict, directory: Path, own) -> Path:
    """A Secret volume of the pod laid out as the kubelet would (items and all)."""
    vol = next(v for v in pod["volumes"] if v["name"] == name)["secret"]
    data = secrets[vol["secretName"]]["stringData"]
    items = vol.get("items") or [{"key": k, "path": k} for k in data]
    volume = SecretVolume(directory, own)
    volume.write({i["path"]: data[i["key"]].encode() for i in items})
    return directory


@pytest.fixture(scope="module")
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    require_exporter_pods()
    r = rendered()
    key = r["certificate"]["spec"]["privateKey"]
    tls = make_tls(Path(tmp_path_factory.mktemp("ca")), names=tuple(r["certificate"]["spec"]["dnsNames"]),
                   loopback=False, ecdsa=key["algorithm"] == "ECDSA")
    root = new_root("cp-exporter-")
    cluster = LocalStatefulSet(root, tls=tls, busybox=True)
    cluster.start_all()
    net = None
    try:
        cluster.settle(timeout=60)
        net = pod_runner.PodNetwork(root)
        yield r, cluster, net, root
    finally:
        if net is not None:
            net.close()
        cluster.stop_all()
        if request.session.testsfailed:
            print(f"\nexporter test cluster kept at {root}\n{cluster.logs(tail=15)}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def run_exporter(r: dict, cluster: LocalStatefulSet, net: pod_runner.PodNetwork, root: Path, container: dict,
                 tag: str) -> tuple[subprocess.Popen, Path, Path]:
    """Start `container` (a rendered exporter container) in the pod network; (process, metrics
    socket, log)."""
    image = ImageRoot(images.of(container["image"]), root / f"image-{tag}")
    auth = secret_volume(r["pod"], "cache-auth", r["secrets"], root / f"auth-{tag}", cluster._own)
    c = pod_runner.Container(container, image, volumes={"cache-auth": auth, "tls-live": cluster.members["redis-0"].tls_live},
                             fields={"metadata.name": POD})
    redis_port = next(p["containerPort"] for p in r["redis"]["ports"] if p["name"] == "redis")
    metrics_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "metrics")
    if not any(f"in-{redis_port}" in str(p.args) for p in net.procs):
        net.forward_in(redis_port, cluster.redis_ports[0])
    sock = net.expose(metrics_port)
    sc = container["securityContext"]
    log = root / f"exporter-{tag}.log"
    with open(log, "w") as out:
        proc = net.popen([engines.which("setpriv") or "setpriv", f"--reuid={sc['runAsUser']}", f"--regid={sc['runAsGroup']}", "--clear-groups",
                          "--inh-caps=-all", *c.argv()], env=c.env(), cwd="/", stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True)
    return proc, sock, log


def test_the_rendered_exporter_serves_health_and_scrapes_redis_with_auth_and_tls(setup) -> None:
    r, cluster, net, root = setup
    proc, sock, log = run_exporter(r, cluster, net, root, r["exporter"], "rendered")
    try:
        def health() -> bool:
            assert proc.poll() is None, f"the exporter exited {proc.returncode}:\n{log.read_text()}"
            return pod_runner.http_get(sock, "/health") == (200, "ok")
        wait_until("the exporter's /health", health, 20)
        # The readiness probe the pod has is this same request.
        probe = r["exporter"]["readinessProbe"]["httpGet"]
        assert pod_runner.http_get(sock, probe["path"])[0] == 200

        def scraped() -> str | None:
            status, body = pod_runner.http_get(sock, "/metrics", timeout=10)
            return body if status == 200 and re.search(r"^redis_up 1$", body, re.M) else None
        body = wait_until("redis_up 1 (authenticated, over TLS verified against the pod name)", scraped, 20)
        assert re.search(r"^redis_connected_slaves 2$", body, re.M), "the scrape reached the primary of the set"
        assert "tls" in cluster.members["redis-0"].conf.joinpath("redis.conf").read_text()
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_password_map_for_another_target_is_not_used(setup) -> None:
    """The JSON map is looked up by the exact target URI: a map for another URI leaves the exporter
    unauthenticated (redis_up 0). The rendered one is keyed by the rendered REDIS_ADDR."""
    r, cluster, net, root = setup
    env = {e["name"]: e.get("value") for e in r["exporter"]["env"]}
    secret = r["secrets"][next(v for v in r["pod"]["volumes"] if v["name"] == "cache-auth")["secret"]["secretName"]]
    # One entry per exporter target: this pod's Redis, and the Sentinel pods' Sentinel.
    assert json.loads(secret["stringData"]["exporter-passwords.json"]) == {
        env["REDIS_ADDR"]: PASSWORD, env["REDIS_ADDR"].replace(":6379", ":26379"): PASSWORD}
    wrong = json.loads(json.dumps(r))
    wrong_secret = wrong["secrets"][secret["metadata"]["name"]]
    wrong_secret["stringData"]["exporter-passwords.json"] = json.dumps({"rediss://localhost:6379": PASSWORD})
    container = dict(r["exporter"], ports=[{"name": "metrics", "containerPort": 9122}],
                     env=[e for e in r["exporter"]["env"]] + [{"name": "REDIS_EXPORTER_WEB_LISTEN_ADDRESS",
                                                               "value": ":9122"}])
    proc, sock, log = run_exporter(wrong, cluster, net, root, container, "wrong-key")
    try:
        def scraped() -> str | None:
            assert proc.poll() is None, log.read_text()
            status, body = pod_runner.http_get(sock, "/metrics", timeout=10)
            return body if status == 200 and re.search(r"^redis_up ", body, re.M) else None
        body = wait_until("a scrape", scraped, 20)
        assert re.search(r"^redis_up 0$", body, re.M)
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_command_of_the_old_main_exits_127_in_the_image(setup) -> None:
    """The command main shipped (`sh -c '... exec redis_exporter'`) on the same image and runner:
    busybox sh finds no redis_exporter on alpine's PATH. Proves the runner looks programs up in the
    image, as the pod does, and not on this machine."""
    r, cluster, net, root = setup
    old = dict(r["exporter"], command=["sh", "-c", 'REDIS_PASSWORD="$(cat /etc/cache-patterns/auth/password)" '
                                                    "exec redis_exporter"])
    image = ImageRoot(images.of(old["image"]), root / "image-old")
    auth = secret_volume(r["pod"], "cache-auth", r["secrets"], root / "auth-old", cluster._own)
    c = pod_runner.Container(old, image, volumes={"cache-auth": auth, "tls-live": cluster.members["redis-0"].tls_live},
                             fields={"metadata.name": POD})
    started = time.monotonic()
    result = subprocess.run(c.argv(), env=c.env(), capture_output=True, text=True, timeout=10)
    assert result.returncode == 127, (result.returncode, result.stderr)
    assert "redis_exporter" in result.stderr and time.monotonic() - started < 5
    assert c.argv()[0] == str(image.host("/bin/sh"))
