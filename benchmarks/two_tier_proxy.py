"""A TCP proxy that delays every byte by a fixed time in each direction: the simulated network for
benchmarks/two_tier.py, because this kernel has no `tc netem`.

Run as its own process (`python two_tier_proxy.py LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT DELAY_US`).
Two threads per direction (reader stamps arrival, writer sends at arrival + delay), so back-to-back
data is not delayed twice. Costs a few tens of microseconds per hop on its own: measure it.
"""
from __future__ import annotations

import collections
import ctypes
import socket
import sys
import threading
import time
from typing import Deque, Optional, Tuple

PR_SET_TIMERSLACK = 29


def precise_sleep_setup() -> None:
    """Linux rounds sleeps up by the thread's timer slack (50 us by default); 1 us keeps a 250 us
    delay near 250 us. Best effort: without it the delay is just a little longer (measured anyway)."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Direction:
    """One direction of one connection."""

    def __init__(self, src: socket.socket, dst: socket.socket, delay: float) -> None:
        self.src, self.dst, self.delay = src, dst, delay
        self.queue: Deque[Tuple[float, Optional[bytes]]] = collections.deque()
        self.ready = threading.Condition()

    def read(self) -> None:
        precise_sleep_setup()
        try:
            while True:
                data = self.src.recv(65536)
                with self.ready:
                    self.queue.append((time.perf_counter() + self.delay, data or None))
                    self.ready.notify()
                if not data:
                    return
        except OSError:
            with self.ready:
                self.queue.append((0.0, None))
                self.ready.notify()

    def write(self) -> None:
        precise_sleep_setup()
        try:
            while True:
                with self.ready:
                    while not self.queue:
                        self.ready.wait()
                    due, data = self.queue.popleft()
                if data is None:
                    break
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                self.dst.sendall(data)
        except OSError:
            pass
        for sock in (self.src, self.dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listen_port: int, upstream: Tuple[str, int], delay: float) -> None:
    server = socket.create_server(("127.0.0.1", listen_port), backlog=256)
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        try:
            backend = socket.create_connection(upstream, timeout=2)
        except OSError:
            client.close()
            continue
        backend.settimeout(None)
        for sock in (client, backend):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for direction in (Direction(client, backend, delay), Direction(backend, client, delay)):
            threading.Thread(target=direction.read, daemon=True).start()
            threading.Thread(target=direction.write, daemon=True).start()


if __name__ == "__main__":
    port, host, upstream_port, delay_us = sys.argv[1:5]
    serve(int(port), (host, int(upstream_port)), int(delay_us) / 1e6)
