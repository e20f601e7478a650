"""The toolchain's pins are checked with what the Go module proxy always gives (issue: a new machine's
proxy answer had no Origin, and the build stopped): the module's h1: sum and the commit a
pseudo-version carries. `verify` downloads every pinned module into an empty module cache (.ci/run
runs it before the build); here it runs against a stand-in `go` that records what it was asked."""
from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

import pytest

from e2e import toolchain
from e2e.toolchain import ToolchainError, pseudo_version_commit, verify_module

ROOT = Path(__file__).resolve().parent.parent
PSEUDO = "v4.0.0-20260115033456-f47bc2d6f199"
PIN = {"module": "github.com/pulumi/pulumi-kubernetes/provider/v4", "version": PSEUDO,
       "sum": "h1:j2bphCf7c2YhnBrhwht2f3TNRRgcMImltUlAgzxr9H4=", "commit": "f47bc2d6f199"}
# What `go mod download -json` printed on the machine whose proxy gave no Origin.
NO_ORIGIN = {"Path": PIN["module"], "Version": PSEUDO, "Sum": PIN["sum"], "Dir": "/x"}


@pytest.mark.parametrize("version,commit", [
    (PSEUDO, "f47bc2d6f199"),
    ("v0.0.0-20191202100458-e7afc7fbc510", "e7afc7fbc510"),
    ("v1.2.4-0.20191202100458-e7afc7fbc510", "e7afc7fbc510"),
    ("v2.0.1-pre.0.20191202100458-e7afc7fbc510+incompatible", "e7afc7fbc510"),
    ("v4.25.0", None), ("v1.34.4", None), ("v3.5.1+incompatible", None),
])
def test_the_commit_a_pseudo_version_carries(version, commit):
    assert pseudo_version_commit(version) == commit


def test_a_download_without_the_proxys_origin_is_accepted_when_sum_and_commit_match():
    verify_module("pulumi-resource-kubernetes", PIN, NO_ORIGIN)
    verify_module("pulumi-resource-kubernetes", PIN, {**NO_ORIGIN, "Origin": {"VCS": "git"}})
    full = "f47bc2d6f1996444d11c12b4ef083b82585f7c07"
    verify_module("pulumi-resource-kubernetes", PIN, {**NO_ORIGIN, "Origin": {"Hash": full}})


def test_a_wrong_sum_is_refused_naming_both():
    with pytest.raises(ToolchainError) as err:
        verify_module("pulumi-resource-kubernetes", PIN, {**NO_ORIGIN, "Sum": "h1:AAAA="})
    assert "has sum h1:AAAA=" in str(err.value) and PIN["sum"] in str(err.value)


def test_a_wrong_commit_prefix_is_refused():
    with pytest.raises(ToolchainError, match="names commit f47bc2d6f199, the pin says 0123456789ab"):
        verify_module("t", {**PIN, "commit": "0123456789ab"}, NO_ORIGIN)


def test_an_origin_naming_another_commit_is_refused():
    with pytest.raises(ToolchainError, match="is commit deadbeef"):
        verify_module("t", PIN, {**NO_ORIGIN, "Origin": {"Hash": "deadbeef" * 5}})


def test_a_commit_pin_on_a_release_version_is_refused():
    with pytest.raises(ToolchainError, match="not a pseudo-version"):
        verify_module("t", {**PIN, "version": "v4.25.0"}, {**NO_ORIGIN, "Version": "v4.25.0"})


def test_every_go_module_pin_names_its_sum_and_a_pseudo_version_its_commit():
    tools = tomllib.loads((ROOT / "e2e" / "pins.toml").read_text())["tools"]
    modules = {name: pin for name, pin in tools.items() if "module" in pin}
    assert {"etcd", "kubernetes", "kwok", "pulumi", "pulumi-resource-kubernetes"} <= set(modules)
    for name, pin in modules.items():
        assert pin.get("sum", "").startswith("h1:") and pin["sum"].endswith("="), name
        carried = pseudo_version_commit(pin["version"])
        if carried:
            assert pin.get("commit") == carried, f"{name}: a pseudo-version pin names the commit it carries"


FAKE_GO = """#!/usr/bin/env python3
import json, os, sys
from pathlib import Path
log = Path(os.environ["FAKE_GO_LOG"])
cache = os.environ["GOMODCACHE"]
module, version = sys.argv[-1].split("@")
log.write_text(log.read_text() + json.dumps({"cache": cache, "empty": not any(Path(cache).glob("*/*")),
                                              "flags": os.environ.get("GOFLAGS", "")}) + "\\n")
d = Path(cache) / (module + "@" + version)
d.mkdir(parents=True)
sums = json.loads(os.environ["FAKE_GO_SUMS"])
print(json.dumps({"Path": module, "Version": version, "Dir": str(d), "Sum": sums[module]}))
"""


@pytest.fixture
def fake_go(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text(FAKE_GO)
    go.chmod(go.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "calls.jsonl"
    log.write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GO_LOG", str(log))
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "the-machines-module-cache"))
    return log


def test_verify_downloads_each_pinned_module_into_an_empty_module_cache(fake_go, monkeypatch):
    pins = toolchain.pins()
    sums = {p["module"]: p["sum"] for p in pins.values() if "module" in p}
    monkeypatch.setenv("FAKE_GO_SUMS", json.dumps(sums))
    done = toolchain.verify(sorted(pins))
    calls = [json.loads(line) for line in fake_go.read_text().splitlines()]
    assert len(done) == len(calls) == len(sums)
    assert len({c["cache"] for c in calls}) == 1 and "the-machines-module-cache" not in calls[0]["cache"]
    assert calls[0]["empty"] and "-modcacherw" in calls[0]["flags"]
    assert not Path(calls[0]["cache"]).exists(), "the temporary module cache is removed"


def test_verify_fails_naming_the_tool_whose_module_does_not_match(fake_go, monkeypatch):
    pins = toolchain.pins()
    sums = {p["module"]: p["sum"] for p in pins.values() if "module" in p}
    sums[pins["kwok"]["module"]] = "h1:tampered="
    monkeypatch.setenv("FAKE_GO_SUMS", json.dumps(sums))
    with pytest.raises(ToolchainError, match=r"kwok: sigs.k8s.io/kwok@v0.8.0 has sum h1:tampered="):
        toolchain.verify(["kwok"])


def test_tools_build_side_by_side_and_the_longest_start_first(tmp_path, monkeypatch):
    """Two builds run at once: each recipe waits until the other has started (a serial loop would
    time out in the barrier), and the pool starts the longest-known builds before the others."""
    import threading
    started: list[str] = []
    barrier = threading.Barrier(2, timeout=10)

    def waits_for_the_other(build):
        started.append(build.tool)
        barrier.wait()

    tools = ["runc", "kubernetes", "kubelet", "pulumi-resource-kubernetes"]   # an even number: pairs
    monkeypatch.setenv("CACHE_PATTERNS_CACHE", str(tmp_path))
    monkeypatch.setattr(toolchain, "RECIPES", {t: waits_for_the_other for t in tools})
    monkeypatch.setattr(toolchain, "pins", lambda: {t: {"version": "1"} for t in tools})
    monkeypatch.setattr(toolchain, "key", lambda t: "k")
    assert toolchain.build_all(tools, 2) == {}
    assert set(started[:2]) == {"pulumi-resource-kubernetes", "kubernetes"}
    assert all(toolchain.is_built(t) for t in tools)


def test_a_failed_build_is_reported_and_no_new_build_starts_after_it(tmp_path, monkeypatch):
    started: list[str] = []

    def fails(build):
        started.append(build.tool)
        raise toolchain.ToolchainError(f"{build.tool}: go build failed (exit 1)")

    def works(build):
        started.append(build.tool)

    recipes = {"pulumi-resource-kubernetes": fails, "runc": works, "etcd": works}
    monkeypatch.setenv("CACHE_PATTERNS_CACHE", str(tmp_path))
    monkeypatch.setattr(toolchain, "RECIPES", recipes)
    monkeypatch.setattr(toolchain, "pins", lambda: {t: {"version": "1"} for t in recipes})
    monkeypatch.setattr(toolchain, "key", lambda t: "k")
    failed = toolchain.build_all(sorted(recipes), 1)
    assert list(failed) == ["pulumi-resource-kubernetes"] and "go build failed" in str(failed["pulumi-resource-kubernetes"])
    assert started == ["pulumi-resource-kubernetes"]
    assert not toolchain.is_built("pulumi-resource-kubernetes")


def test_the_number_of_parallel_builds_is_a_whole_number(monkeypatch):
    monkeypatch.setenv("CACHE_PATTERNS_TOOLCHAIN_JOBS", "0")
    with pytest.raises(SystemExit, match="at least 1"):
        toolchain.jobs()
    monkeypatch.setenv("CACHE_PATTERNS_TOOLCHAIN_JOBS", "3")
    assert toolchain.jobs() == 3
