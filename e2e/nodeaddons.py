"""What the real-node cluster installs besides the CRDs: CoreDNS (the cluster's DNS: Service names and
the headless per-pod names of the contract, the Sentinel addresses) as a Deployment of the local
CoreDNS image, and the StorageClass of e2e/volumes.py's provisioner.

CoreDNS answers only for the cluster's zones: it forwards nothing (there is nowhere to forward to,
and nothing may leave the namespace), so any other name gets no answer.
"""
from __future__ import annotations

from e2e import toolchain
from e2e.images import COREDNS_REPO
from e2e.nodeconf import CLUSTER_DNS, CLUSTER_DOMAIN
from e2e.volumes import STORAGE_CLASS_MANIFEST

COREFILE = f""".:53 {{
    errors
    health :8080
    ready :8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loop
    loadbalance
}}
"""
LABELS = {"k8s-app": "kube-dns"}


def coredns_image() -> str:
    return f"{COREDNS_REPO}:{toolchain.pins()['coredns']['version']}"


def manifests() -> list[dict]:
    """CoreDNS's ServiceAccount, RBAC, Corefile, Deployment and the kube-dns Service; the StorageClass."""
    ns = "kube-system"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:coredns"},
         "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "system:coredns"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": ns}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": ns},
         "data": {"Corefile": COREFILE}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "coredns", "namespace": ns, "labels": LABELS},
         "spec": {"replicas": 1, "selector": {"matchLabels": LABELS}, "template": {
             "metadata": {"labels": LABELS},
             "spec": {
                 "serviceAccountName": "coredns", "dnsPolicy": "Default", "priorityClassName": "system-cluster-critical",
                 "containers": [{
                     "name": "coredns", "image": coredns_image(), "imagePullPolicy": "IfNotPresent",
                     "args": ["-conf", "/etc/coredns/Corefile"],
                     "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                               {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"}],
                     "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
                     "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
                     "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                     "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                         "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                 }],
                 "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
             }}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": ns, "labels": LABELS},
         "spec": {"clusterIP": CLUSTER_DNS, "selector": LABELS, "ports": [
             {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}},
        STORAGE_CLASS_MANIFEST,
    ]


def images() -> list[str]:
    """The images the node itself runs (the sandbox's pause, CoreDNS)."""
    from e2e.nodeconf import pause_image
    return [pause_image(), coredns_image()]
