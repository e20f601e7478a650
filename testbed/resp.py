"""SET commands in Redis's own wire framing (RESP), for loading keys faster than a Python client's
pipeline can (testbed/memory_probe.py), and the check that every one of them was answered +OK."""
from __future__ import annotations

import contextlib
import socket


def set_command(name: bytes, payload: bytes, ttl: bool) -> bytes:
    """SET name payload [EX 86400] in the protocol's own framing (RESP)."""
    head = b"*5\r\n$3\r\nSET\r\n" if ttl else b"*3\r\n$3\r\nSET\r\n"
    body = b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name, len(payload), payload)
    return head + body + (b"$2\r\nEX\r\n$5\r\n86400\r\n" if ttl else b"")


def expect_ok(conn: socket.socket, count: int) -> None:
    """Read `count` replies, each `+OK`; an error reply (or anything else) is raised with its text."""
    want = b"+OK\r\n" * count
    got = b""
    while len(got) < len(want):
        chunk = conn.recv(len(want) - len(got))
        if not chunk:
            raise ConnectionError(f"the server closed the connection after {len(got) // 5} of {count} replies")
        got += chunk
        if not want.startswith(got):
            at = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
            reply = got[at - at % len(b"+OK\r\n"):]
            conn.settimeout(1)
            with contextlib.suppress(OSError):   # the rest of the error line, if it comes
                while b"\r\n" not in reply and len(reply) < 200 and (more := conn.recv(200)):
                    reply += more
            line = reply.split(b"\r\n")[0][:200]
            raise RuntimeError(f"a SET got {line!r} instead of +OK")
