"""Backups and restore on the real node (issue 22): the staging stack with its backup destination an
S3 server the pods reach (versitygw in the node's network namespace, tests/node/s3.py), its existing
Secrets applied first. A Job made from the CronJob (`kubectl create job --from=cronjob/...`) runs the
backup pod itself: its init container copies restic out of the restic image, the backup container
streams the RDB from a replica as the backup ACL user through the egress NetworkPolicy into the
bucket. Then the stack is deleted with its claims and applied again with `restore: {from: latest}`:
the Redis pods' init containers restore, and every key's value digest on all three servers must be
the source's (testbed/backups.digests), not only their count."""
from __future__ import annotations

import copy
import json
import time

import pytest

from e2e.netns import NODE_IP
from testbed import backups
from testbed.s3server import ROOT_KEY, ROOT_SECRET
from tools import harness

from . import stacks
from .s3 import BUCKET, node_s3
from .test_staging import NS, REDIS_LABELS, _auth, _client, redis_pods, roles

pytestmark = [pytest.mark.cluster, pytest.mark.node]
CRONJOB = "staging-sessions-backup"
KEYS = 20_000
RESTIC_KEY = "node-tier-restic-key-0x51f3"


def variant(endpoint: str, restore: str | None = None) -> harness.Run:
    """The committed staging stack with its backups going to `endpoint` (and a restore at creation)."""
    from tests.conftest import STACK_OUTPUTS

    cfg = copy.deepcopy(harness.load_stack_config("staging"))
    cache = cfg["cache-patterns:caches"]["sessions"]
    assert cache.get("backup"), "the committed staging stack turns backups on"
    cache["backup"]["destination"] = {"endpoint": endpoint, "bucket": BUCKET, "pathStyle": True,
                                      "region": "us-east-1", "egress": [f"{NODE_IP}/32"]}
    if restore:
        cache["restore"] = {"from": restore}
    return harness.run("staging", cfg, stack_outputs=STACK_OUTPUTS)


def secrets(access: str, secret: str) -> list[dict]:
    """The two existing Secrets the stack's backup settings name: the access key and restic's key."""
    cfg = harness.load_stack_config("staging")["cache-patterns:caches"]["sessions"]["backup"]
    def make(name: str, data: dict) -> dict:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
                "type": "Opaque", "stringData": data}
    return [make(cfg["credentials"]["secret"], {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret}),
            make(cfg["encryptionKey"]["name"], {cfg["encryptionKey"]["key"]: RESTIC_KEY})]


def repository(d: stacks.Deployed) -> str:
    (cj,) = d.of_kind("CronJob")
    (c,) = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return next(e["value"] for e in c["env"] if e["name"] == "RESTIC_REPOSITORY")


def keyspace(cluster, d: stacks.Deployed) -> dict[str, dict[bytes, str]]:
    """Every Redis pod's key -> value digest (from inside the namespace, over TLS)."""
    password, ca = _auth(cluster, d)
    return {name: cluster.netns.call(lambda ip=ip: backups.digests(_client(ip, password, ca)))
            for name, ip in redis_pods(cluster).items()}


def fill(cluster, d: stacks.Deployed) -> str:
    """KEYS keys of several types (some with a TTL) on the primary, replicated to both replicas."""
    primary = next(n for n, info in roles(cluster, d).items() if info.get("role") == "master")
    password, ca = _auth(cluster, d)
    ip = redis_pods(cluster)[primary]

    def write() -> int:
        c = _client(ip, password, ca)
        c.connection_pool.connection_kwargs["socket_timeout"] = 30
        backups.fill(c, KEYS, prefix="node", size=400)
        return c.wait(2, 30_000)
    assert cluster.netns.call(write) == 2, "both replicas acknowledged the data set"
    return primary


def run_job(cluster, name: str) -> dict:
    """A Job from the CronJob, waited for; its pod's backup container status."""
    cluster.kubectl("create", "job", "-n", NS, f"--from=cronjob/{CRONJOB}", name)
    done = cluster.kubectl("wait", "-n", NS, f"job/{name}", "--for=condition=Complete", "--timeout=300s",
                           check=False, timeout=330)
    pod = json.loads(cluster.kubectl("get", "pods", "-n", NS, "-l", f"job-name={name}", "-o", "json").stdout)["items"]
    logs = cluster.kubectl("logs", "-n", NS, f"job/{name}", "-c", "backup", check=False).stdout
    assert done.returncode == 0, f"the backup Job did not complete: {done.stderr}\n{json.dumps(pod)[:3000]}\n{logs[-3000:]}"
    (status,) = [s for s in pod[-1]["status"]["containerStatuses"] if s["name"] == "backup"]
    return {"state": status["state"]["terminated"], "logs": logs}


def test_the_cronjobs_pod_backs_up_and_the_cache_pods_restore_every_key(real_node, tmp_path):
    started = time.monotonic()
    with node_s3(real_node, tmp_path / "s3") as s3:
        first = variant(s3.endpoint)
        before = secrets(ROOT_KEY, ROOT_SECRET)
        with stacks.deployed(real_node, "staging", tmp_path / "source", first, before) as d:
            stacks.wait_all_ready(real_node, d.objs)
            ready = time.monotonic() - started
            primary = fill(real_node, d)
            source = keyspace(real_node, d)[primary]
            assert len(source) == KEYS, f"{len(source)} keys on the primary"
            t0 = time.monotonic()
            job = run_job(real_node, "backup-node")
            took = time.monotonic() - t0
            message = job["state"]["message"]
            assert job["state"]["exitCode"] == 0 and message.startswith("ok "), job
            snapshot = message.split()[1]
            repo = repository(d)
        listed = s3.restic(repo, RESTIC_KEY, "snapshots", "--json", "--tag", "cache=sessions,manifest=1")
        assert listed.returncode == 0, listed.stderr
        (snap,) = json.loads(listed.stdout)
        tags = dict(t.split("=", 1) for t in snap["tags"] if "=" in t)
        assert snap["short_id"] == snapshot and snap["hostname"] == "staging-sessions", snap
        assert tags["keys"] == str(KEYS) and tags["role"] == "replica" and tags["pod"] != primary, tags
        assert s3.objects(BUCKET, "cache-patterns/staging-sessions/snapshots/"), "no snapshot object in the bucket"
        deleted = time.monotonic()
        # The source stack is gone with its namespace and claims: the restored pods start on new volumes.
        restored_run = variant(s3.endpoint, restore="latest")
        with stacks.deployed(real_node, "staging", tmp_path / "restored", restored_run, before) as r:
            stacks.wait_all_ready(real_node, r.objs)
            restored_ready = time.monotonic() - deleted
            log = real_node.kubectl("logs", "-n", NS, "staging-sessions-0", "-c", "restore").stdout
            assert snapshot in log, f"the restore step of pod 0 did not name snapshot {snapshot}:\n{log[-2000:]}"
            deadline = time.monotonic() + 120
            while (now := keyspace(real_node, r)) and any(v != source for v in now.values()):
                if time.monotonic() > deadline:
                    break
                time.sleep(2)
            for pod, got in sorted(now.items()):
                missing = len(source.keys() - got.keys())
                differ = sum(1 for k in source.keys() & got.keys() if got[k] != source[k])
                assert got == source, (f"{pod}: {len(got)} keys, {missing} of {KEYS} missing, {differ} differ, "
                                       f"{len(got.keys() - source.keys())} extra")
            info = roles(real_node, r)
            assert sorted(i.get("role") for i in info.values()) == ["master", "slave", "slave"], info
    print(f"node backup: source Ready {ready:.0f} s, backup Job {took:.1f} s ({KEYS} keys), "
          f"deleted and restored to Ready {restored_ready:.0f} s, total {time.monotonic() - started:.0f} s")
