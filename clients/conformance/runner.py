"""Runs one behaviour scenario (scenarios/*.json, the step language in README.md) against real servers
with one driver per pod: pods are the language under test unless the scenario names theirs.
"""
from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import drivers
from .drivers import ClientError, Driver, Pool, b64, unb64
from .near_steps import NearSteps, in_process, near_env, zipf_keys
from .servers import Proxy, Server, Servers, wait_until

HERE = Path(__file__).resolve().parent
CHANNEL = "cache:pages:l1-inv"
# Short enough that a failure scenario takes well under a second, long enough for a loaded CI box.
FAST = {"l1_connect_timeout": 0.2, "l1_timeout": 0.2, "l2_connect_timeout": 0.3, "l2_timeout": 0.3, "retries": 1,
        "l1_retry_interval": 0.2, "l2_retry_interval": 0.2, "health_check_interval": 0.5, "subscribe_wait": 3.0}
STEP_KEYS = ("do", "resume", "answer", "l1", "l2", "publish", "publish_hex", "stats", "fault", "sleep_ms", "wait", "compare",
             "listen", "messages", "write_file", "client_kill", "open", "near", "fill", "failover", "move")


def load_scenarios() -> List[Dict[str, Any]]:
    """Every scenario of scenarios/*.json, in file order; names are unique."""
    out: List[Dict[str, Any]] = []
    for path in sorted((HERE / "scenarios").glob("*.json")):
        for scenario in json.loads(path.read_text())["scenarios"]:
            scenario["file"] = path.name
            out.append(scenario)
    names = [s["name"] for s in out]
    assert len(names) == len(set(names)), "scenario names must be unique"
    return out


def raw(spec: Dict[str, Any], name: str) -> bytes:
    """A byte field of a step: `name` (text) or `name_hex`."""
    if f"{name}_hex" in spec:
        return bytes.fromhex(spec[f"{name}_hex"])
    return str(spec[name]).encode()


def matches(actual: Any, expected: Any) -> bool:
    """Expected values: text (compared with bytes), numbers, null, lists, or ">=N", ">N", "<=N" for numbers."""
    if isinstance(expected, str) and expected[:2] in (">=", "<=") and isinstance(actual, int):
        n = int(expected[2:])
        return actual >= n if expected[:2] == ">=" else actual <= n
    if isinstance(expected, str) and expected[:1] == ">" and isinstance(actual, int):
        return actual > int(expected[1:])
    if isinstance(expected, str):
        return actual == expected.encode() or actual == expected
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(matches, actual, expected))
    return bool(actual == expected)


@dataclass
class Pod:
    name: str
    lang: str
    driver: Driver
    l1: Optional[Server]
    origin: str = ""


@dataclass
class Run(NearSteps):
    scenario: Dict[str, Any]
    lang: str
    root: Path
    binary: str
    extra_args: Dict[str, tuple] = field(default_factory=dict)
    pool: Optional[Pool] = None
    pods: Dict[str, Pod] = field(default_factory=dict)
    saved: Dict[str, Dict[str, int]] = field(default_factory=dict)
    pending: Dict[str, tuple] = field(default_factory=dict)
    listeners: Dict[str, tuple] = field(default_factory=dict)
    files: Dict[str, Path] = field(default_factory=dict)

    def run(self) -> None:
        self.servers = Servers(self.binary)
        healthy = False
        try:
            self._setup()
            for i, step in enumerate(self.scenario["steps"]):
                try:
                    self.step(step)
                except Exception as exc:  # any failure names the step
                    raise AssertionError(f"step {i + 1} {json.dumps(step)}: {type(exc).__name__}: {exc}") from None
            healthy = not self.pending
        finally:
            for stop, thread, _ in self.listeners.values():
                stop.set()
                thread.join(timeout=2)
            for pod in self.pods.values():
                if self.pool is not None:
                    self.pool.give(pod.driver, healthy)
                else:
                    pod.driver.close()
            if getattr(self, "proxy", None) is not None:
                self.proxy.close()
            self.servers.close()

    # ---- set-up ---------------------------------------------------------------------------------

    def _setup(self) -> None:
        spec = self.scenario.get("servers", {})
        self.password = spec.get("password")
        if spec.get("cluster"):
            self.cluster = self.servers.cluster(spec["cluster"])
            self.l2 = self.cluster[0]
        else:
            self.l2 = self.servers.tcp("l2", password=self.password, tls=bool(spec.get("tls")))
        self.replica = self.servers.replica("l2-replica", self.l2) if spec.get("replica") else None
        self.sentinel = self.servers.sentinel("sentinel", self.l2) if spec.get("sentinel") else None
        self.proxy = Proxy(self.l2) if spec.get("proxy") else None
        for name, text in self.scenario.get("files", {}).items():
            self.files[name] = self.servers.dir / name
            self.files[name].write_text(text)
        pods = self.scenario.get("pods", {"a": {}})
        for name, pod in pods.items():
            self._pod(name, pod)
        for name, pod in pods.items():
            if pod.get("open", True):
                self.open(name)

    def _pod(self, name: str, spec: Dict[str, Any]) -> None:
        lang = spec.get("lang", self.lang)
        l1 = self.servers.unix(f"l1-{name}") if spec.get("l1", True) is True else None
        extra = self.extra_args.get(lang, ())
        driver = self.pool.take(lang, name, extra) if self.pool else Driver(lang, self.root, name, extra)
        self.pods[name] = Pod(name, lang, driver, l1)

    def env(self, name: str) -> Dict[str, str]:
        """What the foundation renders for an app container bound to the cache (contract v1)."""
        spec = self.scenario.get("pods", {"a": {}})[name]
        pod = self.pods[name]
        env = {"CACHE_CONTRACT_VERSION": "1", "CACHE_NAME": "pages", "CACHE_PATTERN": "statefulset"}
        port = self.proxy.port if self.proxy is not None else self.l2.port
        for prefix in ("CACHE", "CACHE_L2"):
            env.update({f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(port),
                        f"{prefix}_TLS": "false", f"{prefix}_CLUSTER": "false"})
        if self.sentinel is not None:
            env.update({"CACHE_L2_PORT": "1", "CACHE_L2_SENTINELS": f"127.0.0.1:{self.sentinel.port}",
                        "CACHE_L2_SENTINEL_MASTER": "mymaster"})
        if self.l2.tls is not None:
            for prefix in ("CACHE", "CACHE_L2"):
                env.update({f"{prefix}_HOST": "localhost", f"{prefix}_TLS": "true",
                            f"{prefix}_TLS_CA_FILE": str(self.l2.tls / "ca.crt")})
        if getattr(self, "cluster", None):
            env.update({"CACHE_CLUSTER": "true", "CACHE_L2_CLUSTER": "true"})
        if pod.l1 is not None:
            assert pod.l1.unixsocket is not None
            env.update({"CACHE_L1_HOST": "127.0.0.1", "CACHE_L1_PORT": "6380", "CACHE_L1_SOCKET": pod.l1.unixsocket,
                        "CACHE_L1_TLS": "false", "CACHE_L1_CLUSTER": "false",
                        "CACHE_L1_TTL_CAP": str(spec.get("cap", 30)), "CACHE_L1_INVALIDATION_CHANNEL": CHANNEL})
        if in_process(spec):
            env.update({**near_env(spec), "CACHE_L1_TTL_CAP": str(spec.get("cap", 30)),
                        "CACHE_L1_INVALIDATION_CHANNEL": CHANNEL})
        for key, value in spec.get("env", {}).items():
            for fname, path in self.files.items():
                value = value.replace("{file:" + fname + "}", str(path))
            if self.l2.tls is not None:
                value = value.replace("{tls}", str(self.l2.tls))
            env[key] = value
        return env

    def open(self, name: str, expect_ready: Optional[bool] = None) -> None:
        spec = self.scenario.get("pods", {"a": {}})[name]
        pod = self.pods[name]
        opened = pod.driver.call("open", timeout=15, env=self.env(name), options={**FAST, **spec.get("options", {})})
        pod.origin = opened["origin"]
        want = spec.get("ready", pod.l1 is not None or in_process(spec)) if expect_ready is None else expect_ready
        if want:
            ready = pod.driver.call("wait_ready", timeout=10, timeout_ms=5000)["ready"]
            assert ready, f"pod {name}: the invalidation subscription did not come up"

    # ---- steps ----------------------------------------------------------------------------------

    def step(self, s: Dict[str, Any]) -> None:
        kind = next((k for k in STEP_KEYS if k in s), None)
        if kind is None:
            raise AssertionError(f"unknown step (one of {', '.join(STEP_KEYS)})")
        getattr(self, "_answer_step" if kind == "answer" else f"_{kind}")(s)

    def _open(self, s: Dict[str, Any]) -> None:
        self.open(s["open"], s.get("ready"))

    def _do(self, s: Dict[str, Any]) -> None:
        pod = self.pods[s["do"]]
        args = {k: v for k, v in s.items() if k in ("ttl_ms", "negative_ttl_ms", "concurrency", "pause", "key_json")}
        for name in ("key", "value"):
            if name in s or f"{name}_hex" in s:
                args[f"{name}_b64"] = b64(raw(s, name))
        if "zipf" in s:
            args["keys_b64"] = zipf_keys(s["zipf"])
        if "loader" in s:
            loader = dict(s["loader"])
            if "value" in loader or "value_hex" in loader:
                loader["value_b64"] = b64(raw(loader, "value"))
            args["loader"] = {k: v for k, v in loader.items() if k in ("value_b64", "error", "delay_ms")}
        seen = {n: self.stat(n, "invalidations_received") for n in s.get("seen_by", ())}
        rid = pod.driver.send(s["op"], **args)
        if "pause" in s:
            pod.driver.wait_event(rid, "paused")
            self.pending[s["as"]] = (pod, rid, time.monotonic())
            return
        self._answer(s, pod, rid, time.monotonic())
        for n, before in seen.items():
            wait_until(lambda: self.stat(n, "invalidations_received") > before, 3.0, f"the invalidation at pod {n}")

    def _resume(self, s: Dict[str, Any]) -> None:
        pod, rid, started = self.pending[s["resume"]]
        pod.driver.call("resume", target=rid)
        if not s.get("nowait"):
            self._answer_step({**s, "answer": s["resume"]})

    def _answer_step(self, s: Dict[str, Any]) -> None:
        pod, rid, started = self.pending.pop(s["answer"])
        self._answer(s, pod, rid, started)

    def _answer(self, s: Dict[str, Any], pod: Pod, rid: int, started: float) -> None:
        try:
            result = pod.driver.result(rid, timeout=s.get("timeout_ms", 10000) / 1000)
        except ClientError as exc:
            assert s.get("error") == exc.kind, f"pod {pod.name} raised {exc}, expected {s.get('error') or 'no error'}"
            result = None
        else:
            assert "error" not in s, f"pod {pod.name} raised nothing, expected {s['error']}: {result}"
        took = (time.monotonic() - started) * 1000
        if "within_ms" in s:
            assert took <= s["within_ms"], f"took {took:.0f} ms, more than {s['within_ms']} ms"
        if result is None:
            return
        if "expect" in s or "expect_hex" in s:
            want = None if s.get("expect", 0) is None else raw(s, "expect")
            got = unb64(result.get("value_b64"))
            assert got == want, f"pod {pod.name} ({pod.lang}) returned {got!r}, expected {want!r}"
        if "expect_existed" in s:
            assert result["existed"] == s["expect_existed"], result
        if "expect_loader_calls" in s:
            assert result["loader_calls"] == s["expect_loader_calls"], \
                f"loader called {result['loader_calls']} times, expected {s['expect_loader_calls']}"
        if "expect_all" in s:
            want_all = s["expect_all"]
            for i, r in enumerate(result["results"]):
                if isinstance(want_all, dict):
                    assert r.get("error", {}).get("type") == want_all["error"], f"caller {i}: {r}"
                else:
                    want = None if want_all is None else want_all.encode()
                    assert "error" not in r and unb64(r["value_b64"]) == want, f"caller {i}: {r}, expected {want!r}"

    def _tier(self, s: Dict[str, Any], which: str) -> Any:
        if which == "l2":
            client, cmd = self.l2.client(), s["l2"]
        else:
            pod = self.pods[s["l1"]]
            assert pod.l1 is not None
            client, cmd = pod.l1.client(), s["cmd"]
        try:
            result = client.execute_command(*cmd)
        finally:
            client.close()
        if which == "l2" and [str(c).lower() for c in cmd[:3]] == ["config", "set", "requirepass"]:
            self.l2.password = cmd[3]  # the harness's own connections follow a rotation
        return result

    def _check_raw(self, s: Dict[str, Any], which: str) -> None:
        got = self._tier(s, which)
        if "expect" in s:
            assert matches(got, s["expect"]), f"{which} {s.get('cmd') or s.get('l2')} returned {got!r}, expected {s['expect']!r}"
        if "expect_range" in s:
            lo, hi = s["expect_range"]
            assert isinstance(got, int) and lo <= got <= hi, f"{which} returned {got!r}, expected within [{lo}, {hi}]"

    def _l1(self, s: Dict[str, Any]) -> None:
        self._check_raw(s, "l1")

    def _l2(self, s: Dict[str, Any]) -> None:
        self._check_raw(s, "l2")

    def _compare(self, s: Dict[str, Any]) -> None:
        left, op, right = s["compare"]
        a = self._tier(left, "l2" if "l2" in left else "l1")
        b = self._tier(right, "l2" if "l2" in right else "l1")
        ok = {"<=": a <= b, "<": a < b, "==": a == b}[op]
        assert ok and a > 0, f"{left} = {a!r} is not {op} {right} = {b!r} (or not > 0)"

    def _publish(self, s: Dict[str, Any]) -> None:
        client = self.l2.client()
        client.publish(CHANNEL, raw(s, "publish"))
        client.close()

    _publish_hex = _publish

    def stat(self, pod: str, name: str) -> int:
        return int(self.pods[pod].driver.call("stats")[name])

    def _stats(self, s: Dict[str, Any]) -> None:
        stats = self.pods[s["stats"]].driver.call("stats")
        if "save" in s:
            self.saved[s["save"]] = stats
        base = self.saved.get(s.get("since", ""), {})
        for name, want in s.get("expect", {}).items():
            got = stats[name] - base.get(name, 0)
            assert matches(got, want), f"pod {s['stats']}: {name} changed by {got}, expected {want}"

    def _fault(self, s: Dict[str, Any]) -> None:
        target = s["server"]
        server = self.l2 if target == "l2" else self.pods[target.split(":", 1)[1]].l1
        assert server is not None
        action = s["fault"]
        if action == "kill":
            server.kill()
        elif action == "stop":
            server.signal(signal.SIGSTOP)
        elif action == "cont":
            server.signal(signal.SIGCONT)
        elif action == "start":
            server.start()
        else:
            raise AssertionError(f"unknown fault {action!r}")

    def _sleep_ms(self, s: Dict[str, Any]) -> None:
        time.sleep(s["sleep_ms"] / 1000)

    def _wait(self, s: Dict[str, Any]) -> None:
        """Repeat the step (or the list of steps) until it passes in one round, every 10 ms."""
        steps = s["wait"] if isinstance(s["wait"], list) else [s["wait"]]
        deadline = time.monotonic() + s.get("timeout_ms", 3000) / 1000
        while True:
            try:
                for step in steps:
                    self.step(step)
                return
            except (AssertionError, ClientError) as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"not within {s.get('timeout_ms', 3000)} ms; last: {exc}") from None
            time.sleep(0.01)

    def _client_kill(self, s: Dict[str, Any]) -> None:
        client = self.l2.client()
        try:
            killed = client.execute_command("CLIENT", "KILL", "TYPE", s["client_kill"])
        finally:
            client.close()
        assert killed >= 1, f"no {s['client_kill']} connection to kill"

    def _write_file(self, s: Dict[str, Any]) -> None:
        self.files[s["write_file"]].write_text(s["text"])

    def _listen(self, s: Dict[str, Any]) -> None:
        pubsub = self.l2.client().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(CHANNEL)
        got: List[bytes] = []
        stop = threading.Event()

        def listen() -> None:
            while not stop.is_set():
                message = pubsub.get_message(timeout=0.05)
                if message is not None:
                    got.append(message["data"])
            pubsub.close()

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        self.listeners[s["listen"]] = (stop, thread, got)

    def _messages(self, s: Dict[str, Any]) -> None:
        _, _, got = self.listeners[s["messages"]]
        want = [self.expand(m) for m in s["expect"]]
        wait_until(lambda: len(got) >= len(want), s.get("timeout_ms", 2000) / 1000, f"{len(want)} messages")
        time.sleep(0.05)  # anything published after them would show here
        assert got == want, f"published {got!r}, expected {want!r}"

    def expand(self, template: str) -> bytes:
        """`{origin:a}` is pod a's origin, `{digest:text}` the digest of text (the byte-level check)."""
        import hashlib
        import re

        def sub(m: "re.Match[str]") -> str:
            kind, arg = m.group(1), m.group(2)
            if kind == "origin":
                return self.pods[arg].origin
            return hashlib.sha256(arg.encode()).hexdigest()[:32]

        return re.sub(r"\{(origin|digest):([^}]*)\}", sub, template).encode()


def run(scenario: Dict[str, Any], lang: str, root: Path, binary: str, extra_args: Optional[Dict[str, tuple]] = None,
        pool: Optional[Pool] = None) -> None:
    """Run one scenario; an AssertionError names the failing step."""
    Run(scenario, lang, root, binary, extra_args or {}, pool=pool).run()


__all__ = ["run", "load_scenarios", "drivers", "CHANNEL", "FAST"]
