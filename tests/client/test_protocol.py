"""Pure tests of the invalidation message format (protocol version 1) that other languages implement.

The byte-level examples here are the reference vectors quoted in the README.
"""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cache_patterns_client import protocol


def test_reference_vectors() -> None:
    assert protocol.encode_key("a1b2", "user:42") == b"1 a1b2 k user:42"
    assert protocol.encode_key("a1b2", b"with space\x00") == b"1 a1b2 k with space\x00"
    assert protocol.encode_flush("ops") == b"1 ops *"
    assert protocol.decode(b"1 a1b2 k user:42") == protocol.Invalidation(b"a1b2", b"user:42", False)
    assert protocol.decode(b"1 ops *") == protocol.Invalidation(b"ops", None, True)
    assert protocol.decode(b"1 a1b2 k ") == protocol.Invalidation(b"a1b2", b"", False)


@given(origin=st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True), key=st.binary(max_size=200))
def test_any_key_round_trips(origin: str, key: bytes) -> None:
    decoded = protocol.decode(protocol.encode_key(origin, key))
    assert (decoded.origin, decoded.key, decoded.flush) == (origin.encode(), key, False)


def test_anything_unexpected_reads_as_flush() -> None:
    for payload in (b"", b"2 a k key", b"1 a", b"1 a x key", b"1 a *extra", b"1 a * x", b"1 b@d k key", b"garbage"):
        assert protocol.decode(payload) == protocol.Invalidation(b"", None, True), payload
