"""What each component of the local cluster (e2e/cluster.py) runs and how start-up knows it is
healthy: the certificates and kubeconfig (openssl), the command lines from the pinned toolchain,
kwok's stages, and the health endpoints `up` waits on and `status` reports.
"""
from __future__ import annotations

import base64
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

from e2e import toolchain
from e2e.processes import PORTS, ClusterError, _alive, _log_tail

CONTEXT = "cache-patterns-e2e"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
KWOK_POD_CIDR = "10.244.0.1/16"   # kwok hands out pod IPs from here (its flag wants a host address)
# kwok's stages (from its module, copied beside the binary): a node that turns Ready and keeps its
# lease, pods that are scheduled turn Running and Ready and go away when deleted, claims of the
# kwok-volume StorageClass get a volume.
KWOK_STAGES = ("node/fast", "node/heartbeat-with-lease", "pod/fast", "volume/fast")
STORAGE_CLASS = "volume/fast/storage-class.yaml"
START_TIMEOUT = 120.0


def _binary(tool: str, name: str) -> Path:
    path = toolchain.bin_dir(tool) / name
    if not path.exists():
        raise ClusterError(f"{name} is not built (tool {tool!r} of e2e/pins.toml): run `./run toolchain`")
    return path


# --- certificates and kubeconfig --------------------------------------------------------------

def _openssl(args: Sequence[str], cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"openssl {' '.join(args)} failed:\n{proc.stderr.strip()}")


def _pki(pki: Path, extra_sans: str = "") -> None:
    """A CA, the API server's serving certificate (127.0.0.1, localhost, the in-cluster names, and
    `extra_sans` such as "IP:10.250.0.1") and the service-account signing key pair."""
    pki.mkdir(parents=True)
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
              "-days", "30", "-subj", "/CN=cache-patterns-e2e-ca"], pki)
    (pki / "san.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" + (f",{extra_sans}" if extra_sans else "") + "\n"
        "extendedKeyUsage=serverAuth\n")
    _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out", "apiserver.csr",
              "-subj", "/CN=kube-apiserver"], pki)
    _openssl(["x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
              "-out", "apiserver.crt", "-days", "30", "-extfile", "san.cnf"], pki)
    _openssl(["genrsa", "-out", "sa.key", "2048"], pki)
    _openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], pki)


def _kubeconfig(path: Path, server: str, ca: Path, token: str) -> None:
    import yaml
    ca_data = base64.b64encode(ca.read_bytes()).decode()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": CONTEXT,
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": f"{CONTEXT}-admin", "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-admin"}}],
    }, sort_keys=False))
    path.chmod(0o600)


# --- health -----------------------------------------------------------------------------------

def _get(url: str, token: str | None = None, ca: Path | None = None, timeout: float = 3) -> tuple[int, str]:
    ctx = None
    if url.startswith("https:"):
        ctx = ssl.create_default_context(cafile=str(ca)) if ca else ssl._create_unverified_context()
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ssl.SSLError) as e:
        return 0, str(e)


def _health_urls(root: Path, port: int) -> dict[str, str]:
    return {
        "etcd": f"http://127.0.0.1:{port + PORTS['etcd']}/health",
        "kube-apiserver": f"https://127.0.0.1:{port}/readyz",
        "kube-controller-manager": f"https://127.0.0.1:{port + PORTS['kube-controller-manager']}/healthz",
        "kube-scheduler": f"https://127.0.0.1:{port + PORTS['kube-scheduler']}/healthz",
        "kwok": f"http://127.0.0.1:{port + PORTS['kwok']}/healthz",
    }


def _healthy(root: Path, state: dict, name: str) -> tuple[bool, str]:
    url = _health_urls(root, state["port"])[name]
    ca = root / "pki" / "ca.crt" if name == "kube-apiserver" else None
    code, body = _get(url, state.get("token") if name == "kube-apiserver" else None, ca)
    return code == 200, f"{url} -> {code or 'no answer'} {body.strip()[:200]}"


def _wait(root: Path, state: dict, name: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not _alive(state["processes"][name]):
            raise ClusterError(f"{name} exited during start-up; last lines of {root / 'logs' / (name + '.log')}:\n"
                               f"{_log_tail(root, name)}")
        ok, last = _healthy(root, state, name)
        if ok:
            return
        time.sleep(0.3)
    raise ClusterError(f"{name} not healthy after {timeout:.0f} s ({last}); last lines of its log:\n"
                       f"{_log_tail(root, name)}")


# --- command lines and kwok's stages ----------------------------------------------------------

def _commands(root: Path, port: int) -> dict[str, list[str]]:
    pki, kubeconfig = root / "pki", str(root / "kubeconfig")
    etcd_client, etcd_peer = f"http://127.0.0.1:{port + PORTS['etcd']}", f"http://127.0.0.1:{port + PORTS['etcd-peer']}"
    kube = lambda name: str(_binary("kubernetes", name))  # noqa: E731
    delegated = [f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
                 f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1", "--leader-elect=false"]
    return {
        "etcd": [str(_binary("etcd", "etcd")), "--name=e2e", f"--data-dir={root / 'etcd'}",
                 f"--listen-client-urls={etcd_client}", f"--advertise-client-urls={etcd_client}",
                 f"--listen-peer-urls={etcd_peer}", f"--initial-advertise-peer-urls={etcd_peer}",
                 f"--initial-cluster=e2e={etcd_peer}", "--unsafe-no-fsync", "--log-level=warn"],
        "kube-apiserver": [
            kube("kube-apiserver"), f"--etcd-servers={etcd_client}", "--bind-address=127.0.0.1",
            f"--secure-port={port}", "--advertise-address=127.0.0.1",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={root / 'tokens.csv'}",
            "--authorization-mode=RBAC", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            # As on a real cluster the kubelet would allow privileged pods: refusing them is Pod
            # Security admission's job, which the tests exercise.
            "--allow-privileged=true",
            # The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints refuse; no pod
            # here runs, so nothing needs them.
            "--endpoint-reconciler-type=none",
            f"--cert-dir={pki}", "--profiling=false"],
        "kube-controller-manager": [
            kube("kube-controller-manager"), *delegated, f"--secure-port={port + PORTS['kube-controller-manager']}",
            f"--cert-dir={pki / 'kcm'}", f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}", "--use-service-account-credentials=true",
            f"--cluster-cidr={POD_CIDR}", f"--service-cluster-ip-range={SERVICE_CIDR}", "--profiling=false"],
        "kube-scheduler": [
            kube("kube-scheduler"), *delegated, f"--secure-port={port + PORTS['kube-scheduler']}",
            f"--cert-dir={pki / 'scheduler'}", "--profiling=false"],
        "kwok": [
            str(_binary("kwok", "kwok")), f"--kubeconfig={kubeconfig}", f"--config={root / 'kwok.yaml'}",
            "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40", f"--cidr={KWOK_POD_CIDR}",
            "--node-ip=127.0.0.1", f"--server-address=127.0.0.1:{port + PORTS['kwok']}"],
    }


def _kwok_config(root: Path) -> None:
    stages = toolchain.tool_dir("kwok") / "stages"
    docs = []
    for group in KWOK_STAGES:
        for f in sorted((stages / group).glob("*.yaml")):
            text = f.read_text()
            if "kind: Stage" in text:
                docs.append(text.strip())
    (root / "kwok.yaml").write_text("\n---\n".join(docs) + "\n")
