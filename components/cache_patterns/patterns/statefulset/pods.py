"""Pattern 2's pods, as pure data: labels and selectors of each role (redis, sentinel, endpoint), the
volumes and mounts each role's containers see (configuration, run directory, password, certificates),
and the pod template around a role's containers, placed (by default spread over nodes and zones)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from cache_patterns.core import contract
from cache_patterns.core import placement as placing
from cache_patterns.core import k8s as kb
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.backup_settings import BACKUP_USER
from cache_patterns.patterns.statefulset.exporter import EXPORTER_PASSWORD_KEY
from cache_patterns.patterns.statefulset.settings import StatefulSetSettings

# `backup`: the pods of the backup CronJob (patterns/statefulset/backup_component.py).
ROLES = ("redis", "sentinel", "endpoint", "backup")
# Secret key of an ACL user's password (beside `password`, the default user's).
USER_KEY_PREFIX = "user-"


def user_key(user: str) -> str:
    """The Secret key holding an ACL user's password."""
    return f"{USER_KEY_PREFIX}{user}"


def acl_user_names(s: StatefulSetSettings) -> list[str]:
    """The ACL users Redis renders: the cache's, and with backups the backup job's."""
    return [u.name for u in s.acl_users] + ([BACKUP_USER] if s.backup is not None else [])


def labels(sts_name: str) -> dict[str, dict[str, str]]:
    return {role: kb.labels(sts_name, role, sts_name) for role in ROLES}


def selectors(sts_name: str) -> dict[str, dict[str, str]]:
    return {role: {**kb.selector(sts_name, sts_name), "app.kubernetes.io/component": role} for role in ROLES}


@dataclass(frozen=True)
class Pods:
    """What every pod of one cache shares: its settings, its ConfigMaps by role, the Secret holding its
    passwords (None without auth) and the Secret of its server certificate (None without TLS)."""

    settings: StatefulSetSettings
    sts_name: str
    conf_maps: Mapping[str, Any]       # role ("redis", "sentinel", "haproxy") -> ConfigMap name
    password_secret: Any = None
    tls_secret: Any = None
    placement: Mapping[str, placing.Placed] = field(default_factory=dict)   # role -> its merged placement
    pull_secrets: tuple[str, ...] = ()

    def volumes(self, role: str) -> list[dict]:
        s = self.settings
        vols = [{"name": "conf", "configMap": {"name": self.conf_maps[role], "defaultMode": 0o555}},
                {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}]
        if self.password_secret is not None:
            items = [{"key": contract.PASSWORD_KEY, "path": "password"}]
            if role == "redis":
                # Only Redis renders the ACL users; Sentinel and HAProxy never see their passwords.
                items += [{"key": user_key(u), "path": f"{ha.ACL_PASSWORD_SUBDIR}/{u}"} for u in acl_user_names(s)]
            if s.exporter and role in ("redis", "sentinel"):
                items.append({"key": EXPORTER_PASSWORD_KEY, "path": EXPORTER_PASSWORD_KEY})
            vols.append({"name": contract.AUTH_VOLUME, "secret": {
                "secretName": self.password_secret, "defaultMode": 0o440, "items": items}})
        if self.tls_secret is not None and role != "haproxy":
            vols.append({"name": "tls", "secret": {"secretName": self.tls_secret, "defaultMode": 0o440}})
        elif self.tls_secret is not None:
            vols.append({"name": "tls", "secret": {"secretName": self.tls_secret, "defaultMode": 0o440,
                                                   "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
        if self.tls_secret is not None:
            # The certificate files the processes load, kept in step with the Secret (tls-reload.sh).
            vols.append({"name": ha.TLS_LIVE_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
        return vols

    def mounts(self, role: str) -> list[dict]:
        out = [{"name": "conf", "mountPath": ha.CONF_DIR, "readOnly": True},
               {"name": "run", "mountPath": ha.RUN_DIR}]
        if self.password_secret is not None:
            out.append({"name": contract.AUTH_VOLUME, "mountPath": contract.AUTH_DIR, "readOnly": True})
        if self.tls_secret is not None:
            out.append({"name": "tls", "mountPath": ha.TLS_DIR, "readOnly": True})
            out.append({"name": ha.TLS_LIVE_VOLUME, "mountPath": ha.TLS_LIVE_DIR})
        return out

    def pod(self, role: str, containers: list[dict], extra_volumes: list[dict] = (), grace: int = 30) -> dict:
        """A role's pod template, placed (core/placement.py): by default, pods of one role preferably on
        different nodes and spread over zones where the cluster has them (preferences, so a small cluster
        still schedules them)."""
        selector = selectors(self.sts_name)[role]
        template = {
            "metadata": {"labels": labels(self.sts_name)[role]},
            "spec": {
                "securityContext": kb.pod_security_context(),
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": grace,
                "containers": containers,
                "volumes": self.volumes({"endpoint": "haproxy"}.get(role, role)) + list(extra_volumes),
            },
        }
        return placing.place(template, self.placement.get(role, placing.Placed()), selector,
                               default_affinity=placing.host_anti_affinity(selector),
                               default_spread=placing.zone_spread(selector), pull_secrets=self.pull_secrets)
