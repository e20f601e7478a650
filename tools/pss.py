"""A check of pod specs against the Kubernetes "restricted" Pod Security Standard (the rules the
`pod-security.kubernetes.io/enforce: restricted` admission applies), plus this project's own stricter
rules: read-only root filesystem, UID/GID >= 10000, resources on every container.

Written from the standard's published table (kubernetes.io/docs/concepts/security/pod-security-standards),
policy version "latest"; the tests run it on every pod template of every stack.
"""
from __future__ import annotations

from typing import Iterator

ALLOWED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                        "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def pod_specs(obj: dict) -> Iterator[tuple[str, dict]]:
    """(where, pod spec) for a Pod or any workload with a pod template."""
    kind = obj.get("kind")
    name = f"{kind} {(obj.get('metadata') or {}).get('namespace', '')}/{(obj.get('metadata') or {}).get('name')}"
    if kind == "Pod":
        yield name, obj.get("spec") or {}
    elif kind in POD_TEMPLATE_KINDS:
        yield name, (((obj.get("spec") or {}).get("template") or {}).get("spec")) or {}
    elif kind == "CronJob":
        yield name, ((((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}


def _containers(spec: dict) -> Iterator[dict]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def runs_to_completion(spec: dict) -> bool:
    """A pod whose containers finish: a Job's or CronJob's template (the API server accepts only restartPolicy
    Never or OnFailure there, and only Always, the default, on a Deployment's, StatefulSet's, DaemonSet's or
    ReplicaSet's) or a bare Pod restarted never or only on failure."""
    return spec.get("restartPolicy", "Always") in ("Never", "OnFailure")


def _long_running(spec: dict, c: dict) -> bool:
    """Native sidecars run for the pod's life; regular containers do unless the pod runs to completion
    (a Job's container is done when it exits: no Service sends it traffic for readiness to gate, and the
    Job's activeDeadlineSeconds ends a hung run where liveness would restart it); one-shot init containers
    never do."""
    if c.get("restartPolicy") == "Always":
        return True
    return c in (spec.get("containers") or []) and not runs_to_completion(spec)


def restricted_violations(spec: dict, strict: bool = True) -> list[str]:
    """Every way `spec` breaks the restricted standard (and, with strict, this project's rules)."""
    out: list[str] = []
    psc = spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            out.append(f"{host} is true")
    if (psc.get("seLinuxOptions") or {}).get("type") not in (None, "", "container_t", "container_init_t",
                                                             "container_kvm_t", "container_engine_t"):
        out.append("pod seLinuxOptions.type is not allowed")
    for s in psc.get("sysctls") or []:
        if s.get("name") not in SAFE_SYSCTLS:
            out.append(f"unsafe sysctl {s.get('name')}")
    for v in spec.get("volumes") or []:
        kinds = set(v) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            out.append(f"volume {v.get('name')} uses {sorted(kinds - ALLOWED_VOLUME_TYPES)}")
    pod_non_root = psc.get("runAsNonRoot") is True
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if psc.get("runAsUser") == 0:
        out.append("pod runAsUser is 0")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"pod seccompProfile {pod_seccomp}")
    for c in _containers(spec):
        n = c.get("name")
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"{n}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{n}: allowPrivilegeEscalation is not false")
        if not (sc.get("runAsNonRoot") is True or (pod_non_root and sc.get("runAsNonRoot") is not False)):
            out.append(f"{n}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            out.append(f"{n}: runAsUser is 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{n}: seccompProfile is {seccomp or 'unset'}")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{n}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{n}: adds capabilities {sorted(set(caps['add']) - {'NET_BIND_SERVICE'})}")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{n}: procMount {sc.get('procMount')}")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                out.append(f"{n}: hostPort {port['hostPort']}")
        if strict:
            if sc.get("readOnlyRootFilesystem") is not True:
                out.append(f"{n}: root filesystem is writable")
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            gid = sc.get("runAsGroup", psc.get("runAsGroup"))
            if uid is None or uid < 10000 or gid is None or gid < 10000:
                out.append(f"{n}: UID/GID {uid}/{gid} below 10000")
            res = c.get("resources") or {}
            if not (res.get("requests") or {}).get("memory") or not (res.get("limits") or {}).get("memory"):
                out.append(f"{n}: no memory request/limit")
            if _long_running(spec, c) and not c.get("livenessProbe") and not c.get("readinessProbe"):
                out.append(f"{n}: no probes")
    if strict and spec.get("automountServiceAccountToken") is not False:
        out.append("service account token is mounted")
    return out
