"""TLS material for the live tests: a CA and leaf certificates made with openssl, and what a served
certificate says."""
from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsMaterial:
    """A server key pair and the CA that signed it (and can sign more: `ca_key`)."""

    ca: Path
    cert: Path
    key: Path
    ca_key: Path | None = None

    def serial(self) -> str:
        return cert_field(self.cert.read_bytes(), "serial")


def make_tls(directory: Path, names: tuple[str, ...] = (), ca: TlsMaterial | None = None,
             label: str = "cache-patterns live test", loopback: bool = True, ecdsa: bool = False,
             ips: tuple[str, ...] = ()) -> TlsMaterial:
    """A server certificate for `names` and `ips` (and 127.0.0.1 and localhost with `loopback`), as
    cert-manager would issue it: signed by `ca`'s CA (a renewal), or by a new CA made here (`label`
    in both subjects); an ECDSA P-256 key with `ecdsa` (what the rendered Certificates ask for)."""
    directory.mkdir(parents=True, exist_ok=True)
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if ecdsa else ["-newkey", "rsa:2048"]
    if ca is None:
        run("req", "-x509", *key, "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", f"/CN={label} CA")
        ca_crt, ca_key = directory / "ca.crt", directory / "ca.key"
    else:
        assert ca.ca_key is not None
        ca_crt, ca_key = ca.ca, ca.ca_key
        shutil.copy(ca_crt, directory / "ca.crt")
    run("req", *key, "-nodes", "-keyout", "tls.key", "-out", "tls.csr", "-subj", f"/CN={label}")
    sans = ",".join((["IP:127.0.0.1", "DNS:localhost"] if loopback else []) + [f"DNS:{n}" for n in names]
                    + [f"IP:{ip}" for ip in ips])
    # What cert-manager puts in (the rendered Certificates ask for server auth and client auth).
    (directory / "ext.cnf").write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth,clientAuth\n")
    run("x509", "-req", "-in", "tls.csr", "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", "tls.crt", "-days", "2", "-extfile", "ext.cnf")
    return TlsMaterial(ca=directory / "ca.crt", cert=directory / "tls.crt", key=directory / "tls.key",
                       ca_key=ca_key)


def cert_field(pem_or_der: bytes, what: str) -> str:
    """`serial` or `issuer` of a certificate (PEM or DER), as openssl prints it."""
    form = "PEM" if pem_or_der.lstrip().startswith(b"-----") else "DER"
    out = subprocess.run(["openssl", "x509", "-inform", form, "-noout", f"-{what}"], input=pem_or_der,
                         capture_output=True, check=True).stdout.decode().strip()
    return out.split("=", 1)[1].strip()


def served_certificate(port: int, timeout: float = 1.0) -> bytes:
    """The DER certificate a TLS server on 127.0.0.1:port presents to a new connection."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw) as conn:
            der = conn.getpeercert(binary_form=True)
    assert der is not None
    return der


def pem_to_der(path: Path) -> bytes:
    import ssl

    return ssl.PEM_cert_to_DER_cert(path.read_text())
