"""Run the conformance suite from the command line (the pytest entry is tests/client/test_conformance.py):

    python -m clients.conformance [--lang python,typescript,go] [--scenario NAME ...] [--engine PATH]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from . import drivers, runner, vectors

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default=",".join(drivers.LANGUAGES))
    parser.add_argument("--scenario", nargs="*", default=[])
    parser.add_argument("--engine", default=shutil.which("redis-server"), help="redis-server or valkey-server")
    args = parser.parse_args()
    failed = passed = 0
    pool = drivers.Pool(ROOT)
    for lang in args.lang.split(","):
        base = "python" if lang == "python-asyncio" else lang
        extra = {"python": ("--asyncio",)} if lang == "python-asyncio" else {}
        driver = pool.take(base, "vectors", extra.get(base, ()))
        for what, check in (("protocol vectors", vectors.check_protocol), ("env vectors", vectors.check_env)):
            wrong = check(driver)
            print(f"{'FAIL' if wrong else 'ok  '} {lang} {what}" + "".join(f"\n    {w}" for w in wrong))
            failed, passed = failed + bool(wrong), passed + (not wrong)
        pool.give(driver, True)
        for scenario in runner.load_scenarios():
            if args.scenario and scenario["name"] not in args.scenario:
                continue
            if scenario.get("mixed") or lang not in scenario.get("languages", [lang]):
                continue
            started = time.monotonic()
            try:
                runner.run(scenario, base, ROOT, args.engine, extra, pool)
                passed += 1
                print(f"ok   {lang} {scenario['name']} ({time.monotonic() - started:.1f} s)")
            except AssertionError as exc:
                failed += 1
                print(f"FAIL {lang} {scenario['name']}: {exc}")
    langs = set(args.lang.split(","))
    for scenario in runner.load_scenarios():
        if not scenario.get("mixed") or (args.scenario and scenario["name"] not in args.scenario):
            continue
        if not {p["lang"] for p in scenario["pods"].values()} <= langs:
            continue
        started = time.monotonic()
        try:
            runner.run(scenario, "python", ROOT, args.engine, {}, pool)
            passed += 1
            print(f"ok   mixed {scenario['name']} ({time.monotonic() - started:.1f} s)")
        except AssertionError as exc:
            failed += 1
            print(f"FAIL mixed {scenario['name']}: {exc}")
    pool.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
