"""testbed/resp.py: the planner's live tests load their keys as raw RESP (testbed/memory_probe.load); a
SET the server refuses must stop the load with the server's own words, not count as loaded."""
from __future__ import annotations

import socket

import pytest

from testbed import resp


def test_set_commands_are_framed_as_a_client_sends_them():
    assert resp.set_command(b"k1", b"v", ttl=False) == b"*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$1\r\nv\r\n"
    assert resp.set_command(b"k1", b"v", ttl=True).endswith(b"$1\r\nv\r\n$2\r\nEX\r\n$5\r\n86400\r\n")


def test_every_reply_must_be_ok_and_a_refusal_is_raised_with_its_text():
    ours, server = socket.socketpair()
    with ours, server:
        server.sendall(b"+OK\r\n+OK\r\n")
        resp.expect_ok(ours, 2)
        server.sendall(b"+OK\r\n-OOM command not allowed when used memory > 'maxmemory'.\r\n")
        with pytest.raises(RuntimeError, match="OOM command not allowed when used memory > 'maxmemory'"):
            resp.expect_ok(ours, 3)


def test_a_connection_closed_early_says_how_many_replies_came():
    ours, server = socket.socketpair()
    with ours:
        server.sendall(b"+OK\r\n")
        server.close()
        with pytest.raises(ConnectionError, match="after 1 of 3 replies"):
            resp.expect_ok(ours, 3)
