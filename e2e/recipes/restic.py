"""restic from its Go module: the backup program of the StatefulSet pattern's backups (the pods take
it from the restic image; the live tests and benchmarks run this build of the same release).

Built as its release build does (helpers/build-release-binaries: CGO off, stripped); restic's
version is a constant of the module (internal/global.Version), checked with `restic version`.
"""
from __future__ import annotations

from e2e.toolchain import Build, recipe

GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -trimpath", "GOTOOLCHAIN": "local"}


@recipe("restic")
def restic(build: Build) -> None:
    module, version = build.pin["module"], build.pin["version"]
    build.go_download(module, version)
    # No replace directive in restic's go.mod, so `go install module/cmd/restic@version` builds it
    # with the module's own go.sum, checked against the checksum database.
    build.run(["go", "install", "-ldflags", "-s -w", f"{module}/cmd/restic@{version}"], cwd=build.work,
              env=GO_ENV | {"GOBIN": str(build.bin)}, retries=2, what=f"go install {module}/cmd/restic@{version}")
    out = build.run([str(build.bin / "restic"), "version"], capture=True)
    if f"restic {version.lstrip('v')} " not in out:
        raise RuntimeError(f"restic version does not name {version}: {out.strip()}")
