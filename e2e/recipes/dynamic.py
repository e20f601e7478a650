"""The engine's launcher of Python dynamic providers (pin: e2e/pins.toml `pulumi-resource-pulumi-python`).

A `pulumi.dynamic.Resource` (the statefulset pattern's rollout driver) is served by the plugin
`pulumi-resource-pulumi-python`, a small shell script of the Python SDK's distribution that runs
`python -m pulumi.dynamic` in the program's virtualenv. Upstream ships it beside the language host; the
sdk/v3 Go module carries it (`python/dist/`), so it is copied from the module download, checked against
the pin's sum. Nothing is compiled.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from e2e.toolchain import Build, recipe

SCRIPT = "pulumi-resource-pulumi-python"


@recipe(SCRIPT)
def resource_pulumi_python(build: Build) -> None:
    info = build.go_download(build.pin["module"], build.pin["version"])   # checked against the pin's sum
    dst = build.bin / SCRIPT
    shutil.copyfile(Path(info["Dir"]) / "python" / "dist" / SCRIPT, dst)
    dst.chmod(0o755)
