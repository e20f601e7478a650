"""`cache_patterns` is an installable, versioned package: its wheel holds every module and the pod
scripts, declares its dependencies, and works from an install outside this repository; every name of
its public API is documented."""
from __future__ import annotations

import os
import subprocess
import sys
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
