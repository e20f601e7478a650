"""Backups and restores of a StatefulSet cache, as pure functions of its config: the backup ACL user,
the scripts' environment, the containers of the backup CronJob and of the restore init step, and the
backup pods' egress. The live tests run the scripts with exactly this environment (paths made local).

Design (docs/backup.md): restic, whose repository is encrypted with a key from a Secret and whose
snapshots appear only when complete; the RDB is streamed from a replica (`valkey-cli --rdb -`, the
`sync` permission) through sha256sum and valkey-check-rdb into `restic backup --stdin-from-command`,
so a backup takes about as long as the slower of the transfer and the upload, needs no local disk,
and a dump that fails its checks is never stored. restic comes from the restic image, copied into
an emptyDir by an init container; everything else runs in the cache's own engine image.
"""
from __future__ import annotations

from dataclasses import dataclass

from cache_patterns.core import contract, images
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.backup_settings import BACKUP_USER, BackupSettings, RestoreSettings

RESTIC_IMAGE = images.RESTIC_IMAGE
# What `valkey-cli --rdb` needs and nothing more: SYNC (the RDB), REPLCONF (rdb-only and capa eof, so
# the server streams the RDB over the socket instead of writing it to disk first), INFO (which server
# is a healthy replica, the engine's version), PING. No key, no channel, no other command.
BACKUP_RULES = "-@all +sync +replconf +info +ping"
TOOLS_DIR = "/cache-patterns/tools"
TOOLS_VOLUME = "restic-tools"
WORK_DIR = "/work"
WORK_VOLUME = "work"
BACKUP_SECRET_DIR = "/etc/cache-patterns/backup"
BACKUP_SECRETS_VOLUME = "backup-secrets"
KEY_FILE = f"{BACKUP_SECRET_DIR}/restic-key"
USER_PASSWORD_FILE = f"{BACKUP_SECRET_DIR}/backup-password"
S3_CA_FILE = f"{BACKUP_SECRET_DIR}/s3-ca.crt"
TLS_CA_FILE = f"{BACKUP_SECRET_DIR}/ca.crt"
# The S3 access key as files (one per variable restic reads), not env: restic.sh reads them into restic's
# environment only, when it starts restic.
S3_KEY_DIR = f"{BACKUP_SECRET_DIR}/s3"
JOB_FILES = ("common.sh", "restic.sh", "backup.sh")
RESTORE_FILES = ("restic.sh", "restore.sh")
# The job's address in the scripts' terms (common.sh wants one; it is no server's).
JOB_ADDRESS = "backup-job:0"
TERMINATION_LOG = "/dev/termination-log"
# restic's CA bundle path in its image (alpine's ca-certificates); copied beside restic.
RESTIC_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BACKUP_RESOURCES_CPU = "100m"
# restic's temporary pack files (its TMPDIR): two packers filling and one upload per S3 connection (5 by
# default), each up to the 16 MiB pack size plus one chunk of at most 8 MiB (restic 0.19's repository
# package: defaultPackerCount, DefaultPackSize; the chunker's MaxSize).
RESTIC_TEMP_MAX = (2 + 5) * (16 + 8) * 1024 * 1024


def script(name: str) -> str:
    return (ha.SCRIPT_DIR / name).read_text()


@dataclass(frozen=True, kw_only=True)
class BackupPlan:
    """One cache's backups (`backup`) and restore at creation (`restore`, which reads the same
    destination): the scripts' environment as plain values, and the containers that run them."""

    plan: ha.HaPlan
    cache: str
    backup: BackupSettings
    restore: RestoreSettings | None = None
    persistence: str = "none"

    @property
    def statefulset(self) -> str:
        return self.plan.names.statefulset

    @property
    def repository(self) -> str:
        return self.backup.destination.repository(self.statefulset)

    def restic_env(self) -> dict[str, str]:
        d = self.backup.destination
        out = {"TOOLS_DIR": TOOLS_DIR, "RESTIC_REPOSITORY": self.repository, "RESTIC_PASSWORD_FILE": KEY_FILE,
               "S3_BUCKET_LOOKUP": "path" if d.path_style else "dns", "BACKUP_HOST": self.statefulset,
               "BACKUP_CACHE": self.cache}
        if d.region:
            out["S3_REGION"] = d.region
        if d.ca_secret is not None:
            out["S3_CA_FILE"] = S3_CA_FILE
        if self.backup.credentials.secret is not None:
            out["S3_KEY_DIR"] = S3_KEY_DIR
        return out

    def job_env(self) -> dict[str, str]:
        """backup.sh's environment: it reaches the servers as the backup user only."""
        s = self.backup
        out = self.plan.scripts.env(JOB_ADDRESS)
        for key in ("RUN_DIR", "DISCOVERY_TIMEOUT", "FAILOVER_WAIT", "PRESTOP_TIMEOUT", "ACL_PASSWORD_DIR",
                    "PROTECT_DATA"):
            out.pop(key, None)
        for key in [k for k in out if k.startswith("TLS_")]:
            out.pop(key)
        out["PASSWORD_FILE"] = USER_PASSWORD_FILE
        if self.plan.tls:
            out["TLS_CA_FILE"] = TLS_CA_FILE
        out |= self.restic_env() | {
            "BACKUP_USER": BACKUP_USER, "WORK_DIR": WORK_DIR, "KEEP_LAST": str(s.retention.keep),
            "KEEP_WITHIN": s.keep_within, "ALLOW_PRIMARY": "yes" if s.allow_primary else "no",
            "DUMP_TIMEOUT": str(s.timeout // 1000), "TERMINATION_LOG": TERMINATION_LOG,
            # restic writes its packs to temporary files before it uploads them: in the work volume,
            # since the root filesystem (where /tmp is) is read-only.
            "TMPDIR": WORK_DIR}
        if s.pushgateway:
            out |= {"PUSHGATEWAY_URL": s.pushgateway, "METRICS_JOB": "cache-backup",
                    "METRICS_NAMESPACE": self.plan.names.namespace}
        return out

    def restore_env(self, self_address: str) -> dict[str, str]:
        """restore.sh's (the Redis pods' init step): the pod's own view (its password, to ask the
        Sentinels and peers whether the cache holds data) and the repository."""
        assert self.restore is not None
        out = self.plan.scripts.env(self_address)
        for key in [k for k in out if k.startswith("TLS_")]:
            out.pop(key)
        if self.plan.tls:
            # Before tls-reload.sh has copied them: the Secret's own CA.
            out["TLS_CA_FILE"] = f"{ha.TLS_DIR}/ca.crt"
        return out | self.restic_env() | {"RESTORE_FROM": self.restore.from_, "DATA_DIR": ha.DATA_DIR,
                                          "PERSISTENCE": self.persistence}

    def files(self) -> dict[str, str]:
        """The backup job's ConfigMap."""
        return {name: script(name) for name in JOB_FILES}

    def credential_items(self) -> list[dict]:
        """The S3 access key as files of the secrets volume (from the existing Secret; none with a role:
        the EKS pod identity webhook injects AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, which restic
        reads). Files, not env: nothing but restic gets them in its environment (restic.sh)."""
        c = self.backup.credentials
        if c.secret is None:
            return []
        keys = [("AWS_ACCESS_KEY_ID", c.access_key_id_key), ("AWS_SECRET_ACCESS_KEY", c.secret_access_key_key)]
        if c.session_token_key:
            keys.append(("AWS_SESSION_TOKEN", c.session_token_key))
        prefix = S3_KEY_DIR.removeprefix(BACKUP_SECRET_DIR + "/")
        return [{"secret": {"name": c.secret, "items": [{"key": k, "path": f"{prefix}/{n}"} for n, k in keys]}}]

    def tools_container(self, security_context: dict, image: dict | None = None) -> dict:
        """Copies restic and its CA bundle out of the restic image (the engine image has no restic);
        `image`: the catalogue's `restic` as the stack's `images` resolve it (core/image_set.py)."""
        image = image or {"image": RESTIC_IMAGE, "imagePullPolicy": "IfNotPresent"}
        return {"name": "restic-tools", **image,
                "command": ["cp", images.of(RESTIC_IMAGE).resolve("restic"), RESTIC_CA_BUNDLE, f"{TOOLS_DIR}/"],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
                "securityContext": security_context,
                "volumeMounts": [{"name": TOOLS_VOLUME, "mountPath": TOOLS_DIR}]}

    def backup_secret_items(self, backup_password_key: str) -> list[dict]:
        """The projected volume at BACKUP_SECRET_DIR: the restic key, the S3 CA and access key; the backup
        user's password and the cache's CA come from the cache's Secrets (added by the component)."""
        s = self.backup
        out = [{"secret": {"name": s.encryption_key.name, "items": [{"key": s.encryption_key.key,
                                                                      "path": "restic-key"}]}}]
        if s.destination.ca_secret is not None:
            out.append({"secret": {"name": s.destination.ca_secret.name,
                                   "items": [{"key": s.destination.ca_secret.key, "path": "s3-ca.crt"}]}})
        return out + self.credential_items()

    def egress(self, redis_selector: dict, port: int) -> list[dict]:
        """The backup pods may reach DNS, the cache's Redis pods, the S3 endpoint and the Pushgateway."""
        d = self.backup.destination
        dns = {"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"},
                                                             {"port": 53, "protocol": "TCP"}]}
        redis = {"to": [{"podSelector": {"matchLabels": redis_selector}}], "ports": [{"port": port, "protocol": "TCP"}]}
        s3: dict = {"ports": [{"port": d.port, "protocol": "TCP"}]}
        if d.egress:
            s3["to"] = [{"ipBlock": {"cidr": c}} for c in d.egress]
        out = [dns, redis, s3]
        if self.backup.pushgateway:
            out.append({"ports": [{"port": _url_port(self.backup.pushgateway), "protocol": "TCP"}]})
        return out


def _url_port(url: str) -> int:
    import re

    m = re.match(r"(https?)://(\[[^]]+\]|[^:/]+)(?::(\d+))?", url)
    assert m is not None
    return int(m.group(3)) if m.group(3) else (443 if m.group(1) == "https" else 80)


def restore_command() -> list[str]:
    return ["sh", f"{ha.CONF_DIR}/restore.sh", "init"]


def backup_command() -> list[str]:
    return ["sh", f"{ha.CONF_DIR}/backup.sh"]


def password_file() -> str:
    """Where the Redis pods keep the default password (the restore step asks Sentinels with it)."""
    return contract.PASSWORD_FILE
