"""What the real node's programs (e2e/node.py) run with: containerd's config, the CNI network,
kubelet's and kube-proxy's configs and kubeconfigs, the certificates the API server and kubelet add to
the control plane's (e2e/components.py), and every command line. Every path is in the state dir
(or, for what the programs cannot be told, in the tmpfs mounts of the node's mount namespace:
e2e/netns.py).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from e2e import toolchain
from e2e.components import CONTEXT, POD_CIDR, _binary, _openssl
from e2e.netns import NODE_IP

NODE = "cache-patterns-node"
# The forwarder's address on the host: loopback, but not 127.0.0.1, so a kwok cluster of the same
# port (e2e/cluster.py) can run beside the real node.
HOST_ADDRESS = "127.0.0.2"
NODE_POD_CIDR = "10.244.0.0/24"
CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
KUBELET_HEALTHZ = 10248
PROXY_HEALTHZ = 10256


def pause_image() -> str:
    version = (toolchain.tool_dir("kubelet") / "pause-version").read_text().strip()
    return f"registry.k8s.io/pause:{version}"


def cgroup_root(port: int) -> str:
    return f"cache-patterns-node-{port}"


def kubelet_client_cert(pki: Path) -> None:
    """The client certificate the API server shows kubelet (exec, logs): system:masters, signed by
    the cluster CA, which kubelet trusts for client certificates."""
    _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver-kubelet-client.key", "-out",
              "apiserver-kubelet-client.csr", "-subj", "/O=system:masters/CN=kube-apiserver-kubelet-client"], pki)
    (pki / "client.cnf").write_text("extendedKeyUsage=clientAuth\n")
    _openssl(["x509", "-req", "-in", "apiserver-kubelet-client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
              "-CAcreateserial", "-out", "apiserver-kubelet-client.crt", "-days", "30", "-extfile", "client.cnf"], pki)


def write_kubeconfig(path: Path, server: str, ca: Path, token: str, user: str) -> None:
    import base64
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": CONTEXT,
        "clusters": [{"name": CONTEXT, "cluster": {"server": server,
                                                   "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode()}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
    }, sort_keys=False))
    path.chmod(0o600)


def containerd_config(root: Path) -> Path:
    d = root / "containerd"
    runc = _binary("runc", "runc")
    text = f"""version = 3
root = "{d / 'root'}"
state = "{d / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
                    "io.containerd.nri.v1.nri"]

[grpc]
  address = "{d / 'containerd.sock'}"

[ttrpc]
  address = "{d / 'containerd.sock.ttrpc'}"

[plugins.'io.containerd.internal.v1.opt']
  path = "{d / 'opt'}"

[plugins.'io.containerd.cri.v1.runtime']
  # CAP_SYS_RESOURCE is missing on these machines: runc cannot lower a process's oom_score_adj below
  # containerd's own (../shared/REAL-NODE-NOTES.md).
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"

    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        Root = "{d / 'runc'}"
        SystemdCgroup = false

  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{toolchain.bin_dir('cni-plugins')}"]
    conf_dir = "{root / 'cni' / 'net.d'}"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"

  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{pause_image()}"
"""
    d.mkdir(parents=True, exist_ok=True)
    path = d / "config.toml"
    path.write_text(text)
    return path


def cni_config(root: Path) -> None:
    """One bridge, host-local addresses from the node's pod CIDR with a default route (without one
    pods have none), hairpin so a pod reaches itself through its Service; no masquerade: there is no
    outside to reach."""
    net = root / "cni" / "net.d"
    net.mkdir(parents=True, exist_ok=True)
    (net / "10-cache-patterns.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "cache-patterns-node",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": NODE_POD_CIDR}]],
                      "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(root / "cni" / "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ]}, indent=1))


def kubelet_config(root: Path, port: int) -> Path:
    pki = root / "pki"
    (root / "resolv.conf").write_text("")   # pods with dnsPolicy Default get no resolver outside the cluster
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": NODE_IP, "port": 10250, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": KUBELET_HEALTHZ,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs", "cgroupRoot": "/" + cgroup_root(port),
        "containerRuntimeEndpoint": f"unix://{root / 'containerd' / 'containerd.sock'}",
        "clusterDNS": [CLUSTER_DNS], "clusterDomain": CLUSTER_DOMAIN, "resolvConf": str(root / "resolv.conf"),
        "podLogsDir": str(root / "pod-logs"), "failSwapOn": False,
        # Images cannot be pulled again here: never collect them; evict only when truly short.
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "200Mi", "nodefs.available": "2%", "imagefs.available": "2%",
                         "nodefs.inodesFree": "2%"},
        "serializeImagePulls": False, "maxPods": 110, "registerNode": True,
        "nodeStatusUpdateFrequency": "4s", "syncFrequency": "10s",
        "volumeStatsAggPeriod": "0s",
    }
    path = root / "kubelet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def proxy_config(root: Path) -> Path:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(root / "kube-proxy.kubeconfig")},
        "hostnameOverride": NODE, "mode": "iptables", "clusterCIDR": POD_CIDR,
        "bindAddress": NODE_IP, "healthzBindAddress": f"127.0.0.1:{PROXY_HEALTHZ}",
        "metricsBindAddress": "127.0.0.1:10249",
        # Leave the conntrack sysctls alone (the table size is the host's, not the namespace's).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }
    path = root / "kube-proxy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def node_path() -> str:
    """PATH of the node's programs: containerd finds its shim there, the CNI plugins iptables."""
    dirs = [str(toolchain.bin_dir("containerd")), str(toolchain.bin_dir("runc")), "/usr/local/sbin", "/usr/local/bin",
            "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    return ":".join(dirs)


def node_commands(root: Path, port: int) -> dict[str, list[str]]:
    """Command lines of the node's programs (to be run inside the namespaces)."""
    env = ["env", f"PATH={node_path()}"]
    return {
        "containerd": [*env, str(_binary("containerd", "containerd")), f"--config={containerd_config(root)}",
                       "--log-level=warn"],
        "kubelet": [*env, str(_binary("kubelet", "kubelet")), f"--config={kubelet_config(root, port)}",
                    f"--kubeconfig={root / 'kubelet.kubeconfig'}", f"--hostname-override={NODE}",
                    f"--node-ip={NODE_IP}", f"--root-dir={root / 'kubelet'}", "--v=1"],
        "kube-proxy": [*env, str(_binary("kubelet", "kube-proxy")), f"--config={proxy_config(root)}", "--v=1"],
    }


def addon_commands(root: Path) -> dict[str, list[str]]:
    """cert-manager's controllers and kube-router's NetworkPolicy firewall, run like the control
    plane's programs (in the namespaces, with the admin kubeconfig), not as pods."""
    kubeconfig = f"--kubeconfig={root / 'kubeconfig'}"
    return {
        "cert-manager": [str(_binary("cert-manager", "cert-manager-controller")), kubeconfig,
                         "--cluster-resource-namespace=cert-manager"],
        "kube-router": ["env", f"PATH={node_path()}", str(_binary("kube-router", "kube-router")), kubeconfig,
                        "--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
                        "--run-loadbalancer=false", f"--hostname-override={NODE}", "--enable-ipv6=false",
                        "--metrics-port=0", "--health-port=20244", "--v=1"],
    }


def control_plane_changes(cmds: dict[str, list[str]], root: Path) -> dict[str, list[str]]:
    """The control plane of e2e/components.py, moved into the namespace: the API server listens on
    every address of it (its own loopback, the node's address that Service `kubernetes` points pods
    at), authorizes kubelets by node (Node, NodeRestriction) and reaches them by their address."""
    pki = root / "pki"
    api = [a for a in cmds["kube-apiserver"] if a not in ("--endpoint-reconciler-type=none",)]
    swap = {"--bind-address=127.0.0.1": "--bind-address=0.0.0.0", "--advertise-address=127.0.0.1":
            f"--advertise-address={NODE_IP}", "--authorization-mode=RBAC": "--authorization-mode=Node,RBAC"}
    api = [swap.get(a, a) for a in api]
    api += ["--enable-admission-plugins=NodeRestriction", "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}"]
    out = {k: v for k, v in cmds.items() if k != "kwok"}
    out["kube-apiserver"] = api
    # The node's pod CIDR is allocated as on a real cluster (the CNI's static range is the first /24).
    out["kube-controller-manager"] = [*cmds["kube-controller-manager"], "--node-monitor-grace-period=20s",
                                      "--allocate-node-cidrs=true", "--node-cidr-mask-size=24"]
    return out


def _python(module: str, *args: str) -> list[str]:
    """A module of this repository run as a program (its processes start in the state dir)."""
    return ["env", f"PYTHONPATH={Path(__file__).resolve().parent.parent}", sys.executable, "-m", module, *args]


def forwarder_command(port: int, netns_path: str) -> list[str]:
    return _python("e2e.nsforward", HOST_ADDRESS, str(port), netns_path, "127.0.0.1", str(port))


def volume_command(root: Path) -> list[str]:
    return _python("e2e.volumes", str(root / "kubeconfig"), str(root / "volumes"), NODE)
