"""versitygw from its Go module: the S3-compatible server the backup live tests and benchmarks store
backups in (its posix backend: buckets are directories, objects files, metadata in xattrs).

Chosen over SeaweedFS for the CI budget (docs/backup.md, "The S3 server"): a cold SeaweedFS build took
582 s of CPU (3.4 GB of modules) against versitygw's 151 s (336 MB). Built as its Makefile builds it
(CGO off, stripped, the release in main.Version); no replace directive, so `go install module@version`
with the module's own go.sum.
"""
from __future__ import annotations

from e2e.toolchain import Build, recipe

GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -trimpath", "GOTOOLCHAIN": "local"}


@recipe("versitygw")
def versitygw(build: Build) -> None:
    module, version = build.pin["module"], build.pin["version"]
    build.go_download(module, version)
    ldflags = f"-s -w -X main.Version={version}"
    build.run(["go", "install", "-ldflags", ldflags, f"{module}/cmd/versitygw@{version}"], cwd=build.work,
              env=GO_ENV | {"GOBIN": str(build.bin)}, retries=2, what=f"go install {module}/cmd/versitygw@{version}")
    out = build.run([str(build.bin / "versitygw"), "--version"], capture=True)
    if version not in out:
        raise RuntimeError(f"versitygw --version does not name {version}: {out.strip()}")
