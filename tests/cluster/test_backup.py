"""The staging stack with `backup:` and `restore:` on its `sessions` cache (tests/test_backup_render.py's
settings) through a real API server: the CronJob, its ConfigMap, egress NetworkPolicy and
ServiceAccount, the Redis pods' restore init containers and the Secrets they read are accepted without a
warning and stored as sent; a Job made from the CronJob gets its pod admitted under the namespace's
`restricted` Pod Security level (a CronJob is admitted even when its pods would not be: only the Job
controller's pod creation tells). kwok plays the kubelet, so nothing runs here: the scripts themselves
run in the live tier (tests/live/test_backup_live.py)."""
from __future__ import annotations

import time

import pytest

from cache_patterns.core import contract
from cache_patterns.patterns.statefulset import backup as bk

from . import kube
from tests.test_backup_render import BACKUP, staging

pytestmark = pytest.mark.cluster


def _secret(ns: str, name: str, data: dict[str, str]) -> dict:
    """What the platform team creates before the cache: the S3 keys and restic's key."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "type": "Opaque", "stringData": data}


def test_backup_and_restore_objects_are_accepted_and_the_jobs_pod_admitted(kube_cluster):
    objs = kube.manifests(staging(backup=BACKUP, restore={"from": "latest"}))
    (cronjob,) = [o for o in objs if o["kind"] == "CronJob"]
    ns = cronjob["metadata"]["namespace"]
    namespace = next(o for o in objs if o["kind"] == "Namespace" and o["metadata"]["name"] == ns)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    egress = [o for o in objs if o["kind"] == "NetworkPolicy" and "Egress" in o["spec"].get("policyTypes", [])
              and o["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "backup"]
    assert egress, "no egress NetworkPolicy for the backup pods"
    secrets = [_secret(ns, BACKUP["credentials"]["secret"], {"AWS_ACCESS_KEY_ID": "AKIA0EXAMPLE",
                                                             "AWS_SECRET_ACCESS_KEY": "example-secret"}),
               _secret(ns, BACKUP["encryptionKey"]["name"], {BACKUP["encryptionKey"]["key"]: "example-restic-key"})]
    job_name = "backup-now"
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job_name, "namespace": ns}}
    try:
        results = kube.apply_all(kube_cluster, objs + secrets)
        refused = [f"{kube.ref(r.obj)}: {r.error}" for r in results if not r.ok]
        assert not refused, "the server refused:\n" + "\n".join(refused)
        warned = [f"{kube.ref(r.obj)}: {w}" for r in results for w in r.warnings]
        assert not warned, "the server warned:\n" + "\n".join(warned)
        for o in [cronjob, *egress]:
            stored = kube.get(kube_cluster, o)
            assert stored is not None, kube.ref(o)
            assert not kube.rewritten(kube.as_stored(o), stored), (kube.ref(o), kube.rewritten(kube.as_stored(o), stored))
        # The restore's init containers are part of the Redis pods the StatefulSet controller creates.
        not_ready = kube.wait_ready(kube_cluster, objs)
        assert not not_ready, f"not Ready after {kube.READY_TIMEOUT:.0f} s: {not_ready}"
        sts = next(o for o in objs if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "staging-sessions")
        selector = ",".join(f"{k}={v}" for k, v in sts["spec"]["selector"]["matchLabels"].items())
        pods = kube.get_json(kube_cluster, "pods", "-n", ns, "-l", selector)["items"]
        assert pods and all([c["name"] for c in p["spec"]["initContainers"]][:2] == ["restic-tools", "restore"]
                            for p in pods), [p["metadata"]["name"] for p in pods]

        kube_cluster.kubectl("create", "job", job_name, f"--from=cronjob/{cronjob['metadata']['name']}", "-n", ns)
        deadline = time.monotonic() + 60
        made: list[dict] = []
        while not made and time.monotonic() < deadline:
            made = kube.get_json(kube_cluster, "pods", "-n", ns, "-l", f"job-name={job_name}")["items"]
            time.sleep(1)
        failed = [e["message"] for e in kube.events(kube_cluster, ns, job_name) if e.get("reason") == "FailedCreate"]
        assert made and not failed, f"the Job's pod was not created in 60 s: {failed}"
        pod = made[0]["spec"]
        assert pod["automountServiceAccountToken"] is False
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert env["PASSWORD_FILE"]["value"] == bk.USER_PASSWORD_FILE != contract.PASSWORD_FILE, \
            "the job reads the backup user's password, never the cache's"
    finally:
        code, out = kube.delete_all(kube_cluster, [job] + objs + secrets)
    assert code == 0, f"delete did not finish:\n{out}"
