"""A deliberately broken client must fail named conformance scenarios, and only those: each fault is
planted in a copy of one client (a text edit, as tools/mutate.py does), its driver is built from the
copy, and a set of scenarios runs against it. The suite is thereby shown to see each fault through
the driver, in every language. (The TypeScript fault is planted in the compiled JavaScript of an
up-to-date build, which `tsc -b` then leaves alone: a second full compile would cost more than the
scenarios.)"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import pytest

from clients.conformance import drivers, runner

from .test_conformance import redis_server, require

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Fault:
    name: str
    lang: str
    path: str           # relative to clients/<lang>
    old: str
    new: str
    files: Tuple[str, ...]      # the scenario files run against the broken client
    must_fail: Tuple[str, ...]  # exactly these scenarios fail; the others of the files pass
    only: Tuple[str, ...] = ()  # when given, only these scenarios of the files run (the cost of the check)


FAULTS = (
    Fault("python-no-populate-guard", "python", "src/cache_patterns_client/l1.py",
          "        if self._gen[bucket] == bucket_gen:\n            return None\n",
          "        return None\n",
          ("03_populate_race.json",),
          ("populate-race-writer-in-another-pod", "populate-race-writer-in-the-same-client",
           "a-reader-keeps-the-version-the-invalidation-announces", "an-announced-shorter-ttl-bounds-the-copy",
           "an-announcement-of-another-value-refuses-the-copy", "a-protocol-1-writer-still-refuses-the-copy")),
    Fault("go-announcement-digest-unchecked", "go", "twotier/guard.go",
          "refused = last.announced == nil || last.announced.Digest != Digest(value)",
          "refused = last.announced == nil",
          ("03_populate_race.json",),
          ("populate-race-writer-in-another-pod", "populate-race-writer-in-the-same-client",
           "an-announcement-of-another-value-refuses-the-copy")),
    Fault("typescript-writer-keeps-its-copy", "typescript", "dist/test/src/cache.js",
          "    await this.coherence.invalidateLocal(k, announced);\n",
          "",
          ("01_read_through.json", "03_populate_race.json"),
          ("writer-sees-its-own-write-at-once", "populate-race-writer-in-the-same-client")),
    # The in-process L1, one fault per client, each run against the scenarios it touches and a control.
    Fault("python-tracking-connection-not-checked", "python", "src/cache_patterns_client/tracking.py",
          'here = f" name={self._tracking_name} " in listing', "here = True",
          ("09_in_process.json",), ("in-process-a-proxy-that-moves-connections-moves-the-tracking-connection",),
          ("in-process-a-proxy-that-moves-connections-moves-the-tracking-connection",
           "in-process-a-sentinel-failover-flushes-and-no-stale-read-follows")),
    Fault("go-every-key-kept-under-broadcast", "go", "twotier/tracking.go",
          "if c.near == nil || len(c.near.Prefixes) == 0 {", "if true {",
          ("09_in_process.json",), ("in-process-broadcast-keeps-only-keys-under-its-prefixes",),
          ("in-process-broadcast-keeps-only-keys-under-its-prefixes",
           "in-process-another-clients-write-invalidates-within-milliseconds")),
    Fault("typescript-no-flush-when-the-tracking-connection-is-lost", "typescript", "dist/test/src/tracking.js",
          "            this.coherence.subscribed = false;\n            void this.coherence.flush();\n",
          "            this.coherence.subscribed = false;\n",
          ("09_in_process.json",),
          ("in-process-l2-down-empties-the-l1-and-raises", "in-process-the-tracking-connection-killed-flushes"),
          ("in-process-l2-down-empties-the-l1-and-raises", "in-process-the-tracking-connection-killed-flushes",
           "in-process-a-server-flush-empties-the-l1")),
)


def broken_tree(fault: Fault, tmp: Path) -> Path:
    """A tree whose clients/<lang> is a copy of this one's with the fault planted."""
    src = ROOT / "clients" / fault.lang
    dest = tmp / "clients" / fault.lang
    skip = ["node_modules", ".build", "__pycache__"]
    if fault.path.startswith("dist/"):
        drivers.command(fault.lang, ROOT)  # the build the fault is planted in
    else:
        skip.append("dist")
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*skip))
    if (src / "node_modules").is_dir():
        (dest / "node_modules").symlink_to(src / "node_modules")
    target = dest / fault.path
    text = target.read_text()
    assert text.count(fault.old) == 1, f"{fault.name}: the text to replace is not in {fault.path} exactly once"
    target.write_text(text.replace(fault.old, fault.new))
    return tmp


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_a_broken_client_fails_exactly_the_named_scenarios(fault: Fault, tmp_path: Path) -> None:
    require(fault.lang)
    binary = redis_server()
    root = broken_tree(fault, tmp_path)
    pool = drivers.Pool(root)
    failed = []
    ran = []
    try:
        for scenario in runner.load_scenarios():
            if scenario["file"] not in fault.files or scenario.get("mixed"):
                continue
            if fault.only and scenario["name"] not in fault.only:
                continue
            ran.append(scenario["name"])
            try:
                runner.run(scenario, fault.lang, root, binary, {}, pool)
            except AssertionError:
                failed.append(scenario["name"])
    finally:
        pool.close()
    assert set(fault.must_fail) <= set(ran)
    assert sorted(failed) == sorted(fault.must_fail), f"failed: {sorted(failed)}"
