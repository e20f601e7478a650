"""Forward a TCP port of the host's loopback into a network namespace:

    python -m e2e.nsforward LISTEN_HOST LISTEN_PORT NETNS_PATH TARGET_HOST TARGET_PORT

The listening socket is made first, in the host's namespace; then the process enters NETNS_PATH
(`/proc/<pid>/ns/net`), so every connection it opens to the target is made inside. The real-node
cluster (e2e/node.py) reaches its API server this way from the host: kubectl, the Pulumi engine and
the tests' clients use an ordinary kubeconfig, while the cluster itself lives in its own namespace.
"""
from __future__ import annotations

import socket
import sys
import threading

from e2e.netns import setns


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    t = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    t.start()
    _pipe(client, upstream)
    t.join()
    client.close()
    upstream.close()


def main(argv: list[str]) -> int:
    listen_host, listen_port, netns, target_host, target_port = argv
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((listen_host, int(listen_port)))
    server.listen(64)
    setns(netns)   # the process has one thread here: all of it moves
    target = (target_host, int(target_port))
    while True:
        client, _ = server.accept()
        threading.Thread(target=_serve, args=(client, target), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
