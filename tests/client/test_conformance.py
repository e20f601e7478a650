"""The conformance suite (clients/conformance) in the live tier: the same protocol vectors, env
vectors and behaviour scenarios for the Python (threads and asyncio), TypeScript and Go clients,
against real redis-server processes, and the mixed-language scenarios on Redis and on the
toolchain's Valkey 8.1. Each client is driven through its driver program (JSON lines); drivers are
kept running between scenarios (clients/conformance/drivers.py, Pool)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from clients.conformance import drivers, runner, vectors
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]
LANGS = ("python", "typescript", "go")
# The asyncio variant runs what goes through its own code: reads (its own L1 connection), the race,
# L1 and L2 failures, the loader, key types.
ASYNCIO_FILES = ("01_read_through.json", "03_populate_race.json", "04_failures.json", "06_loader.json",
                 "07_key_types.json")
# and, of the in-process L1's, what its get does differently (an in-memory read on the loop)
ASYNCIO_SCENARIOS = ("in-process-another-clients-write-invalidates-within-milliseconds",
                     "in-process-populate-race-the-invalidation-wins")
SCENARIOS = runner.load_scenarios()


def variants() -> List[str]:
    return ["python", "python-asyncio", "typescript", "go"]


def applies(lang: str, scenario: Dict[str, Any]) -> bool:
    if scenario.get("mixed") or lang not in scenario.get("languages", [lang, "python-asyncio"]):
        return False
    return lang != "python-asyncio" or scenario["file"] in ASYNCIO_FILES or scenario["name"] in ASYNCIO_SCENARIOS


CASES = [(lang, s) for lang in variants() for s in SCENARIOS if applies(lang, s)]
MIXED = [s for s in SCENARIOS if s.get("mixed")]


def base(lang: str) -> str:
    return "python" if lang == "python-asyncio" else lang


def extra(lang: str) -> Dict[str, tuple]:
    return {"python": ("--asyncio",)} if lang == "python-asyncio" else {}


def redis_server() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        skip_or_fail("redis-server not on PATH (apt-get install redis-server)")
    return str(binary)


def valkey_server() -> str:
    from testbed import engines

    bin_dir = engines.toolchain_bin("valkey")
    if bin_dir is None or not (bin_dir / "valkey-server").exists():
        skip_or_fail("valkey is not built: ./run toolchain valkey")
    return str(bin_dir / "valkey-server")


def require(lang: str) -> None:
    why = drivers.missing_tool(base(lang))
    if why is not None:
        skip_or_fail(f"the {lang} driver cannot be built: {why}")


@pytest.fixture(scope="session")
def pool() -> Iterator[drivers.Pool]:
    p = drivers.Pool(ROOT)
    yield p
    p.close()


@pytest.mark.parametrize("lang", variants())
def test_protocol_and_env_vectors(lang: str, pool: drivers.Pool) -> None:
    require(lang)
    driver = pool.take(base(lang), "vectors", extra(lang).get(base(lang), ()))
    try:
        wrong = vectors.check_protocol(driver) + vectors.check_env(driver)
    finally:
        pool.give(driver, True)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("lang, scenario", CASES, ids=[f"{lang}:{s['name']}" for lang, s in CASES])
def test_scenario(lang: str, scenario: Dict[str, Any], pool: drivers.Pool) -> None:
    require(lang)
    runner.run(scenario, base(lang), ROOT, redis_server(), extra(lang), pool)


@pytest.mark.parametrize("engine", ["redis", "valkey"])
@pytest.mark.parametrize("scenario", MIXED, ids=[s["name"] for s in MIXED])
def test_mixed_languages(scenario: Dict[str, Any], engine: str, pool: drivers.Pool) -> None:
    for lang in LANGS:
        require(lang)
    binary = redis_server() if engine == "redis" else valkey_server()
    runner.run(scenario, "python", ROOT, binary, {}, pool)
