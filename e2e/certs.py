"""The cluster CA the stacks' Certificates name, for the real node's cert-manager to issue from:
ClusterIssuer `internal-ca`, a CA issuer whose key pair (ECDSA P-256) is a Secret in cert-manager's
cluster resource namespace.

    objs = certs.issuer_objects(certs.make_ca(tmp))     # Namespace, CA Secret, ClusterIssuer
"""
from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

ISSUER = "internal-ca"
NAMESPACE = "cert-manager"


@dataclass(frozen=True)
class CA:
    dir: Path

    @property
    def crt(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def key(self) -> Path:
        return self.dir / "ca.key"


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {proc.stderr.strip()}")


def make_ca(folder: Path, name: str = "cache-patterns node test CA") -> CA:
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=folder)
    _openssl("req", "-x509", "-new", "-key", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=folder)
    return CA(folder)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def issuer_objects(ca: CA) -> list[dict]:
    """The namespace, the CA's key pair and the ClusterIssuer the stacks' Certificates name."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
         "metadata": {"name": ISSUER, "namespace": NAMESPACE},
         "data": {"tls.crt": _b64(ca.crt), "tls.key": _b64(ca.key)}},
        {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": ISSUER},
         "spec": {"ca": {"secretName": ISSUER}}},
    ]
