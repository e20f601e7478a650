"""Each client's own tests, its ecosystem's way, in the live tier (they start redis-server): `go test
./...` in clients/go and `npm test` in clients/typescript (which builds the ESM and CommonJS packages
first). Offline: the Go modules come from the module cache and node_modules from `npm ci`, both
filled by .ci/run's install step; a build that needs the network fails here."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

pytestmark = pytest.mark.live
CLIENTS = Path(__file__).resolve().parents[2] / "clients"


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    for tool in (cmd[0], "redis-server"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed")
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_go_test() -> None:
    out = run(["go", "test", "-count=1", "./..."], CLIENTS / "go",
              {"GOFLAGS": "-mod=readonly", "GOPROXY": "off", "GOTOOLCHAIN": "local"})
    assert "ok  \tgithub.com/cache-patterns/cache-patterns/clients/go/v2/twotier" in out


def test_npm_test() -> None:
    if not (CLIENTS / "typescript" / "node_modules" / "ioredis").is_dir():
        skip_or_fail("clients/typescript/node_modules is missing: npm ci there (.ci/run does)")
    out = run(["npm", "test", "--offline"], CLIENTS / "typescript", {})
    assert "# fail 0" in out and "# skipped 0" in out
