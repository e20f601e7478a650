"""Real redis-server processes for the conformance scenarios: an L2 on a free TCP port (or a Sentinel
in front of it, or a 3-node cluster, or a replica to fail over to), one L1 per pod on a unix socket in
a short temp dir. Every process is stopped by PID when the scenario ends, and can be killed, paused or
restarted on the way. `Proxy` is a TCP proxy whose target can be moved (new connections only).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], object], timeout: float = 3.0, what: str = "condition") -> None:
    """Poll every 5 ms; fail naming `what` after `timeout` seconds. Every wait is bounded."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


class Server:
    """One redis-server (or valkey-server): TCP when `port`, else a socket-only server on `unixsocket`."""

    def __init__(self, binary: str, workdir: Path, name: str, port: int = 0, unixsocket: Optional[str] = None,
                 args: Sequence[str] = (), conf: Optional[Path] = None) -> None:
        self.binary, self.workdir, self.name = binary, workdir, name
        self.port, self.unixsocket, self.args, self.conf = port, unixsocket, tuple(args), conf
        self.password: Optional[str] = None
        self.tls: Optional[Path] = None  # the directory of ca.crt, server.crt, server.key: TLS only
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> "Server":
        cmd = [self.binary] + ([str(self.conf), "--sentinel"] if self.conf else [])
        cmd += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
                "--logfile", str(self.workdir / f"{self.name}.log")]
        if self.tls is not None:
            cmd += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls / "server.crt"),
                    "--tls-key-file", str(self.tls / "server.key"), "--tls-ca-cert-file", str(self.tls / "ca.crt"),
                    "--tls-auth-clients", "no"]
        if self.conf is None:
            cmd += ["--save", "", "--appendonly", "no"]
        if self.unixsocket:
            cmd += ["--unixsocket", self.unixsocket, "--unixsocketperm", "700"]
        self.proc = subprocess.Popen(cmd + list(self.args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = self.client()
        try:
            wait_until(lambda: self._pings(probe), 5.0, f"{self.name} to answer PING")
        finally:
            probe.close()
        return self

    def _pings(self, client: redis.Redis) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.workdir / f"{self.name}.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{log}")
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def client(self, password: Optional[str] = None) -> redis.Redis:
        """A plain redis-py client, for setting up and inspecting state behind the clients' backs (with
        `password` instead of the server's own, after a test changed it)."""
        password = self.password if password is None else password
        if self.unixsocket and not self.port:
            return redis.Redis(unix_socket_path=self.unixsocket, socket_timeout=2, password=password)
        tls = {} if self.tls is None else {"ssl": True, "ssl_ca_certs": str(self.tls / "ca.crt"), "ssl_check_hostname": False}
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, password=password, **tls)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL and reap: a crash, no goodbye on any connection."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGCONT)  # a paused server cannot handle SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


class Servers:
    """The servers of one scenario, all stopped by PID in `close`."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="cp-conf-"))  # short: unix socket paths max out near 107 bytes
        self.started: List[Server] = []

    def tcp(self, name: str, args: Sequence[str] = (), password: Optional[str] = None, tls: bool = False) -> Server:
        if password is not None:
            args = tuple(args) + ("--requirepass", password)
        server = Server(self.binary, self.dir, name, port=free_port(), args=args)
        server.password = password
        server.tls = self.certificates() if tls else None
        self.started.append(server)
        return server.start()

    def unix(self, name: str) -> Server:
        server = Server(self.binary, self.dir, name, unixsocket=str(self.dir / f"{name}.sock"))
        self.started.append(server)
        return server.start()

    def replica(self, name: str, primary: Server) -> Server:
        """A replica of `primary`, returned once its link is up (same password). Both sync without the
        diskless delay (5 s by default), as a scenario does not wait for more replicas to join."""
        admin = primary.client()
        try:
            admin.config_set("repl-diskless-sync-delay", 0)
        finally:
            admin.close()
        args = ("--replicaof", "127.0.0.1", str(primary.port), "--repl-diskless-sync-delay", "0")
        if primary.password is not None:
            args += ("--masterauth", primary.password)
        server = self.tcp(name, args, password=primary.password)
        probe = server.client()
        try:
            wait_until(lambda: probe.info("replication").get("master_link_status") == "up", 5.0,
                       f"{name} to sync with {primary.name}")
        finally:
            probe.close()
        return server

    def sentinel(self, name: str, primary: Server, master: str = "mymaster") -> Server:
        """A Sentinel watching `primary` (quorum 1), returned once it names the primary's address."""
        conf = self.dir / f"{name}.conf"
        conf.write_text(f"sentinel monitor {master} 127.0.0.1 {primary.port} 1\n")
        server = Server(self.binary, self.dir, name, port=free_port(), conf=conf)
        self.started.append(server)
        server.start()
        probe = server.client()
        try:
            wait_until(lambda: probe.sentinel_get_master_addr_by_name(master), 5.0, f"{name} to know the primary")
        finally:
            probe.close()
        return server

    def cluster(self, nodes: int = 3) -> List[Server]:
        """`nodes` primaries with the 16384 slots split evenly, joined with CLUSTER MEET."""
        servers, bus_ports = [], []
        for i in range(nodes):
            bus_ports.append(free_port())
            servers.append(self.tcp(f"cluster-{i}", ("--cluster-enabled", "yes", "--cluster-config-file",
                                                     f"cluster-{i}.nodes", "--cluster-port", str(bus_ports[-1]))))
        per = 16384 // nodes
        for i, server in enumerate(servers):
            admin = server.client()
            admin.execute_command("CLUSTER", "ADDSLOTSRANGE", i * per, 16383 if i == nodes - 1 else (i + 1) * per - 1)
            if i:
                admin.execute_command("CLUSTER", "MEET", "127.0.0.1", servers[0].port, bus_ports[0])
            admin.close()

        def converged() -> bool:
            for server in servers:
                admin = server.client()
                try:
                    if b"cluster_state:ok" not in admin.execute_command("CLUSTER", "INFO"):
                        return False
                finally:
                    admin.close()
            return True

        wait_until(converged, 10.0, "the cluster to converge")
        return servers

    def certificates(self) -> Path:
        """A CA, a server certificate for localhost and 127.0.0.1 signed by it, and another CA that
        signed nothing (for a client that must refuse the server), made once with openssl."""
        tls = self.dir / "tls"
        if not (tls / "server.crt").exists():
            tls.mkdir(exist_ok=True)
            ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

            def openssl(*args: str) -> None:
                subprocess.run(["openssl", *args], cwd=tls, check=True, capture_output=True)
            for ca in ("ca", "other-ca"):
                openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN={ca}")
            openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
            (tls / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
            openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                    "-out", "server.crt", "-days", "2", "-extfile", "ext")
        return tls

    def close(self) -> None:
        for server in self.started:
            server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Proxy:
    """A TCP proxy on a free port to `target`'s port; `move(server)` sends new connections elsewhere and
    leaves open ones where they are (a load balancer that does not close sessions on a switch)."""

    def __init__(self, target: Server) -> None:
        self.target_port = target.port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.closed = False
        self.sockets: List[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def move(self, server: Server) -> None:
        self.target_port = server.port

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                continue
            upstream.settimeout(None)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for sock in self.sockets:
            sock.close()
