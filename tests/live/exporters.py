"""Real redis_exporter processes beside a live cluster, started from the exporter containers the program
renders (their command and environment, with pod names and mounted files mapped to the local ones),
a scraper that records every /metrics page on a fixed cadence the way Prometheus would label it, and
the conversion of that recording into promtool input series (with staleness where a series vanishes).
"""
from __future__ import annotations

import math
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from components import contract
from tests.conftest import skip_or_fail

from .cluster import Cluster, free_ports, which

EXPORTER_BINARY = "redis_exporter"


def exporter_binary() -> str:
    """The pinned redis_exporter of the toolchain (`./run toolchain redis_exporter`), else one on PATH."""
    try:
        from e2e import toolchain
        candidate = toolchain.bin_dir(EXPORTER_BINARY) / EXPORTER_BINARY
        if candidate.exists():
            return str(candidate)
    except Exception:  # noqa: BLE001 - no recipe or no pin yet: fall back to PATH
        pass
    found = which(EXPORTER_BINARY)
    if found is None:
        skip_or_fail("redis_exporter is not built (`./run toolchain redis_exporter`; .ci/run builds it)")
    return found  # type: ignore[return-value]


@dataclass
class Exporter:
    """One exporter process: what it watches (a member of the cluster) and where it serves."""

    name: str
    member: str
    pod: str
    port: int
    env: dict[str, str]
    argv: list[str]
    proc: subprocess.Popen | None = None

    @property
    def instance(self) -> str:
        return f"127.0.0.1:{self.port}"


def pod_env(container: dict, pod: str, password: str) -> dict[str, str]:
    """The container's environment as the kubelet would give it: fieldRef POD_NAME, secretKeyRef
    values, and $(VAR) references expanded."""
    env: dict[str, str] = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), e["value"])
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[e["name"]] = pod
        elif "secretKeyRef" in e.get("valueFrom", {}):
            env[e["name"]] = password
        else:
            raise AssertionError(f"env {e['name']}: source not handled by the live test: {e}")
    return env


def local_exporter(cluster: Cluster, container: dict, *, member: str, pod: str, pod_address: str,
                   local_address: str, binary: str, password_file: str, password: str) -> Exporter:
    """The rendered exporter `container` of pod `pod`, pointed at `local_address` in place of the pod's
    DNS name, reading the cluster's password file in place of the mounted Secret, serving on a free
    local port (in a pod every exporter has its own IP and serves on 9121)."""
    binary = _reachable(cluster, binary)
    env = pod_env(container, pod, password)
    env = {k: v.replace(pod_address, local_address) for k, v in env.items()}
    assert local_address in env["REDIS_ADDR"], f"{member}: REDIS_ADDR {env['REDIS_ADDR']} does not name {pod_address}"
    (port,) = free_ports(1)
    env["REDIS_EXPORTER_WEB_LISTEN_ADDRESS"] = f"127.0.0.1:{port}"
    env["PATH"] = f"{Path(binary).parent}:{cluster.bin}"
    argv = [a.replace(contract.PASSWORD_FILE, password_file).replace("/redis_exporter", binary)
            for a in container.get("command") or [binary]] + list(container.get("args") or [])
    return Exporter(name=f"exporter-{member}", member=member, pod=pod, port=port, env=env, argv=argv)


def _reachable(cluster: Cluster, binary: str) -> str:
    """A copy of the binary the pods' user can run (the toolchain cache may be under root's home)."""
    target = cluster.root / "exporter-bin" / EXPORTER_BINARY
    if not target.exists():
        target.parent.mkdir(mode=0o755, exist_ok=True)
        shutil.copy(binary, target)
        target.chmod(0o755)
    return str(target)


def start(cluster: Cluster, e: Exporter) -> None:
    log = open(cluster.root / f"{e.name}.log", "a")
    e.proc = subprocess.Popen([*cluster._prefix(), *e.argv], env=e.env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True, cwd=str(cluster.root))
    log.close()


def stop(e: Exporter) -> None:
    if e.proc is not None and e.proc.poll() is None:
        e.proc.terminate()
        try:
            e.proc.wait(5)
        except subprocess.TimeoutExpired:
            e.proc.kill()
            e.proc.wait(5)


def scrape(e: Exporter, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{e.instance}/metrics", timeout=timeout) as r:
            return r.read().decode()
    except OSError:
        return None


SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class Recording:
    """Every scrape of every exporter, by step (step i at i * interval seconds)."""

    interval_s: int
    jobs: dict[str, str]                 # exporter name -> job label
    steps: list[dict[SeriesKey, float]] = field(default_factory=list)
    started: float = 0.0
    names: set[str] = field(default_factory=set)

    def step_at(self, t: float) -> int:
        """The first step at or after monotonic time t."""
        return max(0, math.ceil((t - self.started) / self.interval_s))


class Scraper(threading.Thread):
    """Scrapes every exporter each `interval_s` seconds, labelling samples as a PodMonitor scrape
    would (job, instance, pod) and adding `up` per target."""

    def __init__(self, exporters: list[Exporter], jobs: dict[str, str], interval_s: int = 5):
        super().__init__(daemon=True)
        self.exporters = exporters
        self.recording = Recording(interval_s=interval_s, jobs=jobs)
        self.halt = threading.Event()

    def run(self) -> None:
        rec = self.recording
        rec.started = time.monotonic()
        n = 0
        while not self.halt.is_set():
            samples: dict[SeriesKey, float] = {}
            for e in self.exporters:
                target = {"job": rec.jobs[e.name], "instance": e.instance, "pod": e.pod}
                text = scrape(e)
                samples[("up", tuple(sorted(target.items())))] = 0.0 if text is None else 1.0
                if text is None:
                    continue
                for family in text_string_to_metric_families(text):
                    for s in family.samples:
                        rec.names.add(s.name)
                        labels = {**s.labels, **target}
                        samples[(s.name, tuple(sorted(labels.items())))] = float(s.value)
            rec.steps.append(samples)
            n += 1
            self.halt.wait(max(0.0, rec.started + n * rec.interval_s - time.monotonic()))

    def stop(self) -> Recording:
        self.halt.set()
        self.join(30)
        return self.recording


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    return repr(v)


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def input_series(rec: Recording, names: set[str] | None = None) -> list[tuple[str, str]]:
    """promtool input series: a value at each step a series was scraped, `stale` at the first step
    it was not (what Prometheus writes when a series vanishes from a scrape), `_` otherwise."""
    keys = sorted({k for step in rec.steps for k in step if names is None or k[0] in names})
    out = []
    for name, labels in keys:
        values, present = [], False
        for step in rec.steps:
            if (name, labels) in step:
                values.append(_value(step[(name, labels)]))
                present = True
            else:
                values.append("stale" if present else "_")
                present = False
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
        out.append((f"{name}{{{inner}}}", " ".join(values)))
    return out
