"""Certificates for the real node's stacks: the cluster CA the stacks' Certificates name
(ClusterIssuer `internal-ca`, a CA issuer whose key pair is a Secret in cert-manager's cluster
resource namespace), and, where cert-manager is not running, the Secrets cert-manager would write for
a Certificate (tls.crt, tls.key, ca.crt; ECDSA P-256 as the stacks ask).

    objs = certs.issuer_objects(certs.make_ca(tmp))     # Namespace, CA Secret, ClusterIssuer
    secret = certs.secret_for(certificate, ca)          # what cert-manager's issuing controller writes
"""
from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ISSUER = "internal-ca"
NAMESPACE = "cert-manager"
USAGES = {"server auth": "serverAuth", "client auth": "clientAuth"}


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


def secret_for(certificate: dict, ca: CA, work: Path) -> dict:
    """The Secret cert-manager's CA issuer writes for `certificate` (a fresh key and serial each call)."""
    spec, meta = certificate["spec"], certificate["metadata"]
    work.mkdir(parents=True, exist_ok=True)
    name = f"{meta['namespace']}-{meta['name']}"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=work)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", f"{name}.key", "-out", f"{name}.pk8", cwd=work)
    cn = spec.get("commonName") or (spec.get("dnsNames") or [meta["name"]])[0]
    _openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=work)
    ext = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
    usages = [USAGES[u] for u in spec.get("usages", []) if u in USAGES]
    if usages:
        ext.append("extendedKeyUsage=" + ",".join(usages))
    if spec.get("dnsNames"):
        ext.append("subjectAltName=" + ",".join(f"DNS:{d}" for d in spec["dnsNames"]))
    (work / f"{name}.ext").write_text("\n".join(ext) + "\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca.crt), "-CAkey", str(ca.key), "-set_serial",
             str(int.from_bytes(os.urandom(8), "big")), "-days", "10", "-out", f"{name}.crt",
             "-extfile", f"{name}.ext", cwd=work)
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": spec["secretName"], "namespace": meta["namespace"],
                         "annotations": {"cert-manager.io/certificate-name": meta["name"],
                                         "cert-manager.io/issuer-name": spec["issuerRef"]["name"]}},
            "data": {"tls.crt": _b64(work / f"{name}.crt"), "tls.key": _b64(work / f"{name}.pk8"),
                     "ca.crt": _b64(ca.crt)}}
