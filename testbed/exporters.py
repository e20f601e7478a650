"""Every exporter container of a rendered StatefulSet-pattern cache running beside a live cluster as its
pod would run it (pod_runner: the rendered command, env, user and Secret volume, the image's program,
a network namespace per pod whose 127.0.0.1:<port> is that pod's Redis or Sentinel), a scraper that
records every /metrics page on a fixed cadence labelled as the PodMonitor scrape would label it, and
the conversion of that recording into promtool input series (staleness where a series vanishes).
"""
from __future__ import annotations

import math
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from cache_patterns.core import images

from testbed import engines, pod_runner
from testbed.members import SecretVolume
from testbed.statefulset import LocalStatefulSet
from testbed.image_root import ImageRoot


@dataclass
class PodExporter:
    """The exporter container of one pod: its network, process and metrics socket."""

    name: str          # redis-0, sentinel-1 ... (the live member it watches)
    pod: str           # the pod name the rendered StatefulSet gives it
    job: str           # what the PodMonitor's job label will be
    net: pod_runner.PodNetwork
    proc: subprocess.Popen
    sock: Path
    log: Path

    @property
    def instance(self) -> str:
        # In a cluster: <pod IP>:9121. The pod name stands in for the IP.
        return f"{self.pod}:9121"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.net.close()


def secret_files(pod: dict, volume_name: str, secrets: dict) -> dict[str, bytes]:
    """A Secret volume's files (items and all), as the kubelet lays them out."""
    vol = next(v for v in pod["volumes"] if v["name"] == volume_name)["secret"]
    data = secrets[vol["secretName"]]["stringData"]
    items = vol.get("items") or [{"key": k, "path": k} for k in data]
    return {i["path"]: data[i["key"]].encode() for i in items}


def start(cluster: LocalStatefulSet, root: Path, pod_spec: dict, secrets: dict, *, member: str, pod: str, job: str,
          server_port: int) -> PodExporter:
    """Run the `exporter` container of `pod_spec` for live member `member` (listening on `server_port`
    of this machine), as pod `pod`."""
    container = next(c for c in pod_spec["containers"] if c["name"] == "exporter")
    workdir = root / f"pod-{member}"
    workdir.mkdir()
    volumes: dict[str, Path] = {}
    for m in container.get("volumeMounts") or []:
        if m["name"] == "cache-auth":
            SecretVolume(workdir / "auth", cluster._own).write(secret_files(pod_spec, "cache-auth", secrets))
            volumes["cache-auth"] = workdir / "auth"
        elif m["name"] == "tls-live":
            volumes["tls-live"] = cluster.members[member].tls_live
        else:
            raise AssertionError(f"exporter volume {m['name']} not laid out by the live test")
    image = ImageRoot(images.of(container["image"]), workdir / "image")
    c = pod_runner.Container(container, image, volumes=volumes, fields={"metadata.name": pod})
    addr = next(e["value"] for e in container["env"] if e["name"] == "REDIS_ADDR")
    inside_port = int(addr.rsplit(":", 1)[1])
    net = pod_runner.PodNetwork(workdir)
    net.forward_in(inside_port, server_port)
    metrics_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "metrics")
    sock = net.expose(metrics_port)
    sc = container["securityContext"]
    log = workdir / "exporter.log"
    with open(log, "w") as out:
        proc = net.popen([engines.which("setpriv") or "setpriv", f"--reuid={sc['runAsUser']}",
                          f"--regid={sc['runAsGroup']}", "--clear-groups", "--inh-caps=-all", *c.argv()],
                         env=c.env(), cwd="/", stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return PodExporter(name=member, pod=pod, job=job, net=net, proc=proc, sock=sock, log=log)


def scrape(e: PodExporter, timeout: float = 3.0) -> str | None:
    try:
        status, body = pod_runner.http_get(e.sock, "/metrics", timeout=timeout)
    except OSError:
        return None
    return body if status == 200 else None


SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class Recording:
    """Every scrape of every exporter, by step (step i at i * interval seconds)."""

    interval_s: int
    steps: list[dict[SeriesKey, float]] = field(default_factory=list)
    started: float = 0.0
    names: set[str] = field(default_factory=set)

    def step_at(self, t: float) -> int:
        """The first step at or after monotonic time t."""
        return max(0, math.ceil((t - self.started) / self.interval_s))


class Scraper(threading.Thread):
    """Scrapes every exporter each `interval_s` seconds, labelling samples as a PodMonitor scrape
    would (job, instance, pod) and adding `up` per target."""

    def __init__(self, exporters: list[PodExporter], interval_s: int = 5):
        super().__init__(daemon=True)
        self.exporters = exporters
        self.recording = Recording(interval_s=interval_s)
        self.halt = threading.Event()

    def run(self) -> None:
        rec = self.recording
        rec.started = time.monotonic()
        n = 0
        while not self.halt.is_set():
            samples: dict[SeriesKey, float] = {}
            for e in self.exporters:
                target = {"job": e.job, "instance": e.instance, "pod": e.pod}
                text = scrape(e)
                samples[("up", tuple(sorted(target.items())))] = 0.0 if text is None else 1.0
                if text is None:
                    continue
                for family in text_string_to_metric_families(text):
                    for s in family.samples:
                        rec.names.add(s.name)
                        samples[(s.name, tuple(sorted({**s.labels, **target}.items())))] = float(s.value)
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


def input_series(rec: Recording, names: set[str] | None = None, hold: int = 0) -> list[tuple[str, str]]:
    """promtool input series: a value at each step a series was scraped, `stale` at the first step
    it was not (what Prometheus writes when a series vanishes from a scrape), `_` otherwise. `hold`:
    that many more steps as the last one was (nothing changes after the recording)."""
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
        if hold:
            values.append(f"{values[-1] if present else '_'}x{hold - 1}")
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
        out.append((f"{name}{{{inner}}}", " ".join(values)))
    return out
