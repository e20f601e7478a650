"""The random provider stand-in (e2e/plugins/cmd/pulumi-resource-random), driven over gRPC as the
engine drives it, against the table of what terraform-provider-random v3.9.0's random_password does
(the release pulumi-random 4.21 bridges): docs/engine.md, "RandomPassword, rule by rule". Each row of
that table (R1, R2, ...) has a test here whose name starts with it; a row without one fails
`test_every_row_of_the_table_has_its_test`. Needs the built stand-in (`./run toolchain
pulumi-resource-random`): skipped without it, failed in CI."""
from __future__ import annotations

import re
import subprocess
import warnings
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest
from google.protobuf import json_format, struct_pb2

from e2e import toolchain
from tests.conftest import skip_or_fail

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt   # libxcrypt's bcrypt ($2a$) checks the hash; removed from Python 3.13's stdlib

ROOT = Path(__file__).resolve().parent.parent
URN = "urn:pulumi:t::p::random:index/randomPassword:RandomPassword::pw"
UPPER, LOWER, DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz", "0123456789"
SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
# What the program sends (components/cache_patterns/core/passwords.py), as the SDK sends it.
PROGRAM = {"length": 48, "special": False, "upper": True, "lower": True, "numeric": True, "minUpper": 4,
           "minLower": 4, "minNumeric": 4, "keepers": {"generation": "1"}}


class Provider:
    """The stand-in binary, started as the engine starts a plugin (it prints its port), and its RPCs."""

    def __init__(self, binary: Path) -> None:
        import grpc
        from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

        self.pb = provider_pb2
        self.proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, text=True)
        port = int(self.proc.stdout.readline().strip())   # type: ignore[union-attr]
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    @staticmethod
    def struct(value: dict) -> struct_pb2.Struct:
        s = struct_pb2.Struct()
        s.update(value)
        return s

    @staticmethod
    def plain(s: struct_pb2.Struct) -> dict:
        return json_format.MessageToDict(s)

    def check(self, news: dict, olds: dict | None = None) -> tuple[dict, list[tuple[str, str]]]:
        r = self.stub.Check(self.pb.CheckRequest(urn=URN, olds=self.struct(olds or {}), news=self.struct(news)))
        return self.plain(r.inputs), [(f.property, f.reason) for f in r.failures]

    def checked(self, news: dict) -> dict:
        inputs, failures = self.check(news)
        assert failures == [], failures
        return inputs

    def create(self, news: dict) -> dict:
        r = self.stub.Create(self.pb.CreateRequest(urn=URN, properties=self.struct(self.checked(news))))
        assert r.id == "none"
        return self.plain(r.properties)

    def diff(self, old_inputs: dict, news: dict) -> tuple[int, list[str], list[str]]:
        olds = self.checked(old_inputs)
        r = self.stub.Diff(self.pb.DiffRequest(urn=URN, id="none", olds=self.struct(olds),
                                               old_inputs=self.struct(olds), news=self.struct(self.checked(news))))
        return r.changes, sorted(r.diffs), sorted(r.replaces)

    def close(self) -> None:
        self.channel.close()
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    binary = toolchain.bin_dir("pulumi-resource-random") / "pulumi-resource-random"
    if not binary.exists():
        skip_or_fail(f"the random stand-in is not built ({binary}): ./run toolchain pulumi-resource-random")
    p = Provider(binary)
    try:
        yield p
    finally:
        p.close()


def many(provider: Provider, news: dict, n: int = 12) -> list[str]:
    return [provider.create(news)["result"] for _ in range(n)]


def test_r1_the_character_sets_and_override_special(provider):
    for pw in many(provider, {"length": 64}):
        assert set(pw) <= set(UPPER + LOWER + DIGITS + SPECIAL)
    seen = Counter(c for pw in many(provider, {"length": 200}, 8) for c in pw)
    assert set(seen) == set(UPPER + LOWER + DIGITS + SPECIAL), "every character of the four sets occurs"
    for pw in many(provider, {"length": 30, "overrideSpecial": "é€_", "upper": False, "lower": False,
                               "numeric": False}, 5):
        assert len(pw) == 30 and set(pw) <= set("é€_"), pw   # runes, not bytes


def test_r2_defaults_filled_by_check(provider):
    inputs = provider.checked({"length": 12})
    assert inputs == {"length": 12, "special": True, "upper": True, "lower": True, "numeric": True, "number": True,
                      "minSpecial": 0, "minUpper": 0, "minLower": 0, "minNumeric": 0}
    assert provider.checked({"length": 12, "number": False})["numeric"] is False
    assert provider.checked({"length": 12, "numeric": False})["number"] is False


def test_r3_length_required_positive_and_at_least_the_minimums(provider):
    assert provider.check({})[1] == [("length", "length is required")]
    assert [p for p, _ in provider.check({"length": 0})[1]] == ["length"]
    assert [p for p, _ in provider.check({"length": 5, "minUpper": 3, "minNumeric": 3})[1]] == ["length"]
    assert provider.check({"length": 6, "minUpper": 3, "minNumeric": 3})[1] == []


def test_r4_number_and_numeric_must_agree(provider):
    failures = provider.check({"length": 8, "number": True, "numeric": False})[1]
    assert failures == [("numeric", "Number and numeric are both configured with different values")]


def test_r5_at_least_one_class_set_true_when_numeric_is_false(provider):
    failures = provider.check({"length": 8, "numeric": False, "special": False, "upper": False, "lower": False})[1]
    assert [p for p, _ in failures] == ["numeric"]
    # An unset class counts as true (its default), so this passes: lower is unset.
    assert provider.check({"length": 8, "numeric": False, "special": False, "upper": False})[1] == []


def test_r6_minimums_drawn_from_their_class_even_when_it_is_disabled(provider):
    for pw in many(provider, {"length": 10, "upper": False, "special": False, "minUpper": 3, "minSpecial": 2}):
        assert len(pw) == 10
        assert sum(c in UPPER for c in pw) == 3 and sum(c in SPECIAL for c in pw) == 2, pw
    for pw in many(provider, PROGRAM):
        assert re.fullmatch(r"[A-Za-z0-9]{48}", pw)
        assert sum(c in UPPER for c in pw) >= 4 and sum(c in LOWER for c in pw) >= 4 and sum(c in DIGITS for c in pw) >= 4
    positions = Counter(pw.index(next(c for c in pw if c in UPPER))
                        for pw in many(provider, {"length": 8, "upper": False, "minUpper": 1}, 30))
    assert len(positions) > 3, f"the minimum characters are shuffled in, not placed first: {positions}"


@pytest.mark.parametrize("change", [
    {"length": 49}, {"special": True}, {"upper": False, "minUpper": 0}, {"lower": False, "minLower": 0},
    {"numeric": False, "minNumeric": 0}, {"minUpper": 5}, {"minLower": 5}, {"minNumeric": 5}, {"minSpecial": 1},
    {"keepers": {"generation": "2"}}, {"keepers": {"generation": "1", "why": "leak"}}, {"overrideSpecial": "_"},
])
def test_r7_any_input_change_replaces_the_password(provider, change):
    changes, diffs, replaces = provider.diff(PROGRAM, {**PROGRAM, **change})
    assert changes == provider.pb.DiffResponse.DIFF_SOME
    assert set(change) <= set(diffs) and replaces == diffs, (diffs, replaces)


def test_r8_unchanged_inputs_change_nothing(provider):
    assert provider.diff(PROGRAM, dict(PROGRAM))[0] == provider.pb.DiffResponse.DIFF_NONE
    assert provider.diff({"length": 8}, {"length": 8})[0] == provider.pb.DiffResponse.DIFF_NONE


def test_r9_override_special_from_empty_to_unset_is_an_update_keeping_the_password(provider):
    old = {**PROGRAM, "overrideSpecial": ""}
    changes, diffs, replaces = provider.diff(old, PROGRAM)
    assert (changes, diffs, replaces) == (provider.pb.DiffResponse.DIFF_SOME, ["overrideSpecial"], [])
    state = provider.create(old)
    r = provider.stub.Update(provider.pb.UpdateRequest(urn=URN, id="none", olds=provider.struct(state),
                                                       news=provider.struct(provider.checked(PROGRAM))))
    updated = provider.plain(r.properties)
    assert updated["result"] == state["result"] and updated["bcryptHash"] == state["bcryptHash"]
    assert "overrideSpecial" not in updated


def test_r10_bcrypt_hash_of_the_first_72_bytes(provider):
    state = provider.create(PROGRAM)
    assert state["bcryptHash"].startswith("$2a$10$"), "golang.org/x/crypto/bcrypt at DefaultCost"
    assert crypt.crypt(state["result"], state["bcryptHash"]) == state["bcryptHash"]
    long = provider.create({"length": 100, "special": False})
    assert crypt.crypt(long["result"][:72], long["bcryptHash"]) == long["bcryptHash"]


def test_r11_read_returns_the_state_unchanged(provider):
    state = provider.create(PROGRAM)
    r = provider.stub.Read(provider.pb.ReadRequest(id="none", urn=URN, properties=provider.struct(state),
                                                   inputs=provider.struct(provider.checked(PROGRAM))))
    assert r.id == "none" and provider.plain(r.properties) == state


def test_r12_result_and_bcrypt_hash_are_secret_outputs_of_the_sdk():
    """The secrecy is the SDK's: pulumi_random marks both additional secret outputs, so the engine
    encrypts them in the state whatever the provider returns (the engine tier checks the state)."""
    import inspect

    import pulumi_random

    source = inspect.getsource(pulumi_random.RandomPassword._internal_init)
    assert re.search(r'additional_secret_outputs=\["bcryptHash", "result"\]', source)


def test_every_row_of_the_table_has_its_test():
    text = (ROOT / "docs" / "engine.md").read_text()
    section = text[text.index("### RandomPassword, rule by rule"):]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    rows = re.findall(r"^\| (R\d+) \|", section, re.M)
    assert rows == [f"R{i}" for i in range(1, len(rows) + 1)] and len(rows) >= 12, rows
    tests = {name.split("_")[1].upper() for name in globals() if name.startswith("test_r")}
    assert set(rows) == tests, f"rows without a test: {set(rows) - tests}; tests without a row: {tests - set(rows)}"
