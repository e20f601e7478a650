"""`cache_patterns` is an installable, versioned package: its wheel holds every module and the pod
scripts, declares its dependencies, and works from an install outside this repository; every name of
its public API is documented."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import cache_patterns

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    from hatchling import build as buildapi

    out = tmp_path_factory.mktemp("dist")
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        name = buildapi.build_wheel(str(out))
    finally:
        os.chdir(cwd)
    return out / name


def test_the_wheel_holds_every_module_and_script_and_declares_its_dependencies(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {str(p.relative_to(ROOT / "components")) for p in (ROOT / "components" / "cache_patterns").rglob("*")
               if p.is_file() and p.suffix in (".py", ".sh") and "__pycache__" not in p.parts}
    assert sources <= names, sources - names
    assert not any(n.startswith(("tests/", "tools/", "stacks/")) for n in names)
    meta = zipfile.ZipFile(wheel).read(f"cache_patterns-{cache_patterns.__version__}.dist-info/METADATA").decode()
    assert f"Version: {cache_patterns.__version__}" in meta
    for dep in ("pulumi", "pulumi-kubernetes", "pulumi-random", "pydantic"):
        assert f"Requires-Dist: {dep}" in meta


def test_the_installed_package_works_outside_the_repository(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                    str(target), str(wheel)], check=True)
    probe = (
        "import cache_patterns, pathlib\n"
        "from cache_patterns.patterns.statefulset import ha\n"
        "assert pathlib.Path(cache_patterns.__file__).is_relative_to(pathlib.Path(r'%s')), cache_patterns.__file__\n"
        "assert 'redis' in ha.script('redis-start.sh')\n"
        "s = cache_patterns.parse_settings({'pattern': 'sidecar', 'memory': '64Mi'})\n"
        "print(cache_patterns.__version__, type(s).__name__, len(cache_patterns.__all__))\n" % target)
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == [cache_patterns.__version__, "SidecarSettings"]


def test_every_public_name_exists_and_is_documented():
    page = (ROOT / "docs" / "package.md").read_text()
    for name in cache_patterns.__all__:
        assert hasattr(cache_patterns, name), name
        assert f"`{name}`" in page or f"`{name}(" in page, f"{name} is public but docs/package.md does not describe it"


PROBE = """
import json, sys
from importlib.metadata import version
import cache_patterns
from tools import harness

run = harness.run("dev", {"statefulset-app:environment": "staging"}, program=harness.ROOT / "examples" / "statefulset-app",
                  project="statefulset-app")
print(json.dumps({
    "package": cache_patterns.__file__,
    "versions": {d: version(d) for d in ("pulumi", "pulumi-kubernetes", "pulumi-random", "pulumi-aws", "pydantic")},
    "objects": sorted({(r.manifest["kind"], r.manifest["metadata"].get("namespace") or "") for r in run.k8s_objects}),
}))
"""


def _constraint(name: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        pkg, _, version = line.partition("==")
        if pkg.replace("_", "-").lower() == name:
            return version
    raise AssertionError(f"{name} is not in constraints.txt")


def wheelhouse() -> Path:
    """The package's dependencies (and its build backend) as pip resolves them from pyproject.toml
    against constraints.txt, downloaded once per machine into a folder keyed by both (pip's own cache
    does not hold them on every machine): the install below resolves again, offline, from these files."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    keyed = json.dumps([project["project"]["dependencies"], project["build-system"]["requires"]])
    digest = hashlib.sha256((keyed + (ROOT / "constraints.txt").read_text()).encode()).hexdigest()[:12]
    base = Path(os.environ.get("CACHE_PATTERNS_CACHE") or Path.home() / ".cache" / "cache-patterns")
    house = base / f"wheelhouse-{digest}"
    if not house.is_dir():
        staging = base / f".wheelhouse-{digest}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        for what in ([str(ROOT)], project["build-system"]["requires"]):
            out = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                                  "--dest", str(staging), *what, "-c", str(ROOT / "constraints.txt")],
                                 capture_output=True, text=True)
            assert out.returncode == 0, f"pip cannot resolve {what} against constraints.txt:\n{out.stderr}"
        for own in staging.glob("cache_patterns-*"):
            own.unlink()
        try:
            staging.rename(house)
        except OSError:   # another run made it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    return house


def test_the_package_installs_with_its_dependencies_against_the_constraints_and_runs_the_example(tmp_path):
    """What a user does (README): a fresh virtualenv, `pip install <a clone>` with the dependencies
    resolved by pip (not --no-deps) against this repository's constraints, and a program of their own (the example) under
    Pulumi's mocks. The ranges of pyproject.toml must contain the pins: pulumi-kubernetes>=4.34 made
    this install unresolvable. About a minute once the wheelhouse is downloaded."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", "--no-index",
           "--find-links", str(wheelhouse()), "-c", str(ROOT / "constraints.txt")]
    # The README's install line (`pip install <a clone>`), offline: the build backend from the wheelhouse.
    for args in (tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"],
                 ["--no-build-isolation", str(ROOT)]):
        install = subprocess.run(pip + args, capture_output=True, text=True)
        assert install.returncode == 0, install.stdout + install.stderr
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # The repository root gives the probe the mock harness (tools/); the components come from the install.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(ROOT)}
    out = subprocess.run([python, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(result["package"]).is_relative_to(venv), result["package"]
    assert result["versions"] == {d: _constraint(d) for d in result["versions"]}
    assert ["StatefulSet", "cache"] in result["objects"] and ["Deployment", "shop"] in result["objects"]
