"""redis_exporter from its Go module, built the way its Dockerfile builds the image's `/redis_exporter`:
static (CGO off), stripped, with the release tag as `main.BuildVersion`. The live tests run the
exporter container's command line with this binary in place of the image's."""
from __future__ import annotations

import shutil

from e2e.toolchain import Build, recipe

GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -trimpath", "GOTOOLCHAIN": "local"}


@recipe("redis_exporter")
def redis_exporter(build: Build) -> None:
    module, version = build.pin["module"], build.pin["version"]
    info = build.go_download(module, version)
    # The module cache is read-only; `go build` of a main module needs a writable copy (go.sum updates).
    src = build.work / "src"
    shutil.copytree(info["Dir"], src)
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    commit = (info.get("Origin") or {}).get("Hash", "")[:12]
    ldflags = ["-s", "-w", f"-X main.BuildVersion={version}", f"-X main.BuildCommitSha={commit}"]
    build.run(["go", "mod", "download"], cwd=src, env=GO_ENV, retries=3,
              what=f"download of the Go modules {module}@{version} needs")
    build.run(["go", "build", "-o", str(build.bin / "redis_exporter"), "-ldflags", " ".join(ldflags), "."],
              cwd=src, env=GO_ENV, what=f"go build {module}@{version}")
    out = build.run([str(build.bin / "redis_exporter"), "--version"], capture=True)
    if version not in out:
        raise RuntimeError(f"redis_exporter --version does not name {version}: {out.strip()}")
