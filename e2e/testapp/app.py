"""The test app of the real-node tier: every app image the stacks name runs this program (e2e/images.py).
It reaches its cache only through the contract's variables (CACHE_*), with the project's client.

    python3 /app/app.py                 serve HTTP on each port of $PORTS (e.g. "8080,9090"; the app's
                                        containerPorts: its probes and Service reach it there)
        /check     one SET and GET of a fresh key through the contract: 200 and JSON, or 503 and JSON
        any other  200 once the contract parses, 503 with the error otherwise: the probes (each
                   stack's apps name their own paths: /healthz and /ready, /live, ...)
    python3 /app/app.py check           the same round trip once, JSON on stdout, exit 0 or 1
    python3 /app/app.py write SECONDS PREFIX    SET PREFIX:<n> = n in a loop; JSON {acked, failed, errors}
    python3 /app/app.py read PREFIX N1 N2 ...   GET each; JSON {missing: [...], wrong: [...]}

The probes do not touch the cache, as an app that can serve without its cache should not be taken
out of its Service when the cache fails over; /check and the subcommands are what the tests use.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cache_patterns_client import TwoTierCache
from cache_patterns_client.settings import CacheSettings


def _describe(settings: CacheSettings) -> dict:
    l2 = settings.l2
    return {"name": settings.name, "pattern": settings.pattern, "host": l2.host, "port": l2.port,
            "socket": l2.socket, "tls": l2.tls, "sentinels": len(l2.sentinels), "l1": settings.l1 is not None}


def check() -> dict:
    """SET and GET one fresh key through the contract; the answer says which tier answered how."""
    settings = CacheSettings.from_env()
    key = f"cache-patterns-check:{uuid.uuid4().hex}"
    value = uuid.uuid4().hex.encode()
    started = time.monotonic()
    with TwoTierCache.from_env() as cache:
        cache.set(key, value, ttl=60)
        got = cache.get(key)
    return {"ok": got == value, "key": key, "seconds": round(time.monotonic() - started, 3), **_describe(settings)}


def write(seconds: float, prefix: str) -> dict:
    """Writes until the time is up, one at a time; a write counts as acknowledged only when the
    client returned without an error."""
    acked, failed, errors, first = [], 0, {}, {}
    deadline = time.monotonic() + seconds
    n = 0
    with TwoTierCache.from_env() as cache:
        while time.monotonic() < deadline:
            n += 1
            try:
                cache.set(f"{prefix}:{n}", str(n).encode(), ttl=3600)
                acked.append(n)
            except Exception as e:   # every failure is counted, by type, with its first message
                failed += 1
                name = type(e).__name__
                errors[name] = errors.get(name, 0) + 1
                first.setdefault(name, str(e)[:200])
                time.sleep(0.05)
            time.sleep(0.01)
    return {"acked": acked, "failed": failed, "errors": errors, "first": first}


def read(prefix: str, numbers: list[int]) -> dict:
    missing, wrong = [], []
    with TwoTierCache.from_env() as cache:
        for n in numbers:
            got = cache.get(f"{prefix}:{n}")
            if got is None:
                missing.append(n)
            elif got != str(n).encode():
                wrong.append(n)
    return {"missing": missing, "wrong": wrong, "read": len(numbers)}


class Handler(BaseHTTPRequestHandler):
    def _send(self, code: int, body: dict | str) -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:   # noqa: N802 (http.server's name)
        if self.path == "/check":
            try:
                result = check()
                self._send(200 if result["ok"] else 503, result)
            except Exception as e:
                self._send(503, {"ok": False, "error": f"{type(e).__name__}: {e}"})
            return
        try:
            self._send(200, _describe(CacheSettings.from_env()))
        except Exception as e:
            self._send(503, {"error": f"{type(e).__name__}: {e}"})

    def log_message(self, format: str, *args) -> None:
        if self.path.startswith("/check"):
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


def main(argv: list[str]) -> int:
    if not argv:
        # PID 1 gets no default signal handling: without this, a deleted pod would wait out its
        # grace period instead of stopping as an app does.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        servers = [ThreadingHTTPServer(("", int(p)), Handler) for p in os.environ.get("PORTS", "8080").split(",")]
        for server in servers[1:]:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[0].serve_forever()
        return 0
    if argv[0] == "check":
        result = check()
    elif argv[0] == "write":
        result = write(float(argv[1]), argv[2])
    elif argv[0] == "read":
        result = read(argv[1], [int(n) for n in argv[2:]] if argv[2:] else
                      [int(n) for n in sys.stdin.read().split()])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
