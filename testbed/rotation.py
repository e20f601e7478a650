"""Certificate rotation under a running cluster, measured: cert-manager's renewal reaches each pod's
Secret volume when its kubelet syncs (here: each pod at its own moment, in random order), and the
pods' tls-reload.sh must make every process serve and trust the new files without losing an
acknowledged write or starting a failover. Used by tests/live/test_tls_rotation.py (assertions) and
benchmarks/tls_reload.py (figures with the stacks' own timing)."""
from __future__ import annotations

import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from testbed.statefulset import LocalStatefulSet
from testbed.support import Writer, missing_keys
from testbed.tls import TlsMaterial, cert_field, pem_to_der, served_certificate


@dataclass
class Rotation:
    """What one rotation did, times in seconds from each pod's own Secret swap."""

    kind: str                                  # "renewal" (same CA) or "new CA"
    serial: str
    issuer: str
    served_after: dict[str, float] = field(default_factory=dict)   # member -> new certificate served
    haproxy_reloads: list[float] = field(default_factory=list)     # after HAProxy's swap
    max_sentinels_down: int = 0
    sentinel_restarts: int = 0
    writes_acked: int = 0
    writes_lost: int = 0
    write_errors: int = 0
    readonly_errors: int = 0               # writes the endpoint sent to a replica
    longest_write_gap: float = 0.0
    gap_at: float | None = None            # when that gap began, from the first Secret swap
    gap_writer: str = ""
    failovers: list[str] = field(default_factory=list)             # +switch-master / master sdown lines
    sentinel_sdowns: int = 0
    # TLS handshakes a verifier refused (a certificate signed by a CA it did not trust yet).
    handshake_errors: list[str] = field(default_factory=list)
    endpoint_serves_new: bool = False
    endpoint_serial: str = ""              # serial and issuer of what a new connection to the
    endpoint_issuer: str = ""              # write endpoint receives, as openssl reads them
    primary_before: int | None = None
    primary_after: int | None = None

    @property
    def complete(self) -> bool:
        return bool(self.served_after) and all(v is not None for v in self.served_after.values())


def _master_cli(sock: Path, command: str, timeout: float = 2) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        # The master CLI answers once the client has finished sending.
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode(errors="replace")


def haproxy_reloads(cluster: LocalStatefulSet) -> int | None:
    """The master's reload counter (`show proc` on the master CLI socket)."""
    sock = cluster.members["haproxy"].run_dir / "haproxy-master.sock"
    try:
        out = _master_cli(sock, "show proc")
    except OSError:
        return None
    m = re.search(r"^\d+\s+master\s+(\d+)", out, re.M)
    return int(m.group(1)) if m else None


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def _log_lines(cluster: LocalStatefulSet, prefix: str) -> list[str]:
    out = []
    for name, m in cluster.members.items():
        if name.startswith(prefix) and m.log.exists():
            out += m.log.read_text(errors="replace").splitlines()
    return out


def random_offsets(pods: list[str], spread_s: float, rng: random.Random, last: str | None = None,
                   last_at: float | None = None) -> dict[str, float]:
    """When each pod's kubelet brings the update: uniformly within `spread_s`; `last` at `last_at`."""
    out = {pod: round(rng.uniform(0, spread_s), 2) for pod in pods}
    if last is not None:
        out[last] = last_at if last_at is not None else spread_s
    return out


HANDSHAKE_ERRORS = re.compile(r"unknown ca|certificate verify failed|SSL handshake failure|Layer6")


def quiet_gap(writers: tuple[Writer, ...], seconds: float) -> float:
    """The longest time without an acknowledged write over `seconds` with nothing happening: what
    the machine alone costs the writers (a baseline for the gaps during a rotation)."""
    t0 = time.monotonic()
    time.sleep(seconds)
    longest = 0.0
    for w in writers:
        times = [t for t in w.successes if t >= t0]
        longest = max([longest] + [b - a for a, b in zip(times, times[1:])])
    return round(longest, 3)


def rotate(cluster: LocalStatefulSet, material: TlsMaterial, kind: str, offsets: dict[str, float],
           timeout: float, settle_after: float = 2.0, writers: tuple[Writer, ...] = ()) -> Rotation:
    """Install `material` in every pod (each at its offset), then watch until every Redis and
    Sentinel serves it (or `timeout`), `settle_after` more seconds of writes, and report."""
    want = pem_to_der(material.cert)
    result = Rotation(kind=kind, serial=material.serial(), issuer=cert_field(material.cert.read_bytes(), "issuer"))
    ports = {f"redis-{i}": p for i, p in enumerate(cluster.redis_ports)} | \
        {f"sentinel-{i}": p for i, p in enumerate(cluster.sentinel_ports)}
    result.primary_before = cluster.agreed_primary()
    log_mark = {name: len(m.log.read_text(errors="replace").splitlines()) if m.log.exists() else 0
                for name, m in cluster.members.items()}
    restarts_before = sum("restarting Sentinel" in line for line in _log_lines(cluster, "sentinel-"))
    reloads_before = haproxy_reloads(cluster) or 0
    acked_before = {w: len(w.acked) for w in writers}
    errors_before = {w: len(w.error_times) for w in writers}
    stop = threading.Event()
    served: dict[str, float] = {}
    reload_times: list[float] = []
    down_max = [0]

    def watch() -> None:
        seen_reloads = reloads_before
        while not stop.is_set():
            for name, port in ports.items():
                if name not in served:
                    try:
                        if served_certificate(port, timeout=0.5) == want:
                            served[name] = time.monotonic()
                    except OSError:
                        pass
            n = haproxy_reloads(cluster)
            if n is not None and n > seen_reloads:
                reload_times.extend([time.monotonic()] * (n - seen_reloads))
                seen_reloads = n
            time.sleep(0.05)

    def sentinels_down() -> None:
        # A Sentinel restart takes ~0.1 s: sample every 10 ms (a refused connect costs microseconds).
        while not stop.is_set():
            down_max[0] = max(down_max[0], sum(not _port_open(p) for p in cluster.sentinel_ports))
            time.sleep(0.01)

    watchers = [threading.Thread(target=watch, daemon=True), threading.Thread(target=sentinels_down, daemon=True)]
    for w in watchers:
        w.start()
    t_start = time.monotonic()
    swaps = cluster.install_tls(material, offsets)
    t_first = min(swaps.values())
    deadline = time.monotonic() + timeout
    while len(served) < len(ports) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(settle_after)
    stop.set()
    for w in watchers:
        w.join(5)

    result.served_after = {name: round(served[name] - swaps[name], 2) if name in served else None
                           for name in ports}  # type: ignore[misc]
    result.haproxy_reloads = [round(t - swaps["haproxy"], 2) for t in reload_times]
    result.max_sentinels_down = down_max[0]
    result.sentinel_restarts = sum("restarting Sentinel" in line
                                   for line in _log_lines(cluster, "sentinel-")) - restarts_before
    fresh = {name: m.log.read_text(errors="replace").splitlines()[log_mark[name]:] for name, m in cluster.members.items()}
    new_lines = [line for name, lines in fresh.items() if name.startswith("sentinel-") for line in lines]
    result.handshake_errors = [f"{name}: {line}" for name, lines in fresh.items() for line in lines
                               if HANDSHAKE_ERRORS.search(line)]
    result.failovers = [line for line in new_lines if "+switch-master" in line or "+failover" in line
                        or re.search(r"[+](s|o)down master", line)]
    result.sentinel_sdowns = sum("+sdown sentinel" in line for line in new_lines)
    try:
        served = served_certificate(cluster.write_port)
        result.endpoint_serves_new = served == want
        result.endpoint_serial, result.endpoint_issuer = cert_field(served, "serial"), cert_field(served, "issuer")
    except OSError:
        result.endpoint_serves_new = False
    result.primary_after = cluster.agreed_primary()
    primary = result.primary_after if result.primary_after is not None else result.primary_before
    for w in writers:
        acked = w.acked[acked_before[w]:]
        result.writes_acked += len(acked)
        result.write_errors += len(w.error_times) - errors_before[w]
        result.readonly_errors += sum("READONLY" in e for e in w.errors[errors_before[w]:])
        times = [t for t in w.successes if t >= t_start]
        for a, b in zip(times, times[1:]):
            if b - a > result.longest_write_gap:
                result.longest_write_gap, result.gap_at, result.gap_writer = round(b - a, 3), round(a - t_first, 2), w.prefix
        if primary is not None:
            with cluster.redis(primary, timeout=5) as r:
                result.writes_lost += len(missing_keys(r, acked))
    return result
