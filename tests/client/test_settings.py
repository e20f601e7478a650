"""Pure tests of the env-contract parser and argument checks: no server, milliseconds to run.

Each error message must name the variable, so a misbound pod is diagnosed from one log line.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Dict

import pytest
import redis

from cache_patterns_client import CacheSettings, ConfigurationError, TwoTierCache
from cache_patterns_client.connect import ClientOptions, PasswordFile, l1_client, l2_client

BASE = {"CACHE_CONTRACT_VERSION": "1", "CACHE_HOST": "cache.shop.svc", "CACHE_PORT": "6379",
        "CACHE_TLS": "false", "CACHE_CLUSTER": "false"}
L2 = {k.replace("CACHE_", "CACHE_L2_"): v for k, v in BASE.items() if k != "CACHE_CONTRACT_VERSION"}
L1 = {"CACHE_L1_HOST": "127.0.0.1", "CACHE_L1_PORT": "6380", "CACHE_L1_SOCKET": "/run/cache/l1.sock",
      "CACHE_L1_TLS": "false", "CACHE_L1_CLUSTER": "false", "CACHE_L1_TTL_CAP": "30",
      "CACHE_L1_INVALIDATION_CHANNEL": "cache:pages:l1-inv"}


def env(**extra: str) -> Dict[str, str]:
    return {**BASE, **L2, **L1, **extra}


def test_two_tier_contract_parses() -> None:
    s = CacheSettings.from_env(env(CACHE_DEFAULT_TTL="3600", CACHE_L2_PASSWORD_FILE="/etc/pw",
                                   CACHE_L2_USERNAME="app", CACHE_L2_TLS="true", CACHE_L2_TLS_CA_FILE="/etc/ca.crt"))
    assert s.l1 is not None and s.l1.socket == "/run/cache/l1.sock"
    assert s.l1_ttl_cap == 30.0 and s.invalidation_channel == "cache:pages:l1-inv"
    assert s.default_ttl == 3600.0
    assert (s.l2.host, s.l2.port, s.l2.tls, s.l2.tls_ca_file) == ("cache.shop.svc", 6379, True, "/etc/ca.crt")
    assert (s.l2.username, s.l2.password_file) == ("app", "/etc/pw")


def test_l2_prefix_is_preferred_over_plain_cache_prefix() -> None:
    s = CacheSettings.from_env(env(CACHE_HOST="wrong", CACHE_L2_HOST="right"))
    assert s.l2.host == "right"


def test_single_tier_without_l1_vars() -> None:
    s = CacheSettings.from_env(dict(BASE))
    assert s.l1 is None and s.l1_ttl_cap is None and s.default_ttl is None


def test_sentinels_parse() -> None:
    s = CacheSettings.from_env(env(CACHE_L2_SENTINELS="s-0.x:26379, s-1.x:26379", CACHE_L2_SENTINEL_MASTER="mymaster",
                                   CACHE_L2_SENTINEL_PASSWORD_FILE="/etc/spw"))
    assert s.l2.sentinels == (("s-0.x", 26379), ("s-1.x", 26379))
    assert s.l2.sentinel_master == "mymaster" and s.l2.sentinel_password_file == "/etc/spw"


@pytest.mark.parametrize("extra, message", [
    ({"CACHE_CONTRACT_VERSION": "2"}, "CACHE_CONTRACT_VERSION: this client speaks '1', got '2'"),
    ({"CACHE_L2_PORT": "http"}, "CACHE_L2_PORT: must be a TCP port (1-65535), got 'http'"),
    ({"CACHE_L2_TLS": "yes"}, "CACHE_L2_TLS: must be 'true' or 'false', got 'yes'"),
    ({"CACHE_L1_TTL_CAP": "0"}, "CACHE_L1_TTL_CAP: must be a number of seconds > 0, got '0'"),
    ({"CACHE_L1_TTL_CAP": "30s"}, "CACHE_L1_TTL_CAP: must be a number of seconds > 0, got '30s'"),
    ({"CACHE_DEFAULT_TTL": "-1"}, "CACHE_DEFAULT_TTL: must be a number of seconds > 0, got '-1'"),
    ({"CACHE_L1_INVALIDATION_CHANNEL": ""}, "CACHE_L1_INVALIDATION_CHANNEL: required when CACHE_L1_HOST is set"),
    ({"CACHE_L2_SENTINELS": "s-0:26379"}, "CACHE_L2_SENTINEL_MASTER: required when CACHE_L2_SENTINELS is set"),
    ({"CACHE_L2_SENTINELS": "s-0", "CACHE_L2_SENTINEL_MASTER": "m"}, "CACHE_L2_SENTINELS: each entry must be host:port, got 's-0'"),
    ({"CACHE_L2_USERNAME": "app"}, "CACHE_L2_USERNAME: set, but neither CACHE_L2_PASSWORD_FILE nor CACHE_L2_PASSWORD is"),
    ({"CACHE_L1_TLS": "true"}, "CACHE_L1_*: the L1 tier must be a plain loopback redis"),
])
def test_errors_name_the_variable(extra: Dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        CacheSettings.from_env(env(**extra))
    assert str(info.value).startswith(message)


def test_missing_host_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match=r"^CACHE_HOST: required"):
        CacheSettings.from_env({"CACHE_CONTRACT_VERSION": "1"})


def test_password_never_in_repr() -> None:
    s = CacheSettings.from_env(env(CACHE_L2_PASSWORD="hunter2-secret"))
    assert s.l2.password == "hunter2-secret"
    assert "hunter2-secret" not in repr(s) and "hunter2-secret" not in repr(s.l2)


def test_password_file_is_read_on_every_connect(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pw = tmp_path / "password"
    pw.write_text("one\n")
    provider = PasswordFile(str(pw), username="app")
    assert provider.get_credentials() == ("app", "one")
    pw.write_text("two")
    assert provider.get_credentials() == ("app", "two")
    pw.unlink()
    with pytest.raises(redis.exceptions.ConnectionError, match="cannot read password file"):
        provider.get_credentials()


def test_clients_get_short_timeouts_and_the_socket() -> None:
    s = CacheSettings.from_env(env(CACHE_L2_TLS="true", CACHE_L2_PASSWORD_FILE="/etc/pw"))
    opts = ClientOptions(l1_timeout=0.1, l2_timeout=0.4, l2_connect_timeout=0.3)
    assert s.l1 is not None
    l1 = l1_client(s.l1, opts)
    kw = l1.connection_pool.connection_kwargs
    assert kw["path"] == "/run/cache/l1.sock" and kw["socket_timeout"] == 0.1
    l2 = l2_client(s.l2, opts)
    kw = l2.connection_pool.connection_kwargs
    assert (kw["host"], kw["socket_timeout"], kw["socket_connect_timeout"]) == ("cache.shop.svc", 0.4, 0.3)
    assert kw["ssl_cert_reqs"] == "required" and isinstance(kw["credential_provider"], PasswordFile)


def test_constructor_and_ttl_checks() -> None:
    l2 = redis.Redis(host="127.0.0.1", port=1)  # never contacted by these checks
    l1 = redis.Redis(host="127.0.0.1", port=1)
    with pytest.raises(ConfigurationError, match="channel: required"):
        TwoTierCache(l2, l1=l1, ttl_cap=30)
    with pytest.raises(ConfigurationError, match="ttl_cap: must be > 0"):
        TwoTierCache(l2, l1=l1, channel="c", ttl_cap=0)
    cache = TwoTierCache(l2, default_ttl=60)
    assert cache._px(None) == 60_000
    assert cache._px(timedelta(milliseconds=1500)) == 1500
    assert cache._px(0.0004) == 1
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="ttl: must be a finite number of seconds > 0"):
            cache._px(bad)
    assert TwoTierCache(l2)._px(None) is None
    with pytest.raises(TypeError, match="value: must be bytes or str, got int"):
        cache.set("k", 1)  # type: ignore[arg-type]
    cache.close()
