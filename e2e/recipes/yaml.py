"""The Pulumi YAML language host from its Go module (pin: e2e/pins.toml `pulumi-language-yaml`).

Built as its Makefile builds it: `go build ./cmd/pulumi-language-yaml` in the module, with the
version in `pkg/version.Version` (the engine reads it through GetPluginInfo). The module is built
with its own go.mod and go.sum (pulumi pkg/sdk v3.206.0): every dependency is checked against them
(the go command's default -mod=readonly).
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from e2e.toolchain import Build, recipe

GO_ENV = {"GOTOOLCHAIN": "local"}


@recipe("pulumi-language-yaml")
def language_yaml(build: Build) -> None:
    module, version = build.pin["module"], build.pin["version"]
    info = build.go_download(module, version)   # checked against the pin's sum
    src = build.work / "src"
    shutil.copytree(info["Dir"], src)
    for root, dirs, files in os.walk(src):
        for name in dirs + files:
            p = Path(root) / name
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    build.run(["go", "mod", "download"], cwd=src, env=GO_ENV, retries=3,
              what=f"download of the Go modules {module}@{version} needs")
    build.log(f"building cmd/pulumi-language-yaml {version}")
    build.run(["go", "build", "-o", str(build.bin / "pulumi-language-yaml"),
               "-ldflags", f"-s -w -X {module}/pkg/version.Version={version.lstrip('v')}", "./cmd/pulumi-language-yaml"],
              cwd=src, env=GO_ENV, what=f"go build {module}@{version} ./cmd/pulumi-language-yaml")
