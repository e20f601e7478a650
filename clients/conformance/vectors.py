"""The data-only checks: protocol vectors (vectors.json) and env-contract vectors (env.json), sent
through a driver one by one. Each returns the list of cases the client got wrong (empty: conforms)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from .drivers import ClientError, Driver, b64, unb64

HERE = Path(__file__).resolve().parent


def load(name: str) -> Dict[str, Any]:
    return json.loads((HERE / name).read_text())  # type: ignore[no-any-return]


def field(case: Dict[str, Any], name: str) -> Optional[bytes]:
    """A byte field: `name` (UTF-8 text) or `name_hex`; None when neither is there."""
    if f"{name}_hex" in case:
        return bytes.fromhex(case[f"{name}_hex"])
    if name in case:
        return str(case[name]).encode()
    return None


def check_protocol(driver: Driver) -> List[str]:
    v = load("vectors.json")
    wrong: List[str] = []
    for case in v["digest"]:
        got = driver.call("digest", value_b64=b64(field(case, "value") or b""))["digest"]
        if got != case["digest"]:
            wrong.append(f"digest of {case}: got {got}")
    for case in v["bucket"]:
        got = driver.call("bucket", key_b64=b64(field(case, "key") or b""))["bucket"]
        if got != case["bucket"]:
            wrong.append(f"bucket of {case}: got {got}")
    for case in v["encode"]:
        args = {"kind": case["kind"], "origin": case["origin"], "key_b64": b64(field(case, "key") or b""),
                "version": case.get("version", 2)}
        if case["kind"] == "value":
            args.update(value_b64=b64(field(case, "value") or b""), ttl_ms=case["ttl_ms"])
        got = unb64(driver.call("encode", **args)["payload_b64"])
        if got != field(case, "payload"):
            wrong.append(f"encode {case}: got {got!r}")
    for case in v["decode"]:
        got = driver.call("decode", payload_b64=b64(field(case, "payload") or b""))
        want = {"origin": case["origin"], "key_b64": b64(k) if (k := field(case, "key")) is not None else None,
                "flush": case["flush"], "digest": case["digest"], "ttl_ms": case["ttl_ms"]}
        if got != want:
            wrong.append(f"decode {case}: got {got}")
    return wrong


def env_of(e: Dict[str, Any], case: Dict[str, Any]) -> Dict[str, str]:
    if "replace" in case:
        return dict(case["replace"])
    env = dict(e["base"])
    for key, value in case.get("env", {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def check_env(driver: Driver) -> List[str]:
    e = load("env.json")
    wrong: List[str] = []
    for case in e["ok"]:
        try:
            got = driver.call("settings", env=env_of(e, case))
        except ClientError as exc:
            wrong.append(f"{case['name']}: raised {exc}")
            continue
        want = {"near": None, **case["settings"]}   # cases that predate the in-process L1 name none
        if got != want:
            wrong.append(f"{case['name']}: parsed {got}, expected {want}")
    for case in e["errors"]:
        try:
            got = driver.call("settings", env=env_of(e, case))
        except ClientError as exc:
            if exc.kind != "ConfigurationError" or exc.message != case["error"]:
                wrong.append(f"{case.get('env') or case.get('replace')}: {exc.kind}: {exc.message!r}, "
                             f"expected ConfigurationError: {case['error']!r}")
        else:
            wrong.append(f"{case.get('env') or case.get('replace')}: parsed {got}, expected {case['error']!r}")
    return wrong
