"""A Kubernetes control plane from Go modules: etcd, the kube-* servers and kubectl, kwok.

Every module comes from the Go module proxy at the version pinned in e2e/pins.toml. Two of them
(etcd's server, k8s.io/kubernetes) carry `replace` directives pointing into their own repository,
which `go install module@version` refuses; each is built from a small wrapper module that requires
the published modules instead (for Kubernetes: every staging module `k8s.io/<name> v0.0.0 =>
./staging/...` re-pointed at the published `k8s.io/<name> v0.<minor>.<patch>`, the way Kubernetes
documents for using it as a library).
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from e2e.toolchain import Build, recipe

# Static binaries, no debug info (as Kubernetes' release builds), no paths of this machine inside.
GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -trimpath", "GOTOOLCHAIN": "local"}


def _go_mod(build: Build, gomod: str) -> dict:
    return json.loads(build.run(["go", "mod", "edit", "-json", gomod], capture=True))


def _tidy(build: Build, module_dir: Path, what: str) -> None:
    build.run(["go", "mod", "tidy"], cwd=module_dir, env=GO_ENV, retries=3,
              what=f"download of the Go modules {what} needs (go mod tidy)")


def _go_build(build: Build, module_dir: Path, package: str, name: str, ldflags: list[str]) -> None:
    start = time.monotonic()
    build.run(["go", "build", "-o", str(build.bin / name), "-ldflags", " ".join(["-s", "-w", *ldflags]),
               package], cwd=module_dir, env=GO_ENV, what=f"go build {package}")
    build.log(f"{name}: {time.monotonic() - start:.0f} s")


@recipe("etcd")
def etcd(build: Build) -> None:
    """etcd's own main (module go.etcd.io/etcd/v3) is one line: etcdmain.Main(os.Args)."""
    module, version = build.pin["module"], build.pin["version"]
    info = build.go_download(module, version)
    wrapper = build.work / "etcd"
    wrapper.mkdir()
    go_line = _go_mod(build, info["GoMod"])["Go"]
    (wrapper / "go.mod").write_text(f"module cache-patterns.local/etcd\n\ngo {go_line}\n\n"
                                    f"require {module} {version}\n")
    (wrapper / "main.go").write_text(
        "package main\n\nimport (\n\t\"os\"\n\n\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\n"
        "func main() { etcdmain.Main(os.Args) }\n")
    _tidy(build, wrapper, f"{module}@{version}")
    commit = (info.get("Origin") or {}).get("Hash", "")[:9]
    _go_build(build, wrapper, ".", "etcd",
              [f"-X go.etcd.io/etcd/api/v3/version.GitSHA={commit}"] if commit else [])


@recipe("kubernetes")
def kubernetes(build: Build) -> None:
    """kube-apiserver, kube-controller-manager, kube-scheduler and kubectl of one release.

    The version ldflags are what `kubectl version` and every client read as the server's version:
    left at v0.0.0, clients (the Pulumi Kubernetes provider among them) misjudge the server.
    """
    module, version = build.pin["module"], build.pin["version"]
    m = re.fullmatch(r"v1\.(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"kubernetes version {version!r}: expected a release such as v1.34.4")
    minor, patch = m.groups()
    info = build.go_download(module, version)
    upstream = _go_mod(build, info["GoMod"])
    staging = sorted(r["Old"]["Path"] for r in upstream.get("Replace") or []
                     if r["New"]["Path"].startswith("./staging/"))
    wrapper = build.work / "kubernetes"
    wrapper.mkdir()
    lines = [f"module cache-patterns.local/kubernetes\n\ngo {upstream['Go']}\n"]
    # The release's GODEBUG defaults (e.g. `godebug default=go1.24`) apply only in the main module.
    lines += [f"godebug {g['Key']}={g['Value']}" for g in upstream.get("Godebug") or []]
    lines += [f"\nrequire {module} {version}\n", "replace ("]
    lines += [f"\t{p} => {p} v0.{minor}.{patch}" for p in staging]
    lines += [")\n"]
    (wrapper / "go.mod").write_text("\n".join(lines))
    # A file that imports each command's library makes `go mod tidy` record every module the
    # builds need; the binaries themselves are Kubernetes' own main packages, built by import path.
    (wrapper / "deps.go").write_text(
        "package deps\n\nimport (\n" + "".join(f"\t_ \"{p}\"\n" for p in (
            "k8s.io/kubernetes/cmd/kube-apiserver/app",
            "k8s.io/kubernetes/cmd/kube-controller-manager/app",
            "k8s.io/kubernetes/cmd/kube-scheduler/app",
            "k8s.io/kubectl/pkg/cmd",
            "k8s.io/component-base/cli",
            "k8s.io/component-base/logs/json/register",
            "k8s.io/component-base/metrics/prometheus/clientgo",
            "k8s.io/component-base/metrics/prometheus/version",
        )) + ")\n")
    _tidy(build, wrapper, f"{module}@{version} and its staging modules v0.{minor}.{patch}")
    commit = (info.get("Origin") or {}).get("Hash", "")
    vars_ = {"gitVersion": version, "gitMajor": "1", "gitMinor": minor, "gitCommit": commit,
             "gitTreeState": "clean", "buildDate": info.get("Time", "") or "1970-01-01T00:00:00Z"}
    ldflags = [f"-X {pkg}.{k}={v}" for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
               for k, v in vars_.items() if v]
    for name in build.pin["binaries"]:
        _go_build(build, wrapper, f"k8s.io/kubernetes/cmd/{name}", name, ldflags)


@recipe("kwok")
def kwok(build: Build) -> None:
    """kwok fakes nodes and pod status; its stage configs (what a fake pod goes through) ship in
    the module's kustomize/stage folder and are copied beside the binary (kwok exits without them)."""
    module, version = build.pin["module"], build.pin["version"]
    info = build.go_download(module, version)
    start = time.monotonic()
    build.run(["go", "install", "-ldflags", f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={version}",
               f"{module}/cmd/kwok@{version}"], cwd=build.work, env={**GO_ENV, "GOBIN": str(build.bin)},
              retries=3, what=f"go install {module}/cmd/kwok@{version}")
    build.log(f"kwok: {time.monotonic() - start:.0f} s")
    stages = Path(info["Dir"]) / "kustomize" / "stage"
    shutil.copytree(stages, build.out / "stages")
    for f in (build.out / "stages").rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)   # the module cache is read-only
