"""A real node leaves the host as it found it: its network changes (iptables chains, the bridge, pod
network namespaces, ip_forward) and its mounts stay inside the namespaces the run creates, and what
must touch the host (cgroups, the kernel sysctls kubelet sets) is recorded at `up` and undone at
`down`. The node here is one of its own (on a free port), started and stopped by the test, with CoreDNS's pod running on it (a sandbox, CNI, kube-proxy rules, a projected token)."""
from __future__ import annotations

import socket

import pytest

from e2e import hoststate, netns, node, nodeconf
from tests.conftest import skip_or_fail
from tools import validate

pytestmark = pytest.mark.cluster


@pytest.fixture()
def own_port():
    """A port no other node uses: the kernel's choice on the forwarder's address (state dir, cgroup
    root and forwarder follow it; two copies of the tree, as `./run mutate` runs them, do not meet)."""
    why = node.unavailable()
    if why:
        skip_or_fail(why)
    if validate.crds_dir() is None:
        skip_or_fail(f"no CRD folder: set {validate.CRDS_ENV} to ../shared/schemas/crds")
    with socket.socket() as s:
        s.bind((nodeconf.HOST_ADDRESS, 0))
        return s.getsockname()[1]


def test_down_undoes_every_host_change(own_port):
    before = hoststate.snapshot()
    others = sorted({n for names in before["cgroups"].values() for n in names if n.startswith("cache-patterns-node-")})
    if others:
        # Its kubelet has set the sysctls already: this node could not show it records and restores them.
        skip_or_fail(f"another real node runs on this machine (cgroup roots {others})")
    cluster = node.up(own_port)
    state = node._read_state(cluster.dir)
    try:
        during = hoststate.snapshot()
        ns = cluster.netns
        # The node did its work, inside its namespaces: kube-proxy's chains, the CNI bridge, the pod's
        # network namespace, forwarding on.
        inside_rules = ns.run("iptables-save", mount=False).stdout
        assert "KUBE-SERVICES" in inside_rules and "cni0" in ns.run("ip", "-o", "link", mount=False).stdout
        assert ns.run("cat", "/proc/sys/net/ipv4/ip_forward", mount=False).stdout.strip() == "1"
        assert netns.NODE_IP in ns.run("ip", "-4", "-o", "addr", mount=False).stdout
        # Nothing of it on the host: the only differences are the recorded ones.
        root = nodeconf.cgroup_root(own_port)
        for hierarchy, names in during["cgroups"].items():
            assert names == sorted(before["cgroups"][hierarchy] + [root]), hierarchy
        recorded = state["node"]["sysctls_changed"]
        changes = [c for c in hoststate.diff(before, during) if not c.startswith("cgroups ")]
        expected = [f"sysctls {k}: {v[0]!r} -> {v[1]!r}" for k, v in sorted(recorded.items())]
        assert sorted(changes) == sorted(expected), \
            "host changes besides the cgroup root and the recorded sysctls:\n" + "\n".join(changes)
        assert recorded, "kubelet set no sysctl: the record/restore path was not exercised"
        # Nothing leaves the namespace: every route is the node's own network (no default route out
        # of it), so pods and components reach only loopback and the cluster's addresses.
        routes = netns.routes(ns)
        assert not [r for r in routes if r.startswith("default") and "table local" not in r], routes
    finally:
        node.down(own_port)
        after = hoststate.snapshot()
        # A safety net for when `down` is broken (as `./run mutate` breaks it): nothing is left on
        # the machine either way; on a working `down` both are no-ops.
        hoststate.restore_sysctls(state["node"]["sysctls_changed"])
        hoststate.remove_cgroups(nodeconf.cgroup_root(own_port))
    assert hoststate.diff(before, after) == []
    assert not cluster.dir.exists()
    assert not hoststate.processes_in(state["node"]["net_inode"], "net", state["node"]["started"])
