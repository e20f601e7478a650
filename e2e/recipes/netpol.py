"""kube-router from its Go module: the real node runs only its NetworkPolicy firewall
(`--run-firewall`, iptables and ipset), not its router or service proxy."""
from __future__ import annotations

import shutil

from e2e.toolchain import Build, recipe

GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -trimpath", "GOTOOLCHAIN": "local"}


@recipe("kube-router")
def kube_router(build: Build) -> None:
    module, version = build.pin["module"], build.pin["version"]
    info = build.go_download(module, version)
    src = build.work / "src"
    shutil.copytree(info["Dir"], src)
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    build.run(["go", "mod", "download"], cwd=src, env=GO_ENV, retries=3,
              what=f"download of the Go modules {module}@{version} needs")
    ldflags = ["-s", "-w", f"-X {module}/pkg/version.Version={version}"]
    build.run(["go", "build", "-o", str(build.bin / "kube-router"), "-ldflags", " ".join(ldflags), "./cmd/kube-router"],
              cwd=src, env=GO_ENV, what=f"go build {module}@{version}")
    out = build.run([str(build.bin / "kube-router"), "--version"], capture=True)
    build.log(out.strip().splitlines()[0] if out.strip() else "kube-router built")
