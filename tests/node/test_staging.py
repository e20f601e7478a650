"""The staging stack (pattern 2: three Redis pods with Sentinel, HAProxy in front, TLS from
cert-manager) on a real node: Ready through its probes, apps reach it through the contract (TLS,
the Service, HAProxy), a deleted replica pod is replaced and rejoins, the primary's pod deleted hands
over through its real preStop hook without losing an acknowledged write (counted through HAProxy by
the app), and a renewed certificate reaches the servers through the Secret volume and their reload.

The test process watches the Redis pods directly from inside the cluster's network namespace
(`NodeCluster.netns.call`): every 50 ms, which pod says it is the primary and whether the old one
still accepts connections.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import ssl
import threading
import time

import pytest
import redis

from e2e import pods

from . import stacks

pytestmark = [pytest.mark.cluster, pytest.mark.node]
NS = "cache"
REDIS_LABELS = {"app.kubernetes.io/component": "redis", "app.kubernetes.io/instance": "staging-sessions",
                "app.kubernetes.io/name": "staging-sessions"}


@pytest.fixture(scope="module")
def staging(real_node, tmp_path_factory):
    with stacks.deployed(real_node, "staging", tmp_path_factory.mktemp("staging")) as d:
        stacks.wait_all_ready(real_node, d.objs)
        yield d


def _secret(cluster, namespace: str, name: str) -> dict[str, bytes]:
    data = json.loads(cluster.kubectl("get", "secret", "-n", namespace, name, "-o", "json").stdout)["data"]
    return {k: base64.b64decode(v) for k, v in data.items()}


def _auth(cluster, d: stacks.Deployed) -> tuple[str, bytes]:
    (secret,) = [o for o in d.of_kind("Secret") if o["metadata"]["namespace"] == NS and "auth" in o["metadata"]["name"]]
    password = _secret(cluster, NS, secret["metadata"]["name"])["password"].decode()
    return password, _secret(cluster, NS, "staging-sessions-tls")["ca.crt"]


def _client(ip: str, password: str, ca: bytes) -> redis.Redis:
    return redis.Redis(host=ip, port=6379, password=password, ssl=True, ssl_ca_data=ca.decode(),
                       ssl_check_hostname=False, socket_timeout=1, socket_connect_timeout=1)


def redis_pods(cluster) -> dict[str, str]:
    """Redis pod name -> IP."""
    return {p["metadata"]["name"]: p["status"].get("podIP") for p in pods.list_pods(cluster, NS, REDIS_LABELS)}


def roles(cluster, d: stacks.Deployed) -> dict[str, dict]:
    password, ca = _auth(cluster, d)

    def read() -> dict[str, dict]:
        out = {}
        for name, ip in redis_pods(cluster).items():
            try:
                out[name] = _client(ip, password, ca).info("replication")
            except (redis.RedisError, OSError) as e:
                out[name] = {"role": f"unreachable: {e}"}
        return out
    return cluster.netns.call(read)


def primary(cluster, d: stacks.Deployed) -> str:
    found = [n for n, info in roles(cluster, d).items() if info.get("role") == "master"]
    assert len(found) == 1, roles(cluster, d)
    return found[0]


def test_pods_ready_and_apps_reach_the_cache_through_haproxy(real_node, staging):
    for app in staging.apps():
        for pod in stacks.workload_pods(real_node, app):
            result = pods.app_check(real_node, app["metadata"]["namespace"], pod["metadata"]["name"])
            assert result.get("ok") and result["tls"] and result["sentinels"] == 3, result
            assert result["host"] == "staging-sessions.cache.svc.cluster.local", result
    info = roles(real_node, staging)
    assert sorted(i.get("role") for i in info.values()) == ["master", "slave", "slave"], info


def test_a_replica_pod_deleted_is_replaced_and_rejoins(real_node, staging):
    first = primary(real_node, staging)
    victim = sorted(n for n in redis_pods(real_node) if n != first)[0]
    grace = staging.workload("StatefulSet", "staging-sessions")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    started = time.monotonic()
    real_node.kubectl("delete", "pod", "-n", NS, victim, "--wait=true", "--timeout=180s")
    stopped = time.monotonic() - started
    # Every container stops on its own: none waits for the SIGKILL at the end of the grace period
    # (the reload loop, its container's PID 1, ignored SIGTERM until it trapped it).
    assert stopped < grace, f"the pod took {stopped:.0f} s to stop, its whole grace period ({grace} s)"
    pods.wait_ready(real_node, NS, REDIS_LABELS, count=3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = roles(real_node, staging)
        back = info.get(victim, {})
        if back.get("role") == "slave" and back.get("master_link_status") == "up":
            break
        time.sleep(1)
    assert back.get("role") == "slave" and back.get("master_link_status") == "up", info
    assert primary(real_node, staging) == first   # a replica's restart moves no primary


def _watch(cluster, d: stacks.Deployed, old: str, old_ip: str, stop: threading.Event, seen: dict) -> None:
    """From inside the namespace: when another pod first says master, when the old one first
    refuses connections."""
    password, ca = _auth(cluster, d)
    others = {n: ip for n, ip in redis_pods(cluster).items() if n != old}

    def loop() -> None:
        while not stop.is_set():
            now = time.monotonic()
            if "promoted" not in seen:
                for name, ip in others.items():
                    with contextlib.suppress(redis.RedisError, OSError):
                        if _client(ip, password, ca).info("replication").get("role") == "master":
                            seen["promoted"], seen["new"] = now, name
            if "old_down" not in seen:
                try:
                    socket.create_connection((old_ip, 6379), timeout=0.5).close()
                except OSError:
                    seen["old_down"] = now
            if "promoted" in seen and "old_down" in seen:
                return
            time.sleep(0.05)
    cluster.netns.call(loop)


def test_primary_pod_deleted_hands_over_in_its_prestop_without_losing_acknowledged_writes(real_node, staging):
    old = primary(real_node, staging)
    old_ip = redis_pods(real_node)[old]
    (checkout,) = [a for a in staging.apps() if a["metadata"]["name"] == "checkout"]
    writer = stacks.workload_pods(real_node, checkout)[0]["metadata"]["name"]
    seen: dict = {}
    stop = threading.Event()
    with pods.writes(real_node, "shop", writer, seconds=20, prefix="handover") as w:
        deleted = time.monotonic()
        real_node.kubectl("delete", "pod", "-n", NS, old, "--wait=false")
        watcher = threading.Thread(target=_watch, args=(real_node, staging, old, old_ip, stop, seen))
        watcher.start()
        watcher.join(timeout=120)
        stop.set()
    assert "promoted" in seen and "old_down" in seen, seen
    # The handover is the preStop hook's: another pod was primary while the old server still ran
    # (without the hook, Redis stops on SIGTERM and Sentinel promotes only after down-after).
    assert seen["promoted"] < seen["old_down"], \
        f"promoted {seen['promoted'] - deleted:.1f} s after the delete, old server down at {seen['old_down'] - deleted:.1f} s"
    assert w.result.acked, w.result
    missing = pods.lost(real_node, "shop", writer, "handover", w.result.acked)
    assert not missing["missing"] and not missing["wrong"], \
        f"acknowledged writes lost through the handover: {missing}; writer: {len(w.result.acked)} acked, " \
        f"{w.result.failed} failed {w.result.errors}"
    pods.wait_ready(real_node, NS, REDIS_LABELS, count=3)
    print(f"handover: {len(w.result.acked)} acknowledged, {w.result.failed} failed ({w.result.first}), "
          f"promoted {seen['promoted'] - deleted:.2f} s after the delete, old server down at "
          f"{seen['old_down'] - deleted:.2f} s, new primary {seen['new']}")


def _served(ip: str, port: int, ca: bytes) -> str:
    """The fingerprint of the certificate a server presents (or why none)."""
    ctx = ssl.create_default_context(cadata=ca.decode())
    ctx.check_hostname = False
    try:
        with socket.create_connection((ip, port), timeout=2) as s, ctx.wrap_socket(s) as t:
            return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()
    except (OSError, ssl.SSLError) as e:
        return f"no certificate: {e}"


def _fingerprint(pem: bytes) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.decode())).hexdigest()


def test_a_renewed_certificate_reaches_every_server_through_the_secret_volume(real_node, staging):
    ca = _secret(real_node, NS, "staging-sessions-tls")["ca.crt"]
    before = _fingerprint(_secret(real_node, NS, "staging-sessions-tls")["tls.crt"])
    ips = redis_pods(real_node)
    served = {n: real_node.netns.call(_served, ip, 6379, ca) for n, ip in ips.items()}
    assert set(served.values()) == {before}, f"before the renewal: {served}, the Secret's {before}"
    renew(real_node, staging)
    deadline = time.monotonic() + 60
    while (after := _fingerprint(_secret(real_node, NS, "staging-sessions-tls")["tls.crt"])) == before:
        assert time.monotonic() < deadline, "the Secret was not renewed in 60 s"
        time.sleep(1)
    # kubelet swaps the Secret volume, tls-reload.sh sees it (TLS_POLL 5 s) and reloads the server.
    deadline = time.monotonic() + 180
    served: dict = {}
    while time.monotonic() < deadline:
        served = {n: real_node.netns.call(_served, ip, 6379, ca) for n, ip in ips.items()}
        if set(served.values()) == {after}:
            break
        time.sleep(2)
    assert set(served.values()) == {after}, f"still served after 180 s: {served}, new {after}"
    for app in staging.apps():
        pod = stacks.workload_pods(real_node, app)[0]["metadata"]["name"]
        assert pods.app_check(real_node, app["metadata"]["namespace"], pod).get("ok")


def renew(cluster, d: stacks.Deployed) -> None:
    """cert-manager's manual renewal, as `cmctl renew` asks for it: the Issuing condition."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cluster.kubectl("patch", "certificate", "-n", NS, "staging-sessions-tls", "--subresource=status",
                    "--type=json", "-p", json.dumps([{"op": "add", "path": "/status/conditions/-", "value": {
                        "type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
                        "message": "renewal requested by the node test", "lastTransitionTime": now}}]))

PROBE_NAMESPACES = {"monitoring": "the scraper's namespace", "elsewhere": "a namespace no policy admits"}


@pytest.fixture(scope="module")
def probes(real_node, staging):
    """One pod of the test app image in `monitoring` and one in `elsewhere`, to connect from."""
    image = staging.apps()[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    objs = []
    for ns in PROBE_NAMESPACES:
        objs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        objs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": ns,
                                                                      "labels": {"app": "probe"}},
                     "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                         "name": "probe", "image": image, "imagePullPolicy": "IfNotPresent",
                         "command": ["python3", "-c", "import time; time.sleep(100000)"],
                         "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
                                             "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}]}})
    real_node.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objs))
    for ns in PROBE_NAMESPACES:
        pods.wait_ready(real_node, ns, {"app": "probe"}, count=1)
    yield
    real_node.kubectl("delete", "namespace", *PROBE_NAMESPACES, "--wait=true", "--timeout=120s", check=False)


def connects(cluster, namespace: str, pod: str, ip: str, port: int, container: str | None = None) -> bool:
    """Whether a TCP connection from inside the pod to ip:port is accepted within 3 s."""
    code = f"import socket; socket.create_connection(({ip!r}, {port}), 3).close()"
    return cluster.exec(namespace, pod, "python3", "-c", code, container=container, check=False).returncode == 0


def test_network_policies_admit_the_apps_and_the_scraper_and_refuse_the_rest(real_node, staging, probes):
    redis_ip = next(iter(redis_pods(real_node).values()))
    sentinels = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods.list_pods(
        real_node, NS, {**REDIS_LABELS, "app.kubernetes.io/component": "sentinel"})}
    (checkout,) = [a for a in staging.apps() if a["metadata"]["name"] == "checkout"]
    (accounts,) = [a for a in staging.apps() if a["metadata"]["name"] == "accounts"]
    app_pod = stacks.workload_pods(real_node, checkout)[0]
    other_app = stacks.workload_pods(real_node, accounts)[0]["metadata"]["name"]
    dns = "10.96.0.10"
    # Admitted: the app to Redis and to every Sentinel (the contract's CACHE_SENTINELS); the scraper
    # to the exporter's port.
    assert connects(real_node, "shop", app_pod["metadata"]["name"], redis_ip, 6379)
    assert all(connects(real_node, "shop", app_pod["metadata"]["name"], ip, 26379) for ip in sentinels.values())
    assert connects(real_node, "monitoring", "probe", redis_ip, 9121)
    # Refused: the scraper to Redis itself, any other namespace to either, an app of the cache to
    # another app (checkout admits only its own namespace). Each probe pod reaches the DNS Service
    # (no policy there), so a refusal is the policy's, not a broken network.
    for ns in PROBE_NAMESPACES:
        assert connects(real_node, ns, "probe", dns, 53), f"{ns}: the probe pod reaches nothing at all"
    assert not connects(real_node, "monitoring", "probe", redis_ip, 6379)
    assert not connects(real_node, "elsewhere", "probe", redis_ip, 6379)
    assert not connects(real_node, "elsewhere", "probe", redis_ip, 9121)
    assert not connects(real_node, "identity", other_app, app_pod["status"]["podIP"], 8080)
    assert connects(real_node, "shop", app_pod["metadata"]["name"], app_pod["status"]["podIP"], 8080)


ROLL_WRITES_S = 120   # the writer runs this long: the whole roll must fit in it (28 s on the node at load ~10)


def test_a_new_memory_limit_is_rolled_by_the_driver_replicas_first_and_the_primary_once(real_node, staging, monkeypatch):
    """What `pulumi up` runs after a pod template change (rollout_step.roll: the driver through kubectl, as
    the dynamic resource calls it), on real pods: a new memory limit on the OnDelete StatefulSet moves no
    pod by itself; the driver replaces the replicas, then the primary through its preStop hand-over, and
    returns with every pod on the new revision and Ready, under a steady writer through HAProxy."""
    import os

    from cache_patterns.patterns.statefulset import rollout_step
    from e2e import toolchain

    monkeypatch.setenv("KUBECONFIG", str(real_node.kubeconfig))
    monkeypatch.setenv("PATH", f"{toolchain.bin_dir('kubernetes')}{os.pathsep}{os.environ['PATH']}")
    first = primary(real_node, staging)
    names = sorted(redis_pods(real_node))
    sts = json.loads(real_node.kubectl("get", "statefulset", "-n", NS, "staging-sessions", "-o", "json").stdout)
    i = [c["name"] for c in sts["spec"]["template"]["spec"]["containers"]].index("redis")
    patch = [{"op": "replace", "path": f"/spec/template/spec/containers/{i}/resources/{kind}/memory", "value": "1100Mi"}
             for kind in ("limits", "requests")]
    real_node.kubectl("patch", "statefulset", "-n", NS, "staging-sessions", "--type", "json", "-p", json.dumps(patch))
    time.sleep(3)
    assert sorted(redis_pods(real_node)) == names and primary(real_node, staging) == first, "OnDelete: no pod moves by itself"
    (checkout,) = [a for a in staging.apps() if a["metadata"]["name"] == "checkout"]
    writer = stacks.workload_pods(real_node, checkout)[0]["metadata"]["name"]
    with pods.writes(real_node, "shop", writer, seconds=ROLL_WRITES_S, prefix="rollout") as w:
        started = time.monotonic()
        done = rollout_step.roll({"namespace": NS, "statefulset": "staging-sessions", "context": "", "timeout": 600})
        took = time.monotonic() - started
    assert done["refused"] == "", done
    assert done["replaced"][-1] == first and sorted(done["replaced"]) == names and done["handovers"] == 1, done
    assert took < ROLL_WRITES_S - 1, f"the roll took {took:.0f} s, longer than the writer ran: not all of it under writes"
    sts = json.loads(real_node.kubectl("get", "statefulset", "-n", NS, "staging-sessions", "-o", "json").stdout)
    ready = pods.wait_ready(real_node, NS, REDIS_LABELS, count=3, timeout=1)   # ready when the driver returned
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in ready} == {sts["status"]["updateRevision"]}
    assert all(p["spec"]["containers"][i]["resources"]["limits"]["memory"] == "1100Mi" for p in ready)
    assert w.result.acked, w.result
    missing = pods.lost(real_node, "shop", writer, "rollout", w.result.acked)
    assert not missing["missing"] and not missing["wrong"], \
        f"acknowledged writes lost through the roll: {missing}; {len(w.result.acked)} acked, {w.result.failed} failed"
    print(f"roll: {done['replaced']} in {took:.1f} s, {len(w.result.acked)} acknowledged, {w.result.failed} failed "
          f"({w.result.first}), new primary {primary(real_node, staging)}")
