"""A real S3-compatible server for the backup live tests and benchmarks: versitygw with its posix
backend (buckets are directories, objects files), built from its Go module by the toolchain
(e2e/recipes/s3.py), on 127.0.0.1 with a port and a data dir of its own.

Access keys: the gateway's root account, and accounts of its internal IAM (users.json in the IAM dir,
read on every request with the IAM cache off), so a test can give the backup job a key of its own
and then revoke it, as a provider does when a key is rotated away or expires."""
from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import engines
from .backups import S3
from .s3client import list_objects, request
from .support import free_ports

ROOT_KEY, ROOT_SECRET = "cprootkey", "cprootsecret0x1f2e3d4c5b6a"


def versitygw() -> str | None:
    d = engines.toolchain_bin("versitygw")
    return str(d / "versitygw") if d is not None and (d / "versitygw").exists() else None


def require_s3() -> None:
    from tests.conftest import skip_or_fail

    if versitygw() is None:
        skip_or_fail("versitygw is not built (./run toolchain versitygw)")


def version() -> str:
    binary = versitygw()
    if binary is None:
        return "versitygw (not built)"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    return "versitygw " + next((line.split(":", 1)[1].strip() for line in out.splitlines()
                                if line.startswith("Version")), "?")


class S3Server:
    """One versitygw process. `credentials(bucket)` creates the bucket and gives an access key for it."""

    # Where it listens (a subclass runs it elsewhere: tests/node/s3.py, in the node's network namespace).
    host = "127.0.0.1"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "s3-data"
        self.iam = root / "s3-iam"
        for d in (self.data, self.iam):
            d.mkdir(parents=True)
        (self.iam / "users.json").write_text(json.dumps({"accessAccounts": {}}))
        self.port, self.admin_port = free_ports(2)
        self.endpoint = f"http://{self.host}:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = versitygw()
        assert binary is not None
        args = [binary, "--access", ROOT_KEY, "--secret", ROOT_SECRET, "--port", f"{self.host}:{self.port}",
                "--region", "us-east-1", "--iam-dir", str(self.iam), "--iam-cache-disable", "--quiet",
                "posix", str(self.data)]
        self.log = open(self.root / "versitygw.log", "ab")
        self.proc = subprocess.Popen(self.command(args), cwd=self.root, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"versitygw exited:\n{self.tail()}"
            if self.call(self._answers):
                return
            time.sleep(0.2)
        raise AssertionError(f"versitygw did not answer within 60 s:\n{self.tail()}")

    def command(self, args: list[str]) -> list[str]:
        """How the gateway is started (here: as it is)."""
        return args

    def call(self, fn, *args):
        """`fn(*args)` where the gateway is reachable (here: this process's own network)."""
        return fn(*args)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True         # the gateway answers (403 without credentials)
        except OSError:
            return False

    def tail(self, n: int = 40) -> str:
        path = self.root / "versitygw.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def create_bucket(self, bucket: str) -> None:
        status, body = self.call(request, "PUT", self.endpoint, f"/{bucket}", ROOT_KEY, ROOT_SECRET)
        assert status == 200 or b"BucketAlreadyOwnedByYou" in body, (status, body[:300])

    def bucket_exists(self, bucket: str) -> bool:
        status, _ = self.call(request, "HEAD", self.endpoint, f"/{bucket}", ROOT_KEY, ROOT_SECRET)
        return status == 200

    def _accounts(self) -> dict:
        return json.loads((self.iam / "users.json").read_text())

    def credentials(self, bucket: str, own_key: bool = False) -> S3:
        """An existing bucket and an access key for it: the root account's, or (`own_key`) an admin
        account of its own in the gateway's IAM, which `revoke` removes."""
        self.create_bucket(bucket)
        if not own_key:
            return S3(self.endpoint, ROOT_KEY, ROOT_SECRET, bucket)
        key, secret = f"cpkey{secrets.token_hex(6)}", secrets.token_hex(16)
        conf = self._accounts()
        conf["accessAccounts"][key] = {"access": key, "secret": secret, "role": "admin"}
        (self.iam / "users.json").write_text(json.dumps(conf))
        return S3(self.endpoint, key, secret, bucket)

    def revoke(self, access_key: str) -> None:
        conf = self._accounts()
        del conf["accessAccounts"][access_key]
        (self.iam / "users.json").write_text(json.dumps(conf))

    def objects(self, bucket: str, prefix: str = "") -> list[str]:
        return self.call(list_objects, self.endpoint, bucket, prefix, ROOT_KEY, ROOT_SECRET)

    def get(self, bucket: str, key: str) -> bytes:
        status, body = self.call(request, "GET", self.endpoint, f"/{bucket}/{key}", ROOT_KEY, ROOT_SECRET)
        assert status == 200, (status, body[:300])
        return body

    def put(self, bucket: str, key: str, data: bytes) -> None:
        status, body = self.call(request, "PUT", self.endpoint, f"/{bucket}/{key}", ROOT_KEY, ROOT_SECRET, data)
        assert status == 200, (status, body[:300])
