"""cert-manager's controller from its published Go module, through e2e/certmanager/main.go (the
controller binary's own module is not served by the Go proxy)."""
from __future__ import annotations

import json
import shutil

from e2e.toolchain import HERE, Build, recipe

GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -trimpath", "GOTOOLCHAIN": "local"}


@recipe("cert-manager", sources=("e2e/certmanager",))
def cert_manager(build: Build) -> None:
    module, version = build.pin["module"], build.pin["version"]
    info = build.go_download(module, version)
    upstream = json.loads(build.run(["go", "mod", "edit", "-json", info["GoMod"]], capture=True))
    wrapper = build.work / "cert-manager"
    wrapper.mkdir()
    shutil.copy(HERE / "certmanager" / "main.go", wrapper / "main.go")
    (wrapper / "go.mod").write_text(f"module cache-patterns.local/cert-manager\n\ngo {upstream['Go']}\n\n"
                                    f"require {module} {version}\n")
    build.run(["go", "mod", "tidy"], cwd=wrapper, env=GO_ENV, retries=3,
              what=f"download of the Go modules {module}@{version} needs")
    ldflags = ["-s", "-w", f"-X {module}/pkg/util.AppVersion={version}"]
    build.run(["go", "build", "-o", str(build.bin / "cert-manager-controller"), "-ldflags", " ".join(ldflags), "."],
              cwd=wrapper, env=GO_ENV, what=f"go build of cert-manager's controllers ({module}@{version})")
