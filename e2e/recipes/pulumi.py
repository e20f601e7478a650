"""The Pulumi engine and the providers the program uses, from Go modules (pins: e2e/pins.toml).

    pulumi                       the CLI and engine, main package cmd/pulumi of pkg/v3
    pulumi-language-python       our Python language host (e2e/plugins) + sdk/v3's exec shim
    pulumi-resource-kubernetes   pulumi-kubernetes' provider, its embedded schema generated
    pulumi-resource-random       a RandomPassword stand-in (e2e/plugins)

Every binary gets its version by -ldflags -X: the engine, the providers and the API server read it
(an empty version makes the engine and the Kubernetes provider misbehave in ways that look like bugs
of the program).
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from e2e.toolchain import Build, ToolchainError, recipe

SDK = "github.com/pulumi/pulumi/sdk/v3"
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def _writable_copy(src: str, dst: Path) -> Path:
    """A module from the module cache (read-only) copied where its go.mod can be edited."""
    shutil.copytree(src, dst)
    for root, dirs, files in os.walk(dst):
        for name in dirs + files:
            p = Path(root) / name
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dst


def _go(build: Build, args: list[str], cwd: Path, what: str, env: dict | None = None) -> str:
    # -mod=mod: a copied module whose replace directives were dropped has no go.sum lines for the
    # modules those replaces stood for; the go command adds them (checked against the checksum DB).
    return build.run(["go", *args], cwd=cwd, env={"GOFLAGS": "-mod=mod", **(env or {})},
                     what=what, retries=0, capture=True)


def _download_deps(build: Build, cwd: Path, what: str) -> None:
    build.run(["go", "mod", "download"], cwd=cwd, env={"GOFLAGS": "-mod=mod"}, retries=3,
              what=f"download of the dependencies of {what}")


@recipe("pulumi")
def pulumi_cli(build: Build) -> None:
    pin = build.pin
    mod = build.go_download(pin["module"], pin["version"])
    src = _writable_copy(mod["Dir"], build.work / "pkg")
    # pkg/go.mod replaces the sdk by the repository's ../sdk, which a module download does not have:
    # drop the replace, so the sdk module of the same release comes from the proxy.
    _go(build, ["mod", "edit", "-dropreplace", SDK], src, "go mod edit")
    required = _go(build, ["list", "-m", "-f", "{{.Version}}", SDK], src, f"go list -m {SDK}").strip().splitlines()[-1]
    if required != pin["sdk"]:
        raise ToolchainError(f"pulumi: {pin['module']}@{pin['version']} requires {SDK} {required}, "
                             f"the pin says {pin['sdk']}")
    _download_deps(build, src, f"{pin['module']}@{pin['version']}")
    build.log(f"building cmd/pulumi {pin['version']}")
    _go(build, ["build", "-o", str(build.bin / "pulumi"),
                "-ldflags", f"-X {SDK}/go/common/version.Version={pin['version']}", "./cmd/pulumi"],
        src, f"go build of {pin['module']}@{pin['version']} ./cmd/pulumi")


def _plugins_module_sdk(build: Build) -> None:
    """e2e/plugins/go.mod must build against the sdk the pin names (one version of the engine's RPC)."""
    required = _go(build, ["list", "-m", "-f", "{{.Version}}", SDK], PLUGINS, f"go list -m {SDK}").strip().splitlines()[-1]
    if required != build.pin["sdk"]:
        raise ToolchainError(f"{build.tool}: e2e/plugins/go.mod requires {SDK} {required}, "
                             f"the pin says {build.pin['sdk']}")


def _build_plugin(build: Build, name: str) -> None:
    _plugins_module_sdk(build)
    build.run(["go", "mod", "download"], cwd=PLUGINS, retries=3, what="download of e2e/plugins' dependencies")
    build.log(f"building e2e/plugins/cmd/{name} {build.pin['version']}")
    build.run(["go", "build", "-o", str(build.bin / name), "-ldflags", f"-X main.version={build.pin['version']}",
               f"./cmd/{name}"], cwd=PLUGINS, env={"GOFLAGS": "-mod=readonly"},
              what=f"go build of e2e/plugins/cmd/{name}")


@recipe("pulumi-language-python", sources=["e2e/plugins"])
def language_python(build: Build) -> None:
    _build_plugin(build, "pulumi-language-python")
    # The exec shim is the Python SDK's entry point, shipped in the sdk module; the host runs the
    # copy next to itself.
    sdk = build.go_download(SDK, build.pin["sdk"])
    shim = build.bin / "pulumi-language-python-exec"
    shutil.copyfile(Path(sdk["Dir"]) / "python" / "cmd" / "pulumi-language-python-exec", shim)
    shim.chmod(0o755)


@recipe("pulumi-resource-random", sources=["e2e/plugins"])
def resource_random(build: Build) -> None:
    _build_plugin(build, "pulumi-resource-random")


@recipe("pulumi-resource-kubernetes")
def resource_kubernetes(build: Build) -> None:
    pin = build.pin
    mod = build.go_download(pin["module"], pin["version"])   # checked against the pin's sum and commit
    src = _writable_copy(mod["Dir"], build.work / "provider")
    # provider/go.mod replaces sdk/v4 by ../sdk (absent from the module download); the sdk/v4 version
    # it requires is served, so dropping the replace is enough.
    _go(build, ["mod", "edit", "-dropreplace", "github.com/pulumi/pulumi-kubernetes/sdk/v4"], src, "go mod edit")
    _download_deps(build, src, f"{pin['module']}@{pin['version']}")
    # main.go embeds schema-embed.json and terraform-mapping-embed.json, which generate.go writes
    # from the committed schema.json (stamped with the version) and terraform-mapping.json.
    cmd = src / "cmd" / "pulumi-resource-kubernetes"
    build.log("generating the embedded schema")
    _go(build, ["run", "./generate.go"], cmd, "go run ./generate.go", env={"VERSION": pin["release"]})
    for embedded in ("schema-embed.json", "terraform-mapping-embed.json"):
        if not (cmd / embedded).is_file():
            raise ToolchainError(f"pulumi-resource-kubernetes: generate.go wrote no {embedded}")
    build.log(f"building cmd/pulumi-resource-kubernetes {pin['release']}")
    _go(build, ["build", "-o", str(build.bin / "pulumi-resource-kubernetes"),
                "-ldflags", f"-X {pin['module']}/pkg/version.Version={pin['release']}",
                "./cmd/pulumi-resource-kubernetes"],
        src, f"go build of {pin['module']}@{pin['version']}")
