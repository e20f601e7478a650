"""The certificate reload scripts case by case (no Redis needed; runs in the default suite under dash
and busybox): tls.sh's decisions on a Secret volume laid out and swapped as the kubelet does it, and
tls-reload.sh's Sentinel supervisor against a fake redis-sentinel and a fake redis-cli, for the
coordination that keeps at most one Sentinel down: its own slot, and every peer healthy first."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cache_patterns.patterns.statefulset import ha

from testbed.members import SecretVolume
from .test_pod_scripts import FAKE_CLI, SENTINELS

SHELLS = ["/bin/sh"] + (["busybox"] if shutil.which("busybox") else [])
# A "certificate" is any text to tls.sh: it compares and copies files, it never parses them.
A_CA, A_LEAF, A_KEY = b"CA-A\n", b"LEAF-A1\n", b"KEY-A1\n"


def keep(path: Path, mode: int, owner: bool = True) -> None:
    path.chmod(mode if not owner else mode | 0o200)


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> list[str]:
    return ["/bin/sh"] if request.param == "/bin/sh" else [request.param, "sh"]


class Pod:
    """A pod's Secret volume (as the kubelet writes it), its in-memory TLS dir and the scripts."""

    def __init__(self, root: Path, shell: list[str], trust_delay: int = 150) -> None:
        self.root, self.shell = root, shell
        self.conf = root / "conf"
        self.conf.mkdir()
        for name in ("common.sh", "tls.sh", "tls-reload.sh"):
            (self.conf / name).write_text(ha.script(name))
        self.secret = SecretVolume(root / "tls-server", keep)
        self.live = root / "tls-live"
        self.env = {"PATH": os.environ["PATH"], "CONF_DIR": str(self.conf), "TLS_SECRET_DIR": str(self.secret.path),
                    "TLS_LIVE_DIR": str(self.live), "TLS_TRUST_DELAY": str(trust_delay)}

    def put(self, ca: bytes, leaf: bytes, key: bytes) -> None:
        self.secret.write({"ca.crt": ca, "tls.crt": leaf, "tls.key": key})

    def refresh(self, **env: str) -> tuple[str, str]:
        """tls_refresh once: (`changed generation`, stderr)."""
        script = f'. "{self.conf}/tls.sh"; tls_refresh; echo "$TLS_CHANGED $(tls_generation)"'
        p = subprocess.run([*self.shell, "-c", script], env=self.env | env, capture_output=True, text=True, timeout=10)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip(), p.stderr

    def live_files(self) -> dict[str, bytes]:
        return {n: (self.live / n).read_bytes() for n in ("tls.crt", "tls.key", "ca.crt")}


def test_first_start_installs_the_secret_and_a_renewal_is_served_at_once(tmp_path: Path, shell) -> None:
    pod = Pod(tmp_path, shell)
    pod.put(A_CA, A_LEAF, A_KEY)
    assert pod.refresh()[0] == "yes 1"
    assert pod.live_files() == {"tls.crt": A_LEAF, "tls.key": A_KEY, "ca.crt": A_CA}
    assert oct((pod.live / "tls.key").stat().st_mode & 0o777) == "0o600"
    assert pod.refresh()[0] == "no 1", "nothing changed, nothing to reload"
    pod.put(A_CA, b"LEAF-A2\n", b"KEY-A2\n")
    out, err = pod.refresh()
    assert out == "yes 2" and "serving the new certificate" in err
    assert pod.live_files() == {"tls.crt": b"LEAF-A2\n", "tls.key": b"KEY-A2\n", "ca.crt": A_CA}


def test_a_new_ca_is_trusted_at_once_and_its_key_pair_served_only_after_the_delay(tmp_path: Path, shell) -> None:
    pod = Pod(tmp_path, shell, trust_delay=2)
    pod.put(A_CA, A_LEAF, A_KEY)
    pod.refresh()
    pod.put(b"CA-B\n", b"LEAF-B1\n", b"KEY-B1\n")
    out, err = pod.refresh()
    assert out == "yes 2" and "trusted now beside the previous one" in err
    # Trust both; keep serving the old CA's key pair, which every peer trusts.
    assert pod.live_files() == {"tls.crt": A_LEAF, "tls.key": A_KEY, "ca.crt": b"CA-B\nCA-A\n"}
    assert pod.refresh()[0] == "no 2"
    time.sleep(3.1)
    assert pod.refresh()[0] == "yes 3"
    assert pod.live_files() == {"tls.crt": b"LEAF-B1\n", "tls.key": b"KEY-B1\n", "ca.crt": b"CA-B\nCA-A\n"}
    # The next CA replaces the oldest: the bundle is the current CA and the one before it.
    pod.put(b"CA-C\n", b"LEAF-C1\n", b"KEY-C1\n")
    pod.refresh()
    assert pod.live_files()["ca.crt"] == b"CA-C\nCA-B\n"


def test_a_pod_that_mounts_only_the_ca_only_trusts(tmp_path: Path, shell) -> None:
    pod = Pod(tmp_path, shell)
    pod.secret.write({"ca.crt": A_CA})
    assert pod.refresh()[0] == "yes 1"
    pod.secret.write({"ca.crt": b"CA-B\n"})
    assert pod.refresh()[0] == "yes 2"
    assert (pod.live / "ca.crt").read_bytes() == b"CA-B\nCA-A\n" and not (pod.live / "tls.crt").exists()


def test_a_swap_while_the_files_are_copied_is_read_again(tmp_path: Path, shell) -> None:
    """The kubelet swaps `..data` between the copy of tls.crt and of tls.key: the copy is thrown away
    (a new certificate with the old key would be refused or, worse, served half), and the next round
    installs the new pair."""
    pod = Pod(tmp_path, shell)
    pod.put(A_CA, A_LEAF, A_KEY)
    pod.refresh()
    pod.put(A_CA, b"LEAF-A2\n", b"KEY-A2\n")
    # A `cat` that lets the kubelet swap the volume to A3 just before tls.key is read, once.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    swap = tmp_path / "swap.py"
    swap.write_text(
        "import sys; sys.path.insert(0, %r)\n"
        "from pathlib import Path\nfrom testbed.members import SecretVolume\n"
        "v = SecretVolume.__new__(SecretVolume); v.path = Path(%r); v.own = lambda *a: None; v.updates = 9\n"
        "v.write({'ca.crt': b'CA-A\\n', 'tls.crt': b'LEAF-A3\\n', 'tls.key': b'KEY-A3\\n'})\n"
        % (str(Path(__file__).resolve().parents[2]), str(pod.secret.path)))
    real_cat = shutil.which("cat")
    (bin_dir / "cat").write_text(
        f'#!/bin/sh\ncase "$1" in *tls.key) [ -e {tmp_path}/swapped ] || {{ {sys.executable} {swap}; '
        f': > {tmp_path}/swapped; }} ;; esac\nexec {real_cat} "$@"\n')
    (bin_dir / "cat").chmod(0o755)
    out, err = pod.refresh(PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert out == "no 1" and "changed while it was read" in err
    assert pod.live_files()["tls.crt"] == A_LEAF and pod.live_files()["tls.key"] == A_KEY
    assert pod.refresh()[0] == "yes 2"
    assert pod.live_files()["tls.crt"] == b"LEAF-A3\n" and pod.live_files()["tls.key"] == b"KEY-A3\n"


# -- the Sentinel supervisor ------------------------------------------------------------------

FAKE_SENTINEL = """#!/bin/sh
# Stands in for redis-sentinel: notes when it starts and stops (epoch seconds, nanoseconds).
echo "start $(date +%s)" >> "$FAKE_LOG"
trap 'echo "stop $(date +%s)" >> "$FAKE_LOG"; exit 0' TERM
while :; do sleep 0.05; done
"""


class Sentinels:
    """Three Sentinels as the fake redis-cli sees them; this one is SENTINELS[ordinal]."""

    def __init__(self, pod: Pod, ordinal: int) -> None:
        self.pod, self.ordinal = pod, ordinal
        self.fake = pod.root / "fake"
        self.fake.mkdir()
        bin_dir = pod.root / "bin"
        bin_dir.mkdir(exist_ok=True)
        for name, text in (("redis-cli", FAKE_CLI), ("redis-sentinel", FAKE_SENTINEL)):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        self.log = pod.root / "sentinel.log"
        self.env = pod.env | {
            "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DIR": str(self.fake), "FAKE_LOG": str(self.log),
            "MASTER_NAME": "m", "SENTINELS": " ".join(SENTINELS), "PEERS": "127.0.0.1:1000",
            "SELF_ADDRESS": SENTINELS[ordinal], "POD_NAME": f"cache-sentinel-{ordinal}", "TLS_POLL": "0.2",
            "TLS_RESTART_SLOT": "2", "CLI_TIMEOUT": "1"}

    def answer(self, address: str, primary: str = "127.0.0.1:1000", flags: str = "master", others: int = 2) -> None:
        d = self.fake / address.rsplit(":", 1)[1]
        d.mkdir(exist_ok=True)
        (d / "SENTINEL_get-master-addr-by-name_m").write_text("\n".join(primary.rsplit(":", 1)) + "\n")
        (d / "SENTINEL_MASTER_m").write_text(f"name\nm\nflags\n{flags}\nnum-other-sentinels\n{others}\n")
        (d / "PING").write_text("PONG\n")

    def events(self) -> list[tuple[str, int]]:
        if not self.log.exists():
            return []
        return [(w, int(t)) for w, t in (line.split() for line in self.log.read_text().splitlines())]

    def supervise(self) -> subprocess.Popen:
        return subprocess.Popen([*self.pod.shell, str(self.pod.conf / "tls-reload.sh"), "sentinel",
                                 str(self.pod.root / "sentinel.conf")], env=self.env, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)


def wait_for(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_sentinel_restarts_in_its_own_slot_and_only_while_every_peer_is_healthy(tmp_path: Path, shell) -> None:
    pod = Pod(tmp_path, shell)
    pod.put(A_CA, A_LEAF, A_KEY)
    pod.refresh()
    s = Sentinels(pod, ordinal=1)
    s.answer(SENTINELS[1])
    s.answer(SENTINELS[0])                      # SENTINELS[2] does not answer yet
    proc = s.supervise()
    try:
        assert wait_for(lambda: [e for e, _ in s.events()] == ["start"], 5)
        pod.put(A_CA, b"LEAF-A2\n", b"KEY-A2\n")
        # A whole cycle of three 2 s slots goes by: its own comes, but a peer is down.
        time.sleep(6.5)
        assert [e for e, _ in s.events()] == ["start"], "it restarted while a peer was down"
        s.answer(SENTINELS[2], flags="master")
        s.answer(SENTINELS[1], flags="s_down,master")     # this Sentinel thinks the primary is down
        time.sleep(6.5)
        assert [e for e, _ in s.events()] == ["start"], "it restarted while the primary was flagged s_down"
        s.answer(SENTINELS[1])
        assert wait_for(lambda: len(s.events()) >= 3, 8), s.events()
        (stop, t_stop), (start, t_start) = s.events()[1:3]
        assert (stop, start) == ("stop", "start")
        # The slot of ordinal 1 of 3 Sentinels, 2 s each: the seconds s with (s / 2) mod 3 == 1.
        assert (t_stop // 2) % 3 == 1 and (t_start // 2) % 3 == 1, s.events()
        assert (pod.live / "tls.crt").read_bytes() == b"LEAF-A2\n"
        time.sleep(1)                           # its PING check and log line after the restart
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "does not answer" in err and "flagged s_down,master" in err and "restarted with TLS generation 2" in err
    assert s.events()[-1][0] == "stop", "SIGTERM reaches Sentinel through the supervisor"


def test_the_supervisor_exits_with_sentinel(tmp_path: Path, shell) -> None:
    """A Sentinel that dies on its own ends the container (the kubelet restarts it), never hidden."""
    pod = Pod(tmp_path, shell)
    pod.put(A_CA, A_LEAF, A_KEY)
    pod.refresh()
    s = Sentinels(pod, ordinal=0)
    (tmp_path / "bin" / "redis-sentinel").write_text("#!/bin/sh\nsleep 0.5\nexit 3\n")
    proc = s.supervise()
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 3 and "redis-sentinel exited (3)" in err


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.parametrize("role", ["redis", "haproxy"])
def test_the_reload_loops_stop_on_sigterm_as_their_containers_pid_1(tmp_path: Path, shell, role: str) -> None:
    """The redis and haproxy reload loops are their container's PID 1, which gets no default signal
    action: a SIGTERM they do not trap is ignored, and every deleted pod waits out its whole grace
    period (105 s for a Redis pod) for the SIGKILL. Found on the real node (docs/node.md)."""
    from tests.conftest import need_binary, skip_or_fail

    unshare = need_binary("unshare")
    if os.geteuid() != 0:
        skip_or_fail("a PID namespace needs root")
    pod = Pod(tmp_path, shell)   # no certificate yet: the loop waits for the files, as at a pod's start
    pod.live.mkdir()             # the pod's emptyDir
    env = pod.env | {"SELF_ADDRESS": "127.0.0.1:6379", "MASTER_NAME": "m", "SENTINELS": "127.0.0.1:26379",
                     "PEERS": "127.0.0.1:6379", "TLS_POLL": "5", "RUN_DIR": str(tmp_path),
                     "HAPROXY_MASTER_SOCKET": str(tmp_path / "master.sock"), "HAPROXY_STATE_FILE": str(tmp_path / "state")}
    proc = subprocess.Popen([unshare, "--pid", "--fork", "--kill-child", *shell, str(pod.conf / "tls-reload.sh"), role],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(_children(proc.pid)) == 1 and (pod.live / f".alive-{role}").exists(), 10)
        (init,) = _children(proc.pid)   # the shell, PID 1 of its namespace
        os.kill(init, signal.SIGTERM)
        assert wait_for(lambda: proc.poll() is not None, 3), "the loop ignored SIGTERM as PID 1"
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_the_redis_reload_loop_loads_a_renewal_with_config_set(tmp_path: Path, shell) -> None:
    """The Redis pods' reload loop makes Redis load each new generation with one CONFIG SET of the
    three files in the live dir (a fake redis-cli that records its commands and answers OK): at the
    first files and again after a renewal. tests/live/test_tls_rotation.py shows it with real servers."""
    pod = Pod(tmp_path, shell)
    pod.put(A_CA, A_LEAF, A_KEY)
    pod.refresh()                                    # the live dir as redis-start.sh leaves it
    bin_dir, log = tmp_path / "bin", tmp_path / "cli.log"
    bin_dir.mkdir()
    (bin_dir / "redis-cli").write_text(f'#!/bin/sh\necho "$*" >> "{log}"\necho OK\n')
    (bin_dir / "redis-cli").chmod(0o755)
    env = pod.env | {"PATH": f"{bin_dir}:{pod.env['PATH']}", "SELF_ADDRESS": "127.0.0.1:6379", "MASTER_NAME": "m",
                     "SENTINELS": "127.0.0.1:26379", "PEERS": "127.0.0.1:6379", "TLS_POLL": "1",
                     "RUN_DIR": str(tmp_path)}
    load = (f"CONFIG SET tls-cert-file {pod.live}/tls.crt tls-key-file {pod.live}/tls.key "
            f"tls-ca-cert-file {pod.live}/ca.crt")
    loads = lambda: log.read_text().count(load) if log.exists() else 0  # noqa: E731
    proc = subprocess.Popen([*shell, str(pod.conf / "tls-reload.sh"), "redis"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: loads() == 1, 10), (log.read_text() if log.exists() else "no redis-cli call")
        pod.put(A_CA, b"LEAF-A2\n", b"KEY-A2\n")     # a renewal under the same CA: served at once
        assert wait_for(lambda: loads() == 2, 10), log.read_text()
        assert (pod.live / "tls.crt").read_bytes() == b"LEAF-A2\n"
    finally:
        proc.kill()
        proc.communicate(timeout=10)
