"""The `bench` request of the Python conformance driver (benchmarks/two_tier_clients.py): L1 hits and
misses of the open cache against raw redis-py GETs on the same sockets, and the loader's stampede
figure. Times are nanoseconds per call, returned whole for the harness to summarise."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Dict, List

import redis
import redis.asyncio


def _timed(fn: Callable[[Any], Any], keys: List[str], sink: List[int]) -> None:
    for key in keys:
        t = time.perf_counter_ns()
        fn(key)
        sink.append(time.perf_counter_ns() - t)


def bench(cache: Any, aio: Any, loop: Any, req: Dict[str, Any]) -> Dict[str, Any]:
    keys = [f"bench:{i}" for i in range(req["keys"])]
    raw_l1 = redis.Redis(unix_socket_path=req["l1_socket"])
    raw_l2 = redis.Redis(host="127.0.0.1", port=req["l2_port"])
    out: Dict[str, List[int]] = {"hit_raw": [], "hit_client": [], "miss_raw": [], "miss_client": []}
    if aio is not None:
        out.update(asyncio.run_coroutine_threadsafe(_async_loops(aio, keys, req), loop).result())
    else:
        for key in keys + keys:
            cache.get(key)
        assert raw_l1.exists(*keys) == len(keys), "bench keys are not all in L1"
        for r in range(req["rounds"]):
            pair = [(raw_l1.get, out["hit_raw"]), (cache.get, out["hit_client"])]
            for fn, sink in pair if r % 2 == 0 else pair[::-1]:
                _timed(fn, keys, sink)
        for r in range(req["rounds"]):
            raw_l1.flushdb()
            pair = [(raw_l2.get, out["miss_raw"]), (cache.get, out["miss_client"])]
            for fn, sink in pair if r % 2 == 0 else pair[::-1]:
                _timed(fn, keys, sink)
    raw_l1.close()
    raw_l2.close()
    return {**out, "stampede_calls": _stampede(cache, aio, loop, req)}


async def _async_loops(aio: Any, keys: List[str], req: Dict[str, Any]) -> Dict[str, List[int]]:
    raw_l1 = redis.asyncio.Redis(unix_socket_path=req["l1_socket"])
    raw_l2 = redis.asyncio.Redis(host="127.0.0.1", port=req["l2_port"])
    out: Dict[str, List[int]] = {"hit_raw": [], "hit_client": [], "miss_raw": [], "miss_client": []}

    async def timed(fn: Callable[[Any], Any], sink: List[int]) -> None:
        for key in keys:
            t = time.perf_counter_ns()
            await fn(key)
            sink.append(time.perf_counter_ns() - t)

    for key in keys + keys:
        await aio.get(key)
    for r in range(req["rounds"]):
        pair = [(raw_l1.get, out["hit_raw"]), (aio.get, out["hit_client"])]
        for fn, sink in pair if r % 2 == 0 else pair[::-1]:
            await timed(fn, sink)
    for r in range(req["rounds"]):
        await raw_l1.flushdb()
        pair = [(raw_l2.get, out["miss_raw"]), (aio.get, out["miss_client"])]
        for fn, sink in pair if r % 2 == 0 else pair[::-1]:
            await timed(fn, sink)
    await raw_l1.aclose()
    await raw_l2.aclose()
    return out


def _stampede(cache: Any, aio: Any, loop: Any, req: Dict[str, Any]) -> List[int]:
    calls_per_round = []
    for r in range(req["stampede_rounds"]):
        key, calls = f"stampede:{r}", []

        def load() -> bytes:
            calls.append(1)
            time.sleep(req["loader_ms"] / 1000)
            return b"v" * 512

        if aio is not None:
            async def aload() -> bytes:
                calls.append(1)
                await asyncio.sleep(req["loader_ms"] / 1000)
                return b"v" * 512

            async def all_of() -> None:
                await asyncio.gather(*(aio.get_or_load(key, aload, 60) for _ in range(req["concurrency"])))
            asyncio.run_coroutine_threadsafe(all_of(), loop).result()
        else:
            barrier = threading.Barrier(req["concurrency"])

            def caller() -> None:
                barrier.wait()
                cache.get_or_load(key, load, 60)
            threads = [threading.Thread(target=caller) for _ in range(req["concurrency"])]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        calls_per_round.append(len(calls))
    return calls_per_round
