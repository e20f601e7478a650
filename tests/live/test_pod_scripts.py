"""The start-up decision of redis-start.sh, case by case, against a fake redis-cli that answers from
files (no Redis needed, runs in the default suite): every branch of "who is the primary", including
the ones a healthy live set never reaches (split Sentinels, two primaries, an unreachable quorum)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cache_patterns.patterns.statefulset import ha
from cache_patterns.core.redis_conf import ACL_USERS_FILE, ReplicatedServer, acl_users_conf, replicated_conf

SERVERS = ("127.0.0.1:1000", "127.0.0.1:1001", "127.0.0.1:1002")
SENTINELS = ("127.0.0.1:2000", "127.0.0.1:2001", "127.0.0.1:2002")
MASTER = "m"
SHELLS = ["/bin/sh"] + (["busybox"] if shutil.which("busybox") else [])

FAKE_CLI = r"""#!/bin/sh
# Answers from $FAKE_DIR/<port>/<command words joined by _>; a port without a directory is unreachable.
port=""
while [ $# -gt 0 ]; do
    case $1 in
        -e | --tls) shift ;;
        --cacert | -h) shift 2 ;;
        -p) port=$2; shift 2 ;;
        *) break ;;
    esac
done
[ -d "$FAKE_DIR/$port" ] || exit 1
key=$(printf '%s_' "$@")
key=${key%_}
[ -f "$FAKE_DIR/$port/$key" ] || exit 1
cat "$FAKE_DIR/$port/$key"
"""
# Stands in for redis-server: shows the config it was given.
FAKE_SERVER = '#!/bin/sh\ncat "$1"\n'


class World:
    """What each fake server and Sentinel answers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fake = root / "fake"
        self.fake.mkdir()
        bin_dir = root / "bin"
        bin_dir.mkdir()
        for name, text in (("redis-cli", FAKE_CLI), ("redis-server", FAKE_SERVER)):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        self.conf = root / "conf"
        self.conf.mkdir()
        (self.conf / "redis.conf").write_text(replicated_conf(ReplicatedServer(maxmemory=1 << 20,
                                                                               maxmemory_policy="noeviction")))
        for name in ("common.sh", "redis-start.sh"):
            (self.conf / name).write_text(ha.script(name))
        (root / "secret").write_text("s3cret")
        self.path = f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"

    def sentinel(self, address: str, names: str | None) -> None:
        """A Sentinel that answers, naming `names` ("" = it monitors nothing known)."""
        d = self.fake / address.rsplit(":", 1)[1]
        d.mkdir(exist_ok=True)
        reply = "" if not names else "\n".join(names.rsplit(":", 1))
        (d / f"SENTINEL_get-master-addr-by-name_{MASTER}").write_text(reply + "\n")

    def server(self, address: str, role: str, offset: int = 0) -> None:
        d = self.fake / address.rsplit(":", 1)[1]
        d.mkdir(exist_ok=True)
        (d / "INFO_replication").write_text(f"# Replication\r\nrole:{role}\r\nmaster_repl_offset:{offset}\r\n")

    def env(self, self_address: str, pod: str, **extra: str) -> dict[str, str]:
        settings = ha.ScriptSettings(
            topology=ha.Topology(master_name=MASTER, servers=tuple(ha.Address(*_split(a)) for a in SERVERS),
                                 sentinels=tuple(ha.Address(*_split(a)) for a in SENTINELS)),
            conf_dir=str(self.conf), run_dir=str(self.root / "run"), password_file=str(self.root / "secret"),
            discovery_timeout_s=1, failover_wait_s=2, cli_timeout_s=2)
        return settings.env(self_address) | {"PATH": self.path, "FAKE_DIR": str(self.fake), "POD_NAME": pod} | extra

    def start(self, shell: str, self_address: str, pod: str, **extra: str) -> subprocess.Popen:
        cmd = [shell, str(self.conf / "redis-start.sh")] if shell == "/bin/sh" else [shell, "sh", str(self.conf / "redis-start.sh")]
        return subprocess.Popen(cmd, env=self.env(self_address, pod, **extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run(self, shell: str, self_address: str, pod: str) -> tuple[int, str, str]:
        p = self.start(shell, self_address, pod)
        out, err = p.communicate(timeout=30)
        return p.returncode, out, err


def _split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def replicaof(conf: str) -> str | None:
    lines = [line for line in conf.splitlines() if line.startswith("replicaof ")]
    assert len(lines) <= 1
    return lines[0].split(" ", 1)[1].replace(" ", ":") if lines else None


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_nobody_knows_a_primary_and_ordinal_0_starts_as_primary(world: World, shell: str) -> None:
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 0, err
    assert replicaof(conf) is None and "designated initial primary" in err
    # The secret and the announced address are added at start-up, never in the template.
    assert 'requirepass "s3cret"' in conf and 'masterauth "s3cret"' in conf
    assert "replica-announce-ip 127.0.0.1" in conf and "replica-announce-port 1000" in conf
    assert "s3cret" not in (world.conf / "redis.conf").read_text()


def test_nobody_knows_a_primary_and_ordinal_1_gives_up_for_the_kubelet_to_retry(world: World, shell: str) -> None:
    rc, conf, err = world.run(shell, SERVERS[1], "cache-1")
    assert rc == 1 and conf == "" and "no primary found" in err


def test_a_majority_of_sentinels_decides(world: World, shell: str) -> None:
    world.sentinel(SENTINELS[0], SERVERS[2])
    world.sentinel(SENTINELS[1], SERVERS[2])
    world.sentinel(SENTINELS[2], SERVERS[1])   # stale
    world.server(SERVERS[1], "master")           # a peer claiming the role does not outvote them
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 0 and replicaof(conf) == SERVERS[2], err


def test_sentinels_name_this_server_and_no_peer_holds_data_starts_as_primary(world: World, shell: str) -> None:
    for s in SENTINELS:
        world.sentinel(s, SERVERS[0])
    world.server(SERVERS[1], "slave", offset=0)
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 0 and replicaof(conf) is None and "no peer holds replicated data" in err


def test_restarted_primary_with_replicas_holding_data_waits_for_the_promotion(world: World, shell: str) -> None:
    for s in SENTINELS:
        world.sentinel(s, SERVERS[0])
    world.server(SERVERS[1], "slave", offset=5000)
    p = world.start(shell, SERVERS[0], "cache-0", FAILOVER_WAIT="20")
    time.sleep(1.5)
    assert p.poll() is None, "it must not start while the Sentinels still name it"
    for s in SENTINELS:
        world.sentinel(s, SERVERS[1])
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0 and replicaof(out) == SERVERS[1], err
    assert "Sentinel promoted it while this server was down" in err


def test_restarted_primary_takes_the_role_back_when_no_failover_comes(world: World, shell: str) -> None:
    for s in SENTINELS:
        world.sentinel(s, SERVERS[0])
    world.server(SERVERS[2], "slave", offset=5000)
    t = time.monotonic()
    p = world.start(shell, SERVERS[0], "cache-0", FAILOVER_WAIT="3")
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 0 and replicaof(conf) is None and "no failover within 3s" in err
    assert time.monotonic() - t >= 2, "the wait is counted in whole seconds, so at least 2 of the 3"


def test_without_sentinels_the_one_peer_primary_is_followed(world: World, shell: str) -> None:
    world.server(SERVERS[2], "master")
    world.server(SERVERS[1], "slave", offset=10)
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 0 and replicaof(conf) == SERVERS[2], err


def test_two_peers_claiming_the_role_and_no_sentinel_is_not_resolved_by_guessing(world: World, shell: str) -> None:
    world.server(SERVERS[1], "master")
    world.server(SERVERS[2], "master")
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 1 and "several peers report role:master" in err


def test_split_sentinels_keep_ordinal_0_from_claiming_the_role(world: World, shell: str) -> None:
    world.sentinel(SENTINELS[0], SERVERS[1])
    world.sentinel(SENTINELS[1], SERVERS[2])
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 1 and "no primary found" in err


def test_a_lone_answering_sentinel_is_followed_when_nothing_contradicts_it(world: World, shell: str) -> None:
    world.sentinel(SENTINELS[2], SERVERS[1])
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 0 and replicaof(conf) == SERVERS[1] and "every answering Sentinel" in err


def test_ordinal_comes_from_the_pod_name(world: World, shell: str) -> None:
    rc, conf, err = world.run(shell, SERVERS[0], "my-stack-sessions-12")
    assert rc == 1, "ordinal 12 is not the designated initial primary"


ACL = (("app", "~app:* +@read +@write -@dangerous (~shared:* +get)"), ("ro", "~* +@read"))


def with_acl_users(world: World, passwords: dict[str, str]) -> Path:
    """acl-users.conf in the conf dir (as the ConfigMap has it) and the given password files."""
    (world.conf / ACL_USERS_FILE).write_text(acl_users_conf(ACL))
    users = world.root / "users"
    users.mkdir()
    for name, pw in passwords.items():
        (users / name).write_text(pw)
    return users


def test_acl_users_get_on_and_their_password_last_in_the_runtime_config_only(world: World, shell: str) -> None:
    users = with_acl_users(world, {"app": "AppPw1", "ro": "RoPw2"})
    p = world.start(shell, SERVERS[0], "cache-0", ACL_PASSWORD_DIR=str(users))
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "user app ~app:* +@read +@write -@dangerous (~shared:* +get) on >AppPw1\n" in conf
    assert "user ro ~* +@read on >RoPw2\n" in conf
    assert 'requirepass "s3cret"' in conf, "the default user keeps requirepass"
    assert not any(pw in (world.conf / ACL_USERS_FILE).read_text() for pw in ("AppPw1", "RoPw2"))


@pytest.mark.parametrize("passwords, env, message", [
    ({"app": "AppPw1"}, "dir", "no password for ACL user ro"),
    ({"app": "AppPw1", "ro": "has space"}, "dir", "contains a quote, backslash or whitespace"),
    ({"app": "AppPw1", "ro": "RoPw2"}, None, "ACL_PASSWORD_DIR: is not set"),
    ({"app": "AppPw1", "ro": "RoPw2"}, "no-auth", "ACL users need auth"),
])
def test_acl_users_without_a_usable_password_fail_before_discovery(world: World, shell: str, passwords, env,
                                                                     message) -> None:
    users = with_acl_users(world, passwords)
    # Ordinal 1 with nobody answering would look for a primary for DISCOVERY_TIMEOUT seconds.
    extra = {"DISCOVERY_TIMEOUT": "5"} | ({"ACL_PASSWORD_DIR": str(users)} if env else {})
    if env == "no-auth":
        extra["PASSWORD_FILE"] = ""
    t = time.monotonic()
    p = world.start(shell, SERVERS[1], "cache-1", **extra)
    conf, err = p.communicate(timeout=30)
    assert p.returncode != 0 and conf == "" and message in err, err
    assert time.monotonic() - t < 3 and "no primary found" not in err, "it must fail at once, before discovery"
