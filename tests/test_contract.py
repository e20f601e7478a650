"""The connection contract: one function makes every env var, names are fixed and documented, the
password is a file by default (env only on opt-in, by reference), and a checksum rolls apps."""
from __future__ import annotations

import re

import pulumi
import pytest

from cache_patterns.core import contract
from cache_patterns.core.contract import (CacheBinding, CacheConnection, FileRef, L1Tier, NearCache, PodParts,
                                          SecretRef, SentinelRef)
from tests.resolve import resolve

FULL = CacheConnection(
    host="w.cache.svc.cluster.local", port=6380, tls=True, ca=FileRef("configMap", "ca-cm"), username="app",
    password=SecretRef("pw-secret"), read_host="r.cache.svc.cluster.local", read_port=6381,
    sentinel=SentinelRef(addresses=("s-0:26379", "s-1:26379"), master_name="mymaster", password=SecretRef("pw-secret")),
)
L1 = L1Tier(connection=CacheConnection(host="127.0.0.1", port=6379, socket="/run/cache/redis.sock"),
            ttl_cap_seconds=30, invalidation_channel="chan")
NEAR = L1Tier(connection=None, ttl_cap_seconds=30, invalidation_channel="chan",
              near=NearCache(max_entries=1000, max_bytes=1 << 20, tracking="broadcast", prefixes=("a:", "b:")))


def names(env):
    return [e["name"] for e in env]


def values(env):
    return {e["name"]: resolve(e["value"]) for e in env if "value" in e}


def documented(prefixes=("CACHE", "CACHE_L1", "CACHE_L2")) -> set[str]:
    out = set()
    for name, _, _ in contract.ENV_DOC:
        out |= {name.replace("{P}", p) for p in prefixes} if "{P}" in name else {name}
    return out


def test_every_env_var_the_contract_can_produce_is_documented():
    produced: set[str] = set()
    for l1 in (L1, NEAR):
        binding = CacheBinding(cache="c", pattern="statefulset", connection=FULL, l1=l1, default_ttl_seconds=60)
        produced |= set(names(binding.env(password_env=True)))
        assert names(binding.env(password_env=True)) == binding.env_names(password_env=True)
    assert produced <= documented(), produced - documented()
    # and the full bindings exercise nearly all of the table (only the unix socket of L2 is absent)
    assert documented() - produced <= {"CACHE_SOCKET", "CACHE_L2_SOCKET", "CACHE_L1_TLS_CA_FILE", "CACHE_L1_READ_HOST",
                                       "CACHE_L1_READ_PORT", "CACHE_L1_SENTINELS", "CACHE_L1_SENTINEL_MASTER",
                                       "CACHE_L1_SENTINEL_PASSWORD_FILE", "CACHE_L1_USERNAME", "CACHE_L1_PASSWORD_FILE",
                                       "CACHE_L1_PASSWORD"}


def test_password_is_a_file_by_default_and_never_a_value():
    env = FULL.env()
    assert "CACHE_PASSWORD" not in names(env) and "CACHE_URL" not in names(env)
    assert values(env)["CACHE_PASSWORD_FILE"] == contract.PASSWORD_FILE
    assert values(env)["CACHE_SENTINEL_PASSWORD_FILE"] == contract.PASSWORD_FILE
    assert all("valueFrom" not in e for e in env)


def test_opt_in_password_env_is_a_secret_reference_defined_before_the_url_that_expands_it():
    env = FULL.env(password_env=True)
    order = names(env)
    pw = next(e for e in env if e["name"] == "CACHE_PASSWORD")
    assert pw["valueFrom"] == {"secretKeyRef": {"name": "pw-secret", "key": "password"}}
    assert order.index("CACHE_PASSWORD") < order.index("CACHE_URL")
    assert order.index("CACHE_USERNAME") < order.index("CACHE_URL")
    url = values(env)["CACHE_URL"]
    assert url == "rediss://$(CACHE_USERNAME):$(CACHE_PASSWORD)@w.cache.svc.cluster.local:6380"
    # every $(VAR) refers to a var defined earlier (the kubelet only expands those)
    for e in env:
        for ref in re.findall(r"\$\((\w+)\)", str(values(env).get(e["name"], ""))):
            assert order.index(ref) < order.index(e["name"])


def test_url_without_auth_is_complete_and_a_local_socket_is_preferred():
    assert values(CacheConnection(host="h", port=1).env())["CACHE_URL"] == "redis://h:1"
    local = CacheConnection(host="127.0.0.1", socket="/run/cache/redis.sock")
    assert values(local.env())["CACHE_URL"] == "unix:///run/cache/redis.sock"


def test_secret_is_mounted_as_a_directory_so_rotation_reaches_the_file():
    vols, mounts = FULL.volumes(), FULL.mounts()
    auth = next(v for v in vols if v["name"] == contract.AUTH_VOLUME)
    assert auth["secret"]["secretName"] == "pw-secret"
    assert auth["secret"]["items"] == [{"key": "password", "path": "password"}]
    mount = next(m for m in mounts if m["name"] == contract.AUTH_VOLUME)
    assert mount["mountPath"] == contract.AUTH_DIR and mount["readOnly"] and "subPath" not in mount
    ca = next(v for v in vols if v["name"] == contract.TLS_VOLUME)
    assert ca["configMap"]["name"] == "ca-cm"


def test_two_tier_keeps_cache_host_on_the_shared_tier():
    env = values(CacheBinding(cache="c", pattern="external", connection=FULL, l1=L1).env())
    assert env["CACHE_HOST"] == env["CACHE_L2_HOST"] == FULL.host
    assert env["CACHE_L1_HOST"] == "127.0.0.1" and env["CACHE_L1_SOCKET"] == "/run/cache/redis.sock"
    assert env["CACHE_L1_TTL_CAP"] == "30" and env["CACHE_L1_INVALIDATION_CHANNEL"] == "chan"
    assert env["CACHE_L2_PASSWORD_FILE"] == env["CACHE_PASSWORD_FILE"]


def test_an_in_process_l1_gives_its_bounds_and_tracking_mode_and_no_l1_connection():
    env = values(CacheBinding(cache="c", pattern="external", connection=FULL, l1=NEAR).env())
    assert not [n for n in env if n.startswith("CACHE_L1_") and n[len("CACHE_L1_"):] in ("HOST", "PORT", "SOCKET", "URL")]
    assert env["CACHE_L1_MODE"] == "in-process" and env["CACHE_L1_MAX_ENTRIES"] == "1000"
    assert env["CACHE_L1_MAX_BYTES"] == str(1 << 20) and env["CACHE_L1_TRACKING"] == "broadcast"
    assert env["CACHE_L1_TRACKING_PREFIXES"] == "a:,b:" and env["CACHE_L1_TTL_CAP"] == "30"
    assert env["CACHE_HOST"] == env["CACHE_L2_HOST"] == FULL.host
    plain = values(CacheBinding(cache="c", pattern="external", connection=FULL,
                                l1=L1Tier(None, 30, "chan", NearCache(10, 1 << 20))).env())
    assert plain["CACHE_L1_TRACKING"] == "default" and "CACHE_L1_TRACKING_PREFIXES" not in plain


def test_outputs_are_resolved_into_env_values():
    conn = CacheConnection(host=pulumi.Output.from_input("ep.amazonaws.com"), port=pulumi.Output.from_input(6379),
                           tls=True, password=SecretRef(pulumi.Output.from_input("pw-1")))
    env = values(conn.env(password_env=True))
    assert env["CACHE_HOST"] == "ep.amazonaws.com" and env["CACHE_PORT"] == "6379"
    assert env["CACHE_URL"] == "rediss://:$(CACHE_PASSWORD)@ep.amazonaws.com:6379"


def test_checksum_changes_with_the_binding_and_only_then():
    a = CacheBinding(cache="c", pattern="sidecar", connection=CacheConnection(host="h"))
    same = CacheBinding(cache="c", pattern="sidecar", connection=CacheConnection(host="h"))
    other = CacheBinding(cache="c", pattern="sidecar", connection=CacheConnection(host="h2"))
    with_pod = CacheBinding(cache="c", pattern="sidecar", connection=CacheConnection(host="h"),
                            pod=PodParts(containers=({"name": "x", "image": "i:1"},)))
    ca = resolve(a.checksum())
    assert re.fullmatch(r"[0-9a-f]{64}", ca)
    assert ca == resolve(same.checksum())
    assert ca != resolve(other.checksum()) and ca != resolve(with_pod.checksum())
    assert ca == resolve(a.checksum(password_env=True))  # no password: the opt-in changes nothing


def test_checksum_changes_when_the_password_secret_changes():
    a = CacheBinding(cache="c", pattern="x", connection=CacheConnection(host="h", password=SecretRef("s-1")))
    b = CacheBinding(cache="c", pattern="x", connection=CacheConnection(host="h", password=SecretRef("s-2")))
    assert resolve(a.checksum()) != resolve(b.checksum())


def test_sentinel_password_must_share_the_secret():
    conn = CacheConnection(host="h", password=SecretRef("a"),
                           sentinel=SentinelRef(("s:1",), "m", password=SecretRef("b", key="sentinel")))
    with pytest.raises(ValueError, match="same Secret"):
        conn.volumes()
