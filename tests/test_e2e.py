"""The cluster machinery without a cluster: pins and recipes agree, the toolchain CLI sees the recipes,
a taken port is named, `down` stops whole process groups (and never a stranger that reused a PID),
and the comparison of sent and stored fields."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e import cluster, toolchain
from tests.cluster import kube

ROOT = Path(__file__).resolve().parent.parent


def test_every_recipe_has_a_pin_and_every_kube_pin_is_exact():
    toolchain._load_recipes()
    pins = toolchain.pins()
    assert {"etcd", "kubernetes", "kwok"} <= set(toolchain.RECIPES) <= set(pins)
    for tool in ("etcd", "kubernetes", "kwok"):
        assert pins[tool]["version"].startswith("v") and "latest" not in pins[tool]["version"]
    assert pins["etcd"]["version"].startswith("v3.6.")
    minor = int(pins["kubernetes"]["version"].split(".")[1])
    assert minor >= 34


def test_toolchain_cli_lists_the_recipes(tmp_path):
    """Run as `python -m e2e.toolchain`, the module is `__main__`; it must still see the recipes
    (they register with `e2e.toolchain`)."""
    out = subprocess.run([sys.executable, "-m", "e2e.toolchain", "list"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "CACHE_PATTERNS_CACHE": str(tmp_path)}, check=True).stdout
    listed = {line.split()[0] for line in out.splitlines()}
    assert {"etcd", "kubernetes", "kwok"} <= listed, out


def test_a_taken_port_is_named_with_its_component():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        base = taken - cluster.PORTS["kube-scheduler"]
        with pytest.raises(cluster.ClusterError) as err:
            cluster.check_ports(base)
    assert f"127.0.0.1:{taken} (kube-scheduler) is taken" in str(err.value)
    assert "CACHE_PATTERNS_CLUSTER_PORT" in str(err.value)


def test_down_stops_every_process_of_each_group_and_removes_the_state(tmp_path, monkeypatch):
    monkeypatch.setenv("CACHE_PATTERNS_CLUSTER_DIR", str(tmp_path / "state"))
    root = cluster.state_dir()
    (root / "logs").mkdir(parents=True)
    state: dict = {"port": 1, "processes": {}}
    # A leader that ignores SIGTERM and leaves a child behind: both must go.
    cluster._spawn(root, state, "stubborn", ["sh", "-c", "trap '' TERM; sleep 300 & wait"])
    time.sleep(0.3)
    pgid = state["processes"]["stubborn"]["pid"]
    members = [p for p in Path("/proc").glob("[0-9]*") if _pgid(p) == pgid]
    assert len(members) == 2
    monkeypatch.setattr(cluster, "STOP_TIMEOUT", 1.0)
    cluster.down(log=lambda *_: None)
    time.sleep(0.2)
    assert [p for p in Path("/proc").glob("[0-9]*") if _pgid(p) == pgid and _state(p) != "Z"] == []
    assert not root.exists()


def test_down_never_signals_a_process_that_reused_a_recorded_pid(tmp_path, monkeypatch):
    monkeypatch.setenv("CACHE_PATTERNS_CLUSTER_DIR", str(tmp_path / "state"))
    root = cluster.state_dir()
    root.mkdir()
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        start = cluster._start_time(stranger.pid)
        (root / "state.json").write_text(json.dumps({"port": 1, "processes": {
            "etcd": {"pid": stranger.pid, "start": str(int(start) - 1), "cmd": ["etcd"]}}}))
        cluster.down(log=lambda *_: None)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def _pgid(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError):
        return None


def _state(proc: Path) -> str:
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.parametrize("sent,stored,same", [
    ("1024Mi", "1Gi", True), ("0.5", "500m", True), (1, "1", True), ("128Mi", "128Mi", True),
    ("100m", "200m", False), ("1Gi", "1G", False), ("true", True, False),
])
def test_rewritten_fields_allow_only_a_quantitys_canonical_spelling(sent, stored, same):
    assert (kube.rewritten({"spec": {"x": sent}}, {"spec": {"x": stored}}) == []) is same


def test_rewritten_fields_ignore_what_the_server_adds_and_report_what_it_drops():
    sent = {"spec": {"ports": [{"port": 80}], "labels": {"a": "b"}}}
    assert kube.rewritten(sent, {"spec": {"ports": [{"port": 80, "protocol": "TCP"}], "labels": {"a": "b"},
                                          "clusterIP": "10.96.0.9"}}) == []
    assert kube.rewritten(sent, {"spec": {"ports": [{"port": 80}], "labels": {}}}) == \
        ["spec.labels.a: sent 'b', stored None"]


def test_a_secrets_string_data_is_compared_as_the_data_it_becomes():
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"password": "pw"}}
    stored = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA==", "password": "cHc="}}
    assert kube.rewritten(kube.as_stored(secret), stored) == []
    assert kube.rewritten(kube.as_stored(secret), {**stored, "data": {"a": "eA==", "password": "eHg="}}) != []
