"""A real node from Go modules (and one C file): kubelet and kube-proxy, containerd with its runc shim,
runc, the CNI plugins, and the pause program of the sandbox image (CoreDNS: e2e/recipes/dns.py).
e2e/node.py runs them.

A module of its own, so the control plane's tools (e2e/recipes/kube.py) keep their keys: the kubelet
wrapper below is kube.py's, repeated rather than imported (a shared helper would tie both keys to
either file). Each module is checked against the `sum` of its pin (`Build.go_download`).
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from e2e.toolchain import Build, ToolchainError, recipe

GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -trimpath", "GOTOOLCHAIN": "local"}


def _writable_copy(build: Build, info: dict) -> Path:
    """The module's source as a main module: the module cache is read-only, `go build` writes go.sum."""
    src = build.work / "src"
    shutil.copytree(info["Dir"], src)
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    build.run(["go", "mod", "download"], cwd=src, env=GO_ENV, retries=3,
              what=f"download of the Go modules {build.pin['module']}@{build.pin['version']} needs")
    return src


def _go_build(build: Build, cwd: Path, package: str, name: str, ldflags: list[str], env: dict | None = None,
              tags: list[str] | None = None) -> None:
    start = time.monotonic()
    cmd = ["go", "build", "-o", str(build.bin / name), "-ldflags", " ".join(["-s", "-w", *ldflags])]
    if tags:
        cmd += ["-tags", ",".join(tags)]
    build.run([*cmd, package], cwd=cwd, env={**GO_ENV, **(env or {})}, what=f"go build {package}")
    build.log(f"{name}: {time.monotonic() - start:.0f} s")


def _missing_packages(build: Build) -> None:
    import subprocess
    missing = [p for p in build.pin.get("build_packages", [])
               if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        raise ToolchainError(f"{build.tool}: Debian build dependencies missing: {' '.join(missing)} "
                             f"(apt-get install {' '.join(missing)}; .ci/run installs them)")


@recipe("kubelet")
def kubelet(build: Build) -> None:
    """kubelet and kube-proxy through a wrapper module (k8s.io/kubernetes points its staging modules
    at local folders, so its own commands do not build from the module cache), with the release's
    version ldflags; and `pause` from build/pause/linux/pause.c, compiled static as upstream's
    Makefile does, with its TAG as the version."""
    module, version = build.pin["module"], build.pin["version"]
    m = re.fullmatch(r"v1\.(\d+)\.(\d+)", version)
    if not m:
        raise ToolchainError(f"kubelet version {version!r}: expected a release such as v1.34.4")
    minor, patch = m.groups()
    info = build.go_download(module, version)
    upstream = json.loads(build.run(["go", "mod", "edit", "-json", info["GoMod"]], capture=True))
    staging = sorted(r["Old"]["Path"] for r in upstream.get("Replace") or []
                     if r["New"]["Path"].startswith("./staging/"))
    wrapper = build.work / "kubernetes"
    wrapper.mkdir()
    lines = [f"module cache-patterns.local/kubelet\n\ngo {upstream['Go']}\n"]
    lines += [f"godebug {g['Key']}={g['Value']}" for g in upstream.get("Godebug") or []]
    lines += [f"\nrequire {module} {version}\n", "replace ("]
    lines += [f"\t{p} => {p} v0.{minor}.{patch}" for p in staging]
    lines += [")\n"]
    (wrapper / "go.mod").write_text("\n".join(lines))
    (wrapper / "deps.go").write_text(
        "package deps\n\nimport (\n" + "".join(f"\t_ \"{p}\"\n" for p in (
            "k8s.io/kubernetes/cmd/kubelet/app",
            "k8s.io/kubernetes/cmd/kube-proxy/app",
            "k8s.io/component-base/cli",
            "k8s.io/component-base/logs/json/register",
            "k8s.io/component-base/metrics/prometheus/clientgo",
            "k8s.io/component-base/metrics/prometheus/version",
        )) + ")\n")
    build.run(["go", "mod", "tidy"], cwd=wrapper, env=GO_ENV, retries=3,
              what=f"download of the Go modules {module}@{version} and its staging modules v0.{minor}.{patch} need")
    commit = (info.get("Origin") or {}).get("Hash", "")
    vars_ = {"gitVersion": version, "gitMajor": "1", "gitMinor": minor, "gitCommit": commit,
             "gitTreeState": "clean", "buildDate": info.get("Time", "") or "1970-01-01T00:00:00Z"}
    ldflags = [f"-X {pkg}.{k}={v}" for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
               for k, v in vars_.items() if v]
    for name in build.pin["binaries"]:
        _go_build(build, wrapper, f"k8s.io/kubernetes/cmd/{name}", name, ldflags)
    makefile = (Path(info["Dir"]) / "build" / "pause" / "Makefile").read_text()
    tag = re.search(r"^TAG \?= (\S+)$", makefile, re.M)
    if tag is None:
        raise ToolchainError("kubelet: no `TAG ?=` line in build/pause/Makefile")
    (build.out / "pause-version").write_text(tag.group(1) + "\n")
    build.run(["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{tag.group(1)}", "-o", str(build.bin / "pause"),
               str(Path(info["Dir"]) / "build" / "pause" / "linux" / "pause.c")], what="gcc build/pause/linux/pause.c")
    build.log(f"pause {tag.group(1)}: built")


@recipe("containerd")
def containerd(build: Build) -> None:
    module, version = build.pin["module"], build.pin["version"]
    src = _writable_copy(build, build.go_download(module, version))
    pkg = "github.com/containerd/containerd/v2/version"
    ldflags = [f"-X {pkg}.Version={version}", f"-X {pkg}.Package={module}"]
    for name in build.pin["binaries"]:
        _go_build(build, src, f"./cmd/{name}", name, ldflags, tags=build.pin.get("build_tags"))
    out = build.run([str(build.bin / "containerd"), "--version"], capture=True)
    if version not in out:
        raise ToolchainError(f"containerd --version does not name {version}: {out.strip()}")


@recipe("runc")
def runc(build: Build) -> None:
    _missing_packages(build)
    module, version = build.pin["module"], build.pin["version"]
    info = build.go_download(module, version)
    src = _writable_copy(build, info)
    commit = (info.get("Origin") or {}).get("Hash", "")
    _go_build(build, src, ".", "runc", [f"-X main.gitCommit={commit}"] if commit else [], env={"CGO_ENABLED": "1"},
              tags=build.pin["build_tags"])
    out = build.run([str(build.bin / "runc"), "--version"], capture=True)
    if "seccomp" not in out.lower() or version.lstrip("v") not in out:
        raise ToolchainError(f"runc --version names no {version} with seccomp: {out.strip()}")


@recipe("cni-plugins")
def cni_plugins(build: Build) -> None:
    module, version = build.pin["module"], build.pin["version"]
    src = _writable_copy(build, build.go_download(module, version))
    ldflags = [f"-X {module}/pkg/utils/buildversion.BuildVersion={version}"]
    for name in build.pin["binaries"]:
        (found,) = [p for p in (src / "plugins").glob(f"*/{name}") if p.is_dir()]
        _go_build(build, src, "./" + str(found.relative_to(src)), name, ldflags)
