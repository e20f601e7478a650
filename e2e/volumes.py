"""Volumes for the real node's claims: a provisioner of `local` PersistentVolumes in the state dir.

    python -m e2e.volumes KUBECONFIG ROOT NODE

Every second: a claim of the StorageClass `cache-patterns-local` without a volume gets a folder
ROOT/pvc-<uid> and a `local` PersistentVolume bound to it (pinned to NODE); a volume of ours that
its claim released is deleted with its folder (reclaim policy Delete). A `local` volume, unlike a
hostPath one, gets the pod's fsGroup (kubelet makes it group-owned and group-writable), as the cloud
volumes the stacks are written for do. The kwok cluster's `kwok-volume` class makes hostPath volumes
that no kubelet ever mounts; on a real node they would stay root-owned.
"""
from __future__ import annotations

import base64
import json
import shutil
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

STORAGE_CLASS = "cache-patterns-local"
PROVISIONER = "cache-patterns.local/state-dir"
STORAGE_CLASS_MANIFEST = {
    "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
    "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
}


class Api:
    def __init__(self, kubeconfig: Path) -> None:
        cfg = yaml.safe_load(kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.server = cluster["server"]
        self.token = cfg["users"][0]["user"]["token"]
        ca = tempfile.NamedTemporaryFile(suffix=".crt", delete=False)
        ca.write(base64.b64decode(cluster["certificate-authority-data"]))
        ca.close()
        self.ctx = ssl.create_default_context(cafile=ca.name)

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(self.server + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10, context=self.ctx) as resp:
            return json.loads(resp.read() or b"{}")


def volume_for(claim: dict, root: Path, node: str) -> dict:
    meta, spec = claim["metadata"], claim["spec"]
    name = f"pvc-{meta['uid']}"
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete", "storageClassName": STORAGE_CLASS,
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": meta["uid"], "resourceVersion": meta["resourceVersion"]},
            "local": {"path": str(root / name)},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
        },
    }


def step(api: Api, root: Path, node: str) -> None:
    for claim in api.call("GET", "/api/v1/persistentvolumeclaims")["items"]:
        spec = claim["spec"]
        if (spec.get("storageClassName") == STORAGE_CLASS and not spec.get("volumeName")
                and not claim["metadata"].get("deletionTimestamp")):
            pv = volume_for(claim, root, node)
            (root / pv["metadata"]["name"]).mkdir(parents=True, exist_ok=True)
            try:
                api.call("POST", "/api/v1/persistentvolumes", pv)
                print(f"provisioned {pv['metadata']['name']} for {claim['metadata']['namespace']}/"
                      f"{claim['metadata']['name']}", flush=True)
            except urllib.error.HTTPError as e:
                if e.code != 409:   # made in an earlier round, not bound yet
                    raise
    for pv in api.call("GET", "/api/v1/persistentvolumes")["items"]:
        ours = pv["metadata"].get("annotations", {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER
        if ours and pv.get("status", {}).get("phase") in ("Released", "Failed"):
            shutil.rmtree(root / pv["metadata"]["name"], ignore_errors=True)
            try:
                api.call("DELETE", f"/api/v1/persistentvolumes/{pv['metadata']['name']}")
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
            print(f"deleted {pv['metadata']['name']}", flush=True)


def main(argv: list[str]) -> int:
    kubeconfig, root, node = Path(argv[0]), Path(argv[1]), argv[2]
    root.mkdir(parents=True, exist_ok=True)
    api = Api(kubeconfig)
    while True:
        try:
            step(api, root, node)
        except (OSError, urllib.error.URLError, ValueError) as e:
            print(f"provisioner: {e}", flush=True)
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
