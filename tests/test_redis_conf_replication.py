"""Pure rendering of the StatefulSet pattern: redis.conf / sentinel.conf templates, haproxy.cfg, and the
plan (env, probes, files) derived from a cache's config. The live tests run the same output in real
processes; these pin down the content and that no password ever reaches a rendered file."""
from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cache_patterns import stack as config
from tests.conftest import skip_or_fail
from cache_patterns.patterns.statefulset.settings import StatefulSetSettings
from cache_patterns.patterns.statefulset import ha
from cache_patterns.core.redis_conf import (RDB_SAVE, ReplicatedServer, SentinelSettings, TlsFiles, replicated_conf,
                                   replicated_directives, sentinel_conf, sentinel_directives)

SERVER = ReplicatedServer(maxmemory=100 * 1024 * 1024, maxmemory_policy="allkeys-lru")
SENTINEL = SentinelSettings(master_name="shop-sessions", initial_primary="shop-sessions-0.h.shop.svc.cluster.local:6379",
                            quorum=2)
TLS = TlsFiles()


def as_dict(directives: list) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, args in directives:
        key = f"{name} {args[0]}" if name == "sentinel" else name
        assert key not in out, f"{key} twice"
        out[key] = args[1:] if name == "sentinel" else args
    return out


def cache_config(**overrides: object) -> StatefulSetSettings:
    cache = {"pattern": "statefulset", **overrides}
    cfg = config.parse({"environment": "staging", "caches": {"sessions": cache}}, "shop")
    return cfg.caches["sessions"]  # type: ignore[return-value]


def names(cache: StatefulSetSettings) -> ha.PodNames:
    return ha.PodNames(statefulset="shop-sessions", namespace="shop", servers=cache.replicas + 1,
                       sentinels=cache.sentinels)


# -- redis.conf --------------------------------------------------------------------------------

def test_replicated_member_defaults():
    d = as_dict(replicated_directives(SERVER))
    assert d["port"] == ("6379",) and "tls-port" not in d
    assert d["bind"] == ("*", "-::*")
    assert d["protected-mode"] == ("yes",)
    assert d["save"] == ("",) and d["appendonly"] == ("no",)
    assert d["maxmemory"] == (str(100 * 1024 * 1024),) and d["maxmemory-policy"] == ("allkeys-lru",)
    assert d["min-replicas-to-write"] == ("0",) and d["min-replicas-max-lag"] == ("10",)
    assert d["dir"] == ("/data",) and d["replica-read-only"] == ("yes",)


def test_per_pod_and_secret_settings_are_left_to_the_start_up_script():
    text = replicated_conf(SERVER)
    for directive in ("requirepass", "masterauth", "replicaof", "slaveof", "replica-announce-ip", "masterauth"):
        assert not re.search(rf"^{directive}\b", text, re.M), directive


@pytest.mark.parametrize("persistence, save, appendonly", [
    ("none", ("",), "no"),
    ("rdb", RDB_SAVE, "no"),
    ("aof", ("",), "yes"),
])
def test_persistence(persistence: str, save: tuple[str, ...], appendonly: str):
    d = as_dict(replicated_directives(ReplicatedServer(maxmemory=1, maxmemory_policy="noeviction",
                                                       persistence=persistence)))
    assert d["save"] == save and d["appendonly"] == (appendonly,)
    assert ("appendfsync" in d) == (persistence == "aof")


def test_unknown_persistence_is_refused():
    with pytest.raises(ValueError, match="persistence must be one of none, rdb, aof"):
        ReplicatedServer(maxmemory=1, maxmemory_policy="noeviction", persistence="always")


def test_min_replicas_lag_is_rounded_up_to_whole_seconds():
    for ms, seconds in ((1000, "1"), (1500, "2"), (10_000, "10")):
        d = as_dict(replicated_directives(ReplicatedServer(maxmemory=1, maxmemory_policy="noeviction",
                                                           min_replicas_to_write=1, min_replicas_max_lag_ms=ms)))
        assert d["min-replicas-max-lag"] == (seconds,) and d["min-replicas-to-write"] == ("1",)


def test_tls_turns_the_plain_port_off_and_replicates_over_tls():
    d = as_dict(replicated_directives(ReplicatedServer(maxmemory=1, maxmemory_policy="noeviction", tls=TLS)))
    assert d["port"] == ("0",) and d["tls-port"] == ("6379",)
    assert d["tls-replication"] == ("yes",) and d["tls-auth-clients"] == ("no",)
    assert d["tls-cert-file"] == (TLS.cert_file,) and d["tls-key-file"] == (TLS.key_file,)
    assert d["tls-ca-cert-file"] == (TLS.ca_file,)


def test_protected_mode_is_only_off_without_a_password():
    d = as_dict(replicated_directives(ReplicatedServer(maxmemory=1, maxmemory_policy="noeviction", auth=False)))
    assert d["protected-mode"] == ("no",)


# -- sentinel.conf -----------------------------------------------------------------------------

def test_sentinel_announces_hostnames_and_monitors_the_initial_primary():
    d = as_dict(sentinel_directives(SENTINEL))
    assert d["sentinel resolve-hostnames"] == ("yes",) and d["sentinel announce-hostnames"] == ("yes",)
    assert d["sentinel monitor"] == ("shop-sessions", "shop-sessions-0.h.shop.svc.cluster.local", "6379", "2")
    assert d["sentinel down-after-milliseconds"] == ("shop-sessions", "5000")
    assert d["sentinel failover-timeout"] == ("shop-sessions", "30000")
    assert d["sentinel parallel-syncs"] == ("shop-sessions", "1")
    assert d["port"] == ("26379",) and d["protected-mode"] == ("yes",)
    assert d["dir"] == ("/run/cache-patterns",)


def test_sentinel_directive_order():
    keys = [f"{n} {a[0]}" if n == "sentinel" else n for n, a in sentinel_directives(SENTINEL)]
    # A hostname in the monitor line only parses once resolve-hostnames is on; per-master settings
    # name a master, so they come after it.
    assert keys.index("sentinel resolve-hostnames") < keys.index("sentinel monitor")
    for per_master in ("down-after-milliseconds", "failover-timeout", "parallel-syncs"):
        assert keys.index("sentinel monitor") < keys.index(f"sentinel {per_master}")


def test_sentinel_secret_and_announce_lines_are_left_to_the_start_up_script():
    text = sentinel_conf(SENTINEL)
    for directive in ("requirepass", "sentinel auth-pass", "sentinel announce-ip", "sentinel announce-port",
                      "sentinel myid"):
        assert not re.search(rf"^{directive}\b", text, re.M), directive


def test_sentinel_tls():
    d = as_dict(sentinel_directives(SentinelSettings(master_name="m", initial_primary="h:6379", quorum=2, tls=TLS)))
    assert d["port"] == ("0",) and d["tls-port"] == ("26379",) and d["tls-replication"] == ("yes",)


@pytest.mark.parametrize("kwargs, message", [
    ({"master_name": "two words"}, "master_name"),
    ({"initial_primary": "no-port"}, "initial_primary"),
    ({"quorum": 0}, "quorum"),
])
def test_sentinel_settings_are_validated(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        SentinelSettings(**{"master_name": "m", "initial_primary": "h:1", "quorum": 2, **kwargs})


# -- the plan from config ----------------------------------------------------------------------

def test_plan_from_config_defaults():
    cache = cache_config()
    p = ha.plan(cache, names(cache))
    assert len(p.topology.servers) == 2 and len(p.topology.sentinels) == 3  # staging: 1 replica, 3 Sentinels
    assert str(p.topology.servers[0]) == "shop-sessions-0.shop-sessions-headless.shop.svc.cluster.local:6379"
    assert str(p.topology.sentinels[2]) == \
        "shop-sessions-sentinel-2.shop-sessions-sentinel-headless.shop.svc.cluster.local:26379"
    assert p.sentinel.quorum == 2 and p.sentinel.down_after_ms == 5000 and p.sentinel.failover_timeout_ms == 30_000
    assert p.sentinel.initial_primary == str(p.topology.servers[0])
    assert p.server.maxmemory_policy == "allkeys-lru" and p.server.persistence == "none"
    # 5 s down-after + 2 x 30 s failover-timeout (Sentinel's retry) + 5 s.
    assert p.scripts.failover_wait_s == 70
    assert p.pdb_max_unavailable == {"redis": 1, "sentinel": 1}


def test_plan_quorum_min_replicas_and_tls_from_config():
    cache = cache_config(replicas=2, sentinels=5, quorum=4, minReplicasToWrite=1, minReplicasMaxLag="2s",
                         downAfter="2s", tls={"issuer": "ca"})
    p = ha.plan(cache, names(cache))
    d = as_dict(replicated_directives(p.server))
    assert d["min-replicas-to-write"] == ("1",) and d["min-replicas-max-lag"] == ("2",)
    # The processes load the pod's copies, which tls-reload.sh keeps in step with the Secret's.
    assert d["tls-port"] == ("6379",) and d["tls-cert-file"] == ("/etc/cache-patterns/tls-live/tls.crt",)
    s = as_dict(sentinel_directives(p.sentinel))
    assert s["sentinel monitor"][-1] == "4" and s["sentinel down-after-milliseconds"][-1] == "2000"
    assert s["tls-ca-cert-file"] == ("/etc/cache-patterns/tls-live/ca.crt",)
    assert p.scripts.tls_ca_file == "/etc/cache-patterns/tls-live/ca.crt"
    assert p.scripts.tls_secret_dir == "/etc/cache-patterns/tls-server"
    # A new CA's key pair waits for the kubelet's propagation and one restart slot per Sentinel.
    assert p.scripts.tls_trust_delay_s == ha.SECRET_PROPAGATION_S + 5 * ha.TLS_RESTART_SLOT_S
    assert p.pdb_max_unavailable["sentinel"] == 1   # 5 Sentinels, quorum 4: only one may be away


def test_plan_renders_the_planned_maxmemory_replica_buffer_and_backlog():
    cache = cache_config(replicas=2, capacity={"keys": 200_000, "valueBytes": 1000, "writesPerSecond": 2000})
    d = as_dict(replicated_directives(ha.plan(cache, names(cache)).server))
    assert d["maxmemory"] == (str(cache.maxmemory),) and cache.maxmemory == cache.pod.maxmemory
    assert d["client-output-buffer-limit"] == ("replica", str(cache.pod.replica_buffer), "0", "0")
    assert d["repl-backlog-size"] == (str(cache.pod.backlog),)
    # 2000 writes/s of ~1 kB for a 60 s disconnection: more than Redis's 1 MiB default backlog.
    assert cache.pod.backlog > 1024 * 1024 and cache.pod.replica_buffer >= 16 * 1024 * 1024
    lone = cache_config(replicas=0, capacity={"keys": 1000, "valueBytes": 10})
    assert not {"client-output-buffer-limit", "repl-backlog-size"} & set(as_dict(
        replicated_directives(ha.plan(lone, names(lone)).server)))


def test_plan_refuses_names_that_do_not_match_the_cache():
    cache = cache_config(replicas=2)
    with pytest.raises(ValueError, match="names count"):
        ha.plan(cache, ha.PodNames(statefulset="shop-sessions", namespace="shop", servers=2, sentinels=3))


def test_pod_names_must_fit_kubernetes_limits():
    with pytest.raises(ValueError, match="at most 52"):
        ha.PodNames(statefulset="x" * 44, namespace="shop", servers=2, sentinels=3)   # + "-sentinel" = 53
    with pytest.raises(ValueError, match="DNS label"):
        ha.PodNames(statefulset="Shop_Sessions", namespace="shop", servers=2, sentinels=3)
    assert ha.PodNames(statefulset="x" * 43, namespace="shop", servers=2, sentinels=3).sentinel_statefulset


def test_no_rendered_file_holds_a_password_and_the_template_is_what_the_scripts_expect():
    cache = cache_config(replicas=2, tls={"issuer": "ca"})
    p = ha.plan(cache, names(cache))
    everything = "\n".join(text for role in ("redis", "sentinel", "haproxy") for text in p.files(role).values())
    assert not re.search(r"^\s*(requirepass|masterauth|sentinel auth-pass)\b", everything, re.M)
    # The only password reference is HAProxy's environment variable, expanded at run time.
    haproxy = p.files("haproxy")["haproxy.cfg"]
    auth = re.findall(r'tcp-check send "AUTH ([^"]*)"', haproxy)
    assert len(auth) == 1 + 3 + 1 and set(auth) == {"${REDIS_PASSWORD}\\r\\n"}
    reload = {"tls.sh", "tls-reload.sh"}
    assert set(p.files("redis")) == {"redis.conf", "common.sh", "redis-start.sh", "redis-prestop.sh", "probe.sh", "admin.sh"} | reload
    assert set(p.files("sentinel")) == {"sentinel.conf", "common.sh", "sentinel-start.sh", "probe.sh", "admin.sh"} | reload
    assert set(p.files("haproxy")) == {"haproxy.cfg", "haproxy-start.sh", "haproxy-quorum.lua"} | reload
    plain = ha.plan(cache_config(replicas=2), names(cache_config(replicas=2)))
    assert not reload & (set(plain.files("redis")) | set(plain.files("haproxy")))
    # sentinel-start.sh rewrites the monitor line it finds and checks it names MASTER_NAME.
    assert f"sentinel monitor {p.topology.master_name} " in p.files("sentinel")["sentinel.conf"]


def test_container_env_derives_the_own_address_from_the_pod_name():
    cache = cache_config()
    p = ha.plan(cache, names(cache))
    env = p.env("redis")
    assert env[0] == {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    values = {e["name"]: e.get("value") for e in env}
    assert values["SELF_ADDRESS"] == "$(POD_NAME).shop-sessions-headless.shop.svc.cluster.local:6379"
    assert values["PEERS"].split() == [str(a) for a in p.topology.servers]
    assert values["SENTINELS"].split() == [str(a) for a in p.topology.sentinels]
    assert values["PASSWORD_FILE"] == "/etc/cache-patterns/auth/password" and "TLS_CA_FILE" not in values
    sentinel = {e["name"]: e.get("value") for e in p.env("sentinel")}
    assert sentinel["SELF_ADDRESS"] == "$(POD_NAME).shop-sessions-sentinel-headless.shop.svc.cluster.local:26379"
    assert sentinel["DISCOVERY_TIMEOUT"] == "10" and values["DISCOVERY_TIMEOUT"] == "60"
    assert {e["name"] for e in p.env("haproxy")} == {"CONF_DIR", "PASSWORD_FILE"}
    assert not any("valueFrom" in e and "secretKeyRef" in e["valueFrom"] for r in ("redis", "sentinel", "haproxy")
                   for e in p.env(r))


def test_commands_probes_and_shutdown():
    cache = cache_config(persistence="rdb", storage="1Gi")
    p = ha.plan(cache, names(cache))
    assert p.command("redis") == ["sh", "/etc/cache-patterns/conf/redis-start.sh"]
    assert p.lifecycle() == {"preStop": {"exec": {"command": ["sh", "/etc/cache-patterns/conf/redis-prestop.sh"]}}}
    probes = p.probes("redis")
    assert probes["readinessProbe"]["exec"]["command"][-1] == "ready"
    assert probes["livenessProbe"]["exec"]["command"][-1] == "alive"
    startup = probes["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= p.scripts.discovery_timeout_s + p.scripts.failover_wait_s
    assert p.termination_grace_period_s > p.scripts.prestop_timeout_s
    assert "initialDelaySeconds" in p.probes("haproxy")["readinessProbe"]


# -- haproxy.cfg -------------------------------------------------------------------------------

TOPOLOGY = ha.Topology(master_name="m",
                       servers=tuple(ha.Address(f"c-{i}.h.ns.svc.cluster.local", 6379) for i in range(3)),
                       sentinels=tuple(ha.Address(f"s-{i}.sh.ns.svc.cluster.local", 26379) for i in range(3)))


def _backend(cfg: str, name: str) -> str:
    return cfg.split(f"\nbackend {name}\n", 1)[1].split("\n\n", 1)[0]


_RULE = re.compile(r"^\s*use-server (r\d+) if (.*)$")
_COND = re.compile(r"(!?)\{ (srv_is_up\(primary/(r\d+)\)|nbsrv\(named-(r\d+)\) ge (\d+)) \}")


def chosen_server(primary_backend: str, up: dict[str, bool], named: dict[str, int]) -> str | None:
    """What HAProxy does with a new write connection: the first `use-server` rule whose conditions all
    hold picks its server (every server has weight 0, so no rule matching means no server). Fails on
    any rule form this evaluator does not know, so a new form cannot slip by untested."""
    for line in primary_backend.splitlines():
        m = _RULE.match(line)
        if not m:
            continue
        conds = _COND.findall(m.group(2))
        assert _COND.sub("", m.group(2)).strip() == "", f"unknown condition in {line!r}"
        def holds(neg: str, _: str, up_of: str, named_of: str, ge: str) -> bool:
            value = up[up_of] if up_of else named[named_of] >= int(ge)
            return value != bool(neg)
        if all(holds(*c) for c in conds):
            return m.group(1)
    return None


@pytest.mark.parametrize("sentinels", [3, 5])
def test_haproxy_sends_writes_only_to_the_server_a_majority_of_sentinels_names(sentinels: int):
    """Every combination of servers reporting role:master and of Sentinel votes (each Sentinel names
    at most one server): a new connection goes to the server that reports role:master and that a
    majority of ALL Sentinels names, and nowhere else; in particular not to a server named by a
    minority, which is what an HAProxy on the minority side of a partition sees of the old primary."""
    topology = ha.Topology(master_name="m", servers=TOPOLOGY.servers,
                           sentinels=tuple(ha.Address(f"s-{i}.sh", 26379) for i in range(sentinels)))
    primary = _backend(ha.haproxy_cfg(ha.Endpoint(topology=topology)), "primary")
    majority = sentinels // 2 + 1
    servers = ["r0", "r1", "r2"]
    for ups in itertools.product([False, True], repeat=3):
        for votes in itertools.product(range(sentinels + 1), repeat=3):
            if sum(votes) > sentinels:
                continue
            up, named = dict(zip(servers, ups)), dict(zip(servers, votes))
            elected = [s for s in servers if up[s] and named[s] >= majority]
            assert chosen_server(primary, up, named) == (elected[0] if elected else None), (up, named)
    for i in range(3):
        assert f"server r{i} c-{i}.h.ns.svc.cluster.local:6379 weight 0" in primary
    assert "tcp-check expect string role:master" in primary


def test_the_partition_case_the_old_fallback_got_wrong():
    """The minority side of a partition: HAProxy reaches only the old primary (still role:master) and
    the one Sentinel beside it (still naming it). No new connection may go there."""
    primary = _backend(ha.haproxy_cfg(ha.Endpoint(topology=TOPOLOGY)), "primary")
    assert chosen_server(primary, {"r0": True, "r1": False, "r2": False}, {"r0": 1, "r1": 0, "r2": 0}) is None


def resp_address(host: str, port: int) -> str:
    return f"*2\r\n${len(host)}\r\n{host}\r\n${len(str(port))}\r\n{port}\r\n"


def test_sentinel_checks_judge_a_whole_reply_at_once():
    """Each named-rN server is up exactly when its Sentinel's reply names rN. The first rule waits for
    a whole reply of any kind (Sentinel never closes the connection); the second (min-recv 0) then
    decides at once, so a Sentinel that switched to another server is seen at the next check instead
    of after `timeout check`. Run here with Python's re on the patterns HAProxy's PCRE gets."""
    cfg = ha.haproxy_cfg(ha.Endpoint(topology=TOPOLOGY))
    replies = {i: resp_address(a.host, a.port) for i, a in enumerate(TOPOLOGY.servers)}
    others = {"nil": "*-1\r\n", "error": "-NOAUTH Authentication required.\r\n",
              "same host, other port": resp_address(TOPOLOGY.servers[1].host, 6380)}
    for i in range(3):
        named = _backend(cfg, f"named-r{i}")
        assert "SENTINEL get-master-addr-by-name m" in named
        assert all(f"server s{j} s-{j}.sh.ns.svc.cluster.local:26379" in named for j in range(3))
        expects = re.findall(r"^\s*tcp-check expect (.*)$", named, re.M)
        assert expects[0] == "string +OK" and len(expects) == 3, expects
        whole = re.fullmatch(r"rstring '(.*)'", expects[1])
        decide = re.fullmatch(r"min-recv 0 rstring '(.*)'", expects[2])
        assert whole and decide, expects
        for reply in [*replies.values(), *others.values()]:
            assert re.search(whole.group(1), reply), f"a whole reply not recognised: {reply!r}"
            for cut in range(1, len(reply) - 1):
                assert not re.search(whole.group(1), reply[:cut]) or reply.startswith("-"), reply[:cut]
        for j, reply in replies.items():
            assert bool(re.search(decide.group(1), reply)) == (i == j), (i, j)
        assert not any(re.search(decide.group(1), r) for r in others.values())
        assert re.search(r"^\s*timeout connect \d+ms$", named, re.M)


def test_haproxy_closes_open_connections_when_the_majority_is_gone():
    """`use-server` only routes new connections: the shipped Lua task closes the open ones to a server
    that lost its majority, and `on-marked-down shutdown-sessions` those to a server that stopped
    reporting role:master."""
    cache = cache_config()
    plan_files = ha.plan(cache, names(cache)).files("haproxy")
    cfg = plan_files["haproxy.cfg"]
    assert f"lua-load {ha.CONF_DIR}/{ha.QUORUM_LUA}" in cfg.split("\n\n", 1)[0]
    lua = plan_files[ha.QUORUM_LUA]
    assert 'core.backends["primary"]' in lua and '"named-" .. name' in lua and "shut_sess()" in lua
    assert "all // 2 + 1" in lua
    assert "on-marked-down shutdown-sessions" in cfg and "resolvers cluster" in cfg


def test_haproxy_auth_and_tls():
    cfg = ha.haproxy_cfg(ha.Endpoint(topology=TOPOLOGY, tls_ca_file="/ca.crt"))
    assert 'tcp-check send "AUTH ${REDIS_PASSWORD}\\r\\n"' in cfg
    assert "check-ssl verify required ca-file /ca.crt" in cfg
    # Client traffic passes through: HAProxy never terminates TLS on the data path.
    assert not re.search(r"^\s*server .* ssl\b", cfg, re.M) and " crt " not in cfg
    no_auth = ha.haproxy_cfg(ha.Endpoint(topology=TOPOLOGY, auth=False))
    assert "AUTH" not in no_auth and "check-ssl" not in no_auth


def test_haproxy_read_endpoint_uses_linked_replicas_and_falls_back_to_the_primary():
    cfg = ha.haproxy_cfg(ha.Endpoint(topology=TOPOLOGY, read_port=6380))
    assert "use_backend primary if { nbsrv(replicas) eq 0 }" in cfg
    replicas = cfg.split("\nbackend replicas\n", 1)[1]
    assert "master_link_status:up" in replicas and "role:slave" in replicas


def _haproxies() -> list:
    from testbed import engines

    system = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    built_dir = engines.toolchain_bin("haproxy")
    built = str(built_dir / "haproxy") if built_dir is not None else None
    return [pytest.param(path, id=name) for name, path in (("system", system), ("toolchain", built)) if path]


@pytest.mark.parametrize("haproxy", _haproxies())
def test_haproxy_accepts_the_pod_config(tmp_path: Path, haproxy: str):
    """The in-cluster config (FQDNs that do not resolve here, TLS on) with its Lua task passes
    `haproxy -c` (which loads and runs the Lua file's top level), with Debian's HAProxy and with the
    toolchain's (the version the stacks ship) where built."""
    ca = tmp_path / "ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(ca), "-days", "1", "-subj", "/CN=t"], check=True, capture_output=True)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(ha.haproxy_cfg(ha.Endpoint(topology=TOPOLOGY, tls_ca_file=str(ca), conf_dir=str(tmp_path))))
    (tmp_path / ha.QUORUM_LUA).write_text(ha.script(ha.QUORUM_LUA))
    result = subprocess.run([haproxy, "-c", "-f", str(cfg)], env={"REDIS_PASSWORD": "x"}, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- scripts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ha.SCRIPTS)
@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_scripts_parse_under_dash_and_busybox(name: str, shell: str):
    path = shutil.which(shell)
    if path is None:
        skip_or_fail(f"{shell} is not installed (Debian package; .ci/run installs busybox)")
    cmd = [path, "sh", "-n"] if shell == "busybox" else [path, "-n"]
    result = subprocess.run([*cmd, str(ha.SCRIPT_DIR / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unknown_script():
    with pytest.raises(KeyError):
        ha.script("nope.sh")
