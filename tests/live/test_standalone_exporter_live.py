"""Live: the exporter the platform stack runs for OT-CONTAINER-KIT's Sentinels (which carry none),
as rendered, against a live Redis and three live Sentinels without a password or TLS (as OT's
embedded Sentinels run: the operator's sentinel container sets neither).

The Deployment's container runs as its pod would (pod_runner: rendered env, user, the image's
program, a network namespace of its own); each endpoint of the rendered PodMonitor is scraped as
Prometheus would (its path and `target` parameter). The one change: each Sentinel's DNS name (the
operator's headless Service) is replaced by the local address of a live Sentinel, forwarded into the
pod's namespace. Checked: every Sentinel answers (`redis_up 1`), quorum holds, and every metric the
Sentinel rules read is scraped, so the rules generated for the OT cache have something to read.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cache_patterns.core import images
from tests.observability import promql
from tools import harness

from testbed import engines, pod_runner
from testbed.image_root import ImageRoot
from testbed.support import free_ports, new_root, wait_until
from .conftest import require_exporter_pods

pytestmark = pytest.mark.live


def rendered() -> tuple[dict, dict, list[dict]]:
    """(the Sentinel exporter's container, its PodMonitor's spec, the Sentinel rules) of platform."""
    objs = harness.run("platform").manifests()
    monitor = next(o for o in objs if o["kind"] == "PodMonitor" and o["metadata"]["name"].endswith("-sentinel"))
    selected = monitor["spec"]["selector"]["matchLabels"].items()
    (deployment,) = [o for o in objs if o["kind"] == "Deployment"
                     and selected <= o["spec"]["template"]["metadata"]["labels"].items()]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    rules = [r for o in objs if o["kind"] == "PrometheusRule" for g in o["spec"]["groups"] for r in g["rules"]
             if r["labels"]["component"] == "sentinel"]
    return container, monitor["spec"], rules


@pytest.fixture(scope="module")
def sentinels() -> Iterator[list[int]]:
    """One Redis and three Sentinels watching it (quorum 2), on loopback ports; stopped by PID."""
    require_exporter_pods()
    root = new_root("cp-ot-sentinels-")
    redis_port, *ports = free_ports(4)
    procs = [subprocess.Popen([engines.engine_program("server"), "--port", str(redis_port), "--bind", "127.0.0.1",
                               "--save", "", "--dir", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)]
    for i, port in enumerate(ports):
        conf = root / f"sentinel-{i}.conf"
        conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {root}\n"
                        f"sentinel monitor mymaster 127.0.0.1 {redis_port} 2\nsentinel down-after-milliseconds mymaster 5000\n")
        procs.append(subprocess.Popen([engines.engine_program("sentinel"), str(conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT))
    try:
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def test_the_ot_sentinel_exporter_scrapes_every_sentinel_for_what_the_rules_read(sentinels, tmp_path):
    container, monitor, rules = rendered()
    endpoints = monitor["podMetricsEndpoints"]
    assert len(endpoints) == len(sentinels) == 3
    workdir = Path(tmp_path) / "pod"
    workdir.mkdir()
    net = pod_runner.PodNetwork(workdir)
    try:
        # Each rendered Sentinel address -> a live Sentinel on its own loopback port in the pod.
        local = {}
        for i, (endpoint, port) in enumerate(zip(endpoints, sentinels)):
            address = endpoint["relabelings"][0]["replacement"]
            assert endpoint["params"]["target"] == [f"redis://{address}"]
            net.forward_in(26379 + i, port)
            local[address] = f"127.0.0.1:{26379 + i}"
        c = pod_runner.Container(container, ImageRoot(images.of(container["image"]), workdir / "image"), volumes={})
        assert c.env()["REDIS_ADDR"] == ""
        sc = container["securityContext"]
        sock = net.expose(container["ports"][0]["containerPort"])
        log = workdir / "exporter.log"
        with open(log, "w") as out:
            net.popen([engines.which("setpriv") or "setpriv", f"--reuid={sc['runAsUser']}",
                       f"--regid={sc['runAsGroup']}", "--clear-groups", "--inh-caps=-all", *c.argv()],
                      env=c.env(), cwd="/", stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until("the exporter's /health", lambda: _get(sock, "/health") is not None, 15)
        # Its own /metrics scrapes nothing (no address of its own).
        assert "redis_up" not in (_get(sock, "/metrics") or "")
        scraped: set[str] = set()
        for endpoint in endpoints:
            address = endpoint["relabelings"][0]["replacement"]
            query = urlencode({"target": f"redis://{local[address]}"})
            path = f"{endpoint['path']}?{query}"
            # The Sentinels see each other within a few hellos: until then CKQUORUM says NOQUORUM.
            body = wait_until(f"a scrape of {address} with quorum", lambda: _quorate(_get(sock, path)), 30)
            families = {f.name: f for f in text_string_to_metric_families(body)}
            assert [s.value for s in families["redis_up"].samples] == [1.0], address
            scraped |= {s.name for f in families.values() for s in f.samples}
        read = {m for r in rules for m in promql.metric_names(r["expr"])} - {"up"}
        assert len(read) >= 5 and read <= scraped, f"not scraped: {read - scraped}"
    finally:
        net.close()
        if (workdir / "exporter.log").exists():
            print((workdir / "exporter.log").read_text()[-2000:])
        shutil.rmtree(workdir / "image", ignore_errors=True)


def _get(sock: Path, path: str) -> str | None:
    try:
        status, body = pod_runner.http_get(sock, path)
    except OSError:
        return None
    return body if status == 200 else None


def _quorate(body: str | None) -> str | None:
    if body is None:
        return None
    families = {f.name: f for f in text_string_to_metric_families(body)}
    quorum = families.get("redis_sentinel_master_ckquorum_status")
    return body if quorum is not None and [s.value for s in quorum.samples] == [1.0] else None
