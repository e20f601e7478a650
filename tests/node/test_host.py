"""A real node leaves the host as it found it: its network changes (iptables chains, the bridge, pod
network namespaces, ip_forward) and its mounts stay inside the namespaces the run creates, and what
must touch the host (cgroups, the kernel sysctls kubelet sets) is recorded at `up` and undone at
`down`. This test checks the host while the session's node runs (CoreDNS's pod on it: a sandbox, CNI,
kube-proxy's rules, a projected token); the `real_node` fixture checks it after `down`
(tests/node/conftest.py), so any session that starts a node proves its `down`."""
from __future__ import annotations

import pytest

from e2e import hoststate, netns, node, nodeconf
from tests.conftest import skip_or_fail

pytestmark = [pytest.mark.cluster, pytest.mark.node]


def test_host_changes_are_namespaced_or_recorded(host_before, real_node):
    if host_before is None:
        skip_or_fail("a running node was reused: the host before it is unknown")
    others = sorted({n for names in host_before["cgroups"].values() for n in names if n.startswith("cache-patterns-node-")})
    if others:
        # Their kubelet has set the sysctls already: this node could not show it records and restores them.
        skip_or_fail(f"another real node runs on this machine (cgroup roots {others})")
    during = hoststate.snapshot()
    state = node._read_state(real_node.dir)
    ns = real_node.netns
    # The node did its work, inside its namespaces: kube-proxy's chains, the CNI bridge, forwarding.
    assert "KUBE-SERVICES" in ns.run("iptables-save").stdout
    assert "cni0" in ns.run("ip", "-o", "link").stdout
    assert ns.run("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    assert netns.NODE_IP in ns.run("ip", "-4", "-o", "addr").stdout
    # On the host, the only differences are the cgroup root and the recorded sysctls.
    root = nodeconf.cgroup_root(real_node.port)
    for hierarchy, names in during["cgroups"].items():
        assert names == sorted(host_before["cgroups"][hierarchy] + [root]), hierarchy
    recorded = state["node"]["sysctls_changed"]
    changes = [c for c in hoststate.diff(host_before, during) if not c.startswith("cgroups ")]
    expected = [f"sysctls {k}: {v[0]!r} -> {v[1]!r}" for k, v in sorted(recorded.items())]
    assert sorted(changes) == sorted(expected), \
        "host changes besides the cgroup root and the recorded sysctls:\n" + "\n".join(changes)
    assert recorded, "kubelet set no sysctl: the record/restore path was not exercised"
    # Nothing leaves the namespace: no default route, so pods and components reach only loopback
    # and the cluster's own addresses.
    routes = netns.routes(ns)
    assert not [r for r in routes if r.startswith("default")], routes
