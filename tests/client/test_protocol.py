"""Pure tests of the invalidation message format (protocol 2) that every client implements: the shared
byte-level vectors (clients/conformance/vectors.json, which the Go and TypeScript clients' own tests
read too), and round trips of any key and value."""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from cache_patterns_client import protocol
from cache_patterns_client.l1 import bucket_of

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "clients" / "conformance" / "vectors.json").read_text())


def field(case: dict, name: str) -> bytes:
    return bytes.fromhex(case[f"{name}_hex"]) if f"{name}_hex" in case else case[name].encode()


def test_digest_and_bucket_vectors() -> None:
    assert VECTORS["protocol_version"] == int(protocol.VERSION) == 2
    for case in VECTORS["digest"]:
        assert protocol.digest(field(case, "value")).decode() == case["digest"], case
    for case in VECTORS["bucket"]:
        assert bucket_of(field(case, "key")) == case["bucket"], case


def test_encode_vectors() -> None:
    for case in VECTORS["encode"]:
        key = field(case, "key") if "key" in case or "key_hex" in case else b""
        if case["kind"] == "value":
            got = protocol.encode_value(case["origin"], key, protocol.digest(field(case, "value")), case["ttl_ms"])
        elif case["kind"] == "key":
            got = protocol.encode_key(case["origin"], key, case.get("version", 2))
        else:
            got = protocol.encode_flush(case["origin"], case.get("version", 2))
        assert got == field(case, "payload"), case


def test_decode_vectors_anything_unexpected_reads_as_flush() -> None:
    for case in VECTORS["decode"]:
        inv = protocol.decode(field(case, "payload"))
        key = field(case, "key") if "key" in case or "key_hex" in case else None
        ann = inv.announced
        assert (inv.origin.decode(), inv.key, inv.flush, ann.digest.decode() if ann else None,
                ann.ttl_ms if ann else None) == (case["origin"], key, case["flush"], case["digest"], case["ttl_ms"]), case


@given(origin=st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True), key=st.binary(max_size=200))
def test_any_key_round_trips(origin: str, key: bytes) -> None:
    decoded = protocol.decode(protocol.encode_key(origin, key))
    assert (decoded.origin, decoded.key, decoded.flush, decoded.announced) == (origin.encode(), key, False, None)


@given(key=st.binary(max_size=200), value=st.binary(max_size=200),
       ttl=st.one_of(st.none(), st.integers(min_value=1, max_value=10**12)))
def test_any_write_announcement_round_trips(key: bytes, value: bytes, ttl: int | None) -> None:
    decoded = protocol.decode(protocol.encode_value("pod", key, protocol.digest(value), ttl))
    assert decoded.key == key and decoded.announced == protocol.Announcement(protocol.digest(value), ttl)
