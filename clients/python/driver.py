"""Conformance driver of the Python client: JSON lines on stdin, answers on stdout
(clients/conformance/README.md, "Driver protocol"). One driver is one pod's client; each request runs
in its own thread, so a get paused at a hook does not hold up the others.

    python clients/python/driver.py [--asyncio]     (--asyncio: every call through AsyncTwoTierCache)
"""
from __future__ import annotations

import asyncio
import base64
import json
import platform
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import redis

import cache_patterns_client as cpc
from cache_patterns_client import protocol
from cache_patterns_client.aio import AsyncTwoTierCache
from cache_patterns_client.l1 import bucket_of
from cache_patterns_client.settings import CacheSettings, TierSettings

_out = threading.Lock()
_resume: Dict[int, threading.Event] = {}
_state: Dict[str, Any] = {"cache": None, "aio": None, "loop": None}
ERRORS = {cpc.L2Unavailable: "L2Unavailable", cpc.ConfigurationError: "ConfigurationError", TypeError: "TypeError",
          ValueError: "ValueError"}


class LoaderError(Exception):
    pass


def emit(message: Dict[str, Any]) -> None:
    with _out:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def unb64(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else base64.b64decode(text)


def b64(data: Optional[bytes]) -> Optional[str]:
    return None if data is None else base64.b64encode(data).decode()


def key_of(req: Dict[str, Any]) -> Any:
    """The key as the app would pass it: bytes, or any JSON value as is (a key-type scenario)."""
    return req["key_json"] if "key_json" in req else unb64(req["key_b64"])


def error_kind(exc: BaseException) -> str:
    for cls, name in ERRORS.items():
        if isinstance(exc, cls):
            return name
    return "LoaderError" if isinstance(exc, LoaderError) else type(exc).__name__


def tier(t: Optional[TierSettings]) -> Optional[Dict[str, Any]]:
    if t is None:
        return None
    return {"host": t.host, "port": t.port, "socket": t.socket, "tls": t.tls, "tls_ca_file": t.tls_ca_file,
            "cluster": t.cluster, "username": t.username, "password_file": t.password_file,
            "has_password": t.password is not None, "sentinels": [list(s) for s in t.sentinels],
            "sentinel_master": t.sentinel_master, "sentinel_password_file": t.sentinel_password_file}


def ms(seconds: Optional[float]) -> Optional[int]:
    return None if seconds is None else round(seconds * 1000)


def settings(req: Dict[str, Any]) -> Dict[str, Any]:
    s = CacheSettings.from_env(req["env"])
    near = None if s.near is None else {"max_entries": s.near.max_entries, "max_bytes": s.near.max_bytes,
                                         "tracking": s.near.tracking,
                                         "prefixes": [p.decode() for p in s.near.prefixes]}
    return {"name": s.name, "l2": tier(s.l2), "l1": tier(s.l1), "ttl_cap_ms": ms(s.l1_ttl_cap),
            "channel": s.invalidation_channel, "default_ttl_ms": ms(s.default_ttl), "near": near}


def peek(req: Dict[str, Any]) -> Dict[str, Any]:
    """The in-process L1 as it is: a key's copy (without counting a hit), its size and its peaks."""
    store = _state["cache"]._l1
    if not isinstance(store, cpc.NearL1):
        raise ValueError("peek: the cache has no in-process L1")
    entries, used = store.size()
    value = store.get(unb64(req["key_b64"])) if "key_b64" in req else None
    return {"value_b64": b64(value), "entries": entries, "bytes": used, "max_entries_seen": store.peak_entries,
            "max_bytes_seen": store.peak_bytes, "evictions": store.evictions}


def bench_hits(req: Dict[str, Any]) -> Dict[str, Any]:
    """L1 hits timed one by one (nanoseconds): every key read twice first, so each timed get is a hit."""
    cache, keys = _state["cache"], [unb64(k) for k in req["keys_b64"]]
    for key in keys + keys:
        cache.get(key)
    before, ns = cache.stats.l1_hits, []
    for _ in range(req["rounds"]):
        for key in keys:
            t = time.perf_counter_ns()
            cache.get(key)
            ns.append(time.perf_counter_ns() - t)
    return {"ns": ns, "hits": cache.stats.l1_hits - before}


def read_many(req: Dict[str, Any]) -> Dict[str, Any]:
    """get() of every key in turn (a workload the harness generated); how many were L1 hits."""
    cache, before = _state["cache"], _state["cache"].stats.l1_hits
    for key in req["keys_b64"]:
        cache.get(unb64(key))
    return {"reads": len(req["keys_b64"]), "l1_hits": cache.stats.l1_hits - before}


def pause_hook(rid: int, event: str) -> Callable[..., None]:
    def hook(*_: Any) -> None:
        gate = _resume.setdefault(rid, threading.Event())
        emit({"id": rid, "event": "paused"})
        if not gate.wait(30):
            raise RuntimeError(f"request {rid} was never resumed")
    return hook


def run_async(coro: Any) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, _state["loop"]).result()


def open_cache(req: Dict[str, Any]) -> Dict[str, Any]:
    o = req.get("options", {})
    options = cpc.ClientOptions(**{k: v for k, v in o.items() if k != "publish_version"},
                                publish_version=o.get("publish_version", 2))
    if _state["loop"] is not None:
        _state["aio"] = run_async(AsyncTwoTierCache.from_env(req["env"], options=options))
        cache = _state["aio"].cache
    else:
        cache = cpc.TwoTierCache.from_env(req["env"], options=options)
    _state["cache"] = cache
    return {"origin": cache._origin, "ready": cache.wait_ready(0)}


def loader_for(spec: Dict[str, Any], calls: List[int]) -> Callable[[], Optional[bytes]]:
    def load() -> Optional[bytes]:
        calls.append(1)
        time.sleep(spec.get("delay_ms", 0) / 1000)
        if spec.get("error"):
            raise LoaderError(spec["error"])
        return unb64(spec.get("value_b64"))
    return load


def get_or_load(req: Dict[str, Any]) -> Dict[str, Any]:
    key, spec, calls = key_of(req), req["loader"], []
    ttl = None if req.get("ttl_ms") is None else req["ttl_ms"] / 1000
    neg = None if req.get("negative_ttl_ms") is None else req["negative_ttl_ms"] / 1000
    results: List[Dict[str, Any]] = []
    if _state["aio"] is not None:
        async def aload() -> Optional[bytes]:
            calls.append(1)
            await asyncio.sleep(spec.get("delay_ms", 0) / 1000)
            if spec.get("error"):
                raise LoaderError(spec["error"])
            return unb64(spec.get("value_b64"))

        async def all_of() -> List[Any]:
            return await asyncio.gather(*(_state["aio"].get_or_load(key, aload, ttl, neg)
                                          for _ in range(req.get("concurrency", 1))), return_exceptions=True)
        outcomes = run_async(all_of())
    else:
        outcomes = [None] * req.get("concurrency", 1)
        load = loader_for(spec, calls)

        def one(i: int) -> None:
            try:
                outcomes[i] = _state["cache"].get_or_load(key, load, ttl, neg)
            except BaseException as exc:  # reported per caller
                outcomes[i] = exc
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(outcomes))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            results.append({"error": {"type": error_kind(outcome), "message": str(outcome)}})
        else:
            results.append({"value_b64": b64(outcome)})
    return {"results": results, "loader_calls": len(calls)}


def data_op(req: Dict[str, Any]) -> Any:
    op, cache, aio = req["op"], _state["cache"], _state["aio"]
    if op == "get":
        if req.get("pause"):
            setattr(cache, "_before_l2_read" if req["pause"] == "before_l2_read" else "_after_l2_read",
                    pause_hook(req["id"], req["pause"]))
        try:
            value = run_async(aio.get(key_of(req))) if aio else cache.get(key_of(req))
        finally:
            cache._before_l2_read = cache._after_l2_read = None
        return {"value_b64": b64(value)}
    if op == "set":
        ttl = None if req.get("ttl_ms") is None else req["ttl_ms"] / 1000
        value = unb64(req["value_b64"])
        run_async(aio.set(key_of(req), value, ttl)) if aio else cache.set(key_of(req), value, ttl)
        return {}
    if op == "delete":
        return {"existed": run_async(aio.delete(key_of(req))) if aio else cache.delete(key_of(req))}
    raise ValueError(f"unknown op {op!r}")


def handle(req: Dict[str, Any]) -> Any:
    op = req["op"]
    cache = _state["cache"]
    if op == "hello":
        return {"language": "python-asyncio" if _state["loop"] else "python", "client_version": cpc.__version__,
                "protocol_version": cpc.PROTOCOL_VERSION,
                "runtime": f"Python {platform.python_version()}, redis-py {redis.__version__}"}
    if op == "digest":
        return {"digest": protocol.digest(unb64(req["value_b64"]) or b"").decode()}
    if op == "bucket":
        return {"bucket": bucket_of(unb64(req["key_b64"]) or b"")}
    if op == "encode":
        return {"payload_b64": b64(encode(req))}
    if op == "decode":
        inv = protocol.decode(unb64(req["payload_b64"]) or b"")
        ann = inv.announced
        return {"origin": inv.origin.decode(), "key_b64": b64(inv.key), "flush": inv.flush,
                "digest": ann.digest.decode() if ann else None, "ttl_ms": ann.ttl_ms if ann else None}
    if op == "settings":
        return settings(req)
    if op == "open":
        return open_cache(req)
    if op == "resume":
        _resume.setdefault(req["target"], threading.Event()).set()
        return {}
    if op == "stats":
        return dict(vars(cache.stats))
    if op == "info":
        return {"origin": cache._origin, "subscribed": cache.subscribed}
    if op == "wait_ready":
        return {"ready": cache.wait_ready(req["timeout_ms"] / 1000)}
    if op == "get_or_load":
        return get_or_load(req)
    if op == "peek":
        return peek(req)
    if op == "read_many":
        return read_many(req)
    if op == "bench_hits":
        return bench_hits(req)
    if op == "bench":
        from driver_bench import bench
        return bench(cache, _state["aio"], _state["loop"], req)
    if op == "close":
        if _state["aio"] is not None:
            run_async(_state["aio"].close())
            _state["aio"] = None
        elif cache is not None:
            cache.close()
        return {}
    return data_op(req)


def encode(req: Dict[str, Any]) -> bytes:
    key, version = unb64(req["key_b64"]) or b"", req.get("version", 2)
    if req["kind"] == "value":
        return protocol.encode_value(req["origin"], key, protocol.digest(unb64(req["value_b64"]) or b""),
                                     req.get("ttl_ms"))
    if req["kind"] == "key":
        return protocol.encode_key(req["origin"], key, version)
    return protocol.encode_flush(req["origin"], version)


def serve(req: Dict[str, Any]) -> None:
    try:
        emit({"id": req["id"], "ok": True, "result": handle(req)})
    except BaseException as exc:  # every failure is an answer
        emit({"id": req["id"], "ok": False, "error": {"type": error_kind(exc), "message": str(exc)}})


def main() -> None:
    if "--asyncio" in sys.argv:
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        _state["loop"] = loop
    threads = []
    for line in sys.stdin:
        if line.strip():
            t = threading.Thread(target=serve, args=(json.loads(line),), daemon=True)
            t.start()
            threads.append(t)
    for t in threads:
        t.join(timeout=5)


if __name__ == "__main__":
    main()
