"""The backup job and the restore step of a StatefulSet cache, run as their pods run them, next to a
live Cluster: the scripts of the rendered ConfigMaps (backup.py), the environment the plan gives the
containers with only paths and addresses made local, the engine image's programs (busybox mode) plus
restic in the tools dir (where the pods' init container copies it), as the pods' non-root user.

Used by the backup live tests and benchmarks/backup.py, so both measure exactly what a pod runs.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import redis

from cache_patterns.patterns.statefulset import backup as bk
from cache_patterns.patterns.statefulset import ha
from cache_patterns.patterns.statefulset.backup_settings import BackupSettings, RestoreSettings

from . import engines
from .plans import settings_plan
from .statefulset import LocalStatefulSet as Cluster
from .support import ENGINE_IMAGE, PASSWORD, UID, user_password, wait_until

RESTIC_KEY = "Rst1cKeyForLiveTests0x5e2Pq8Lm"
_KEY_FILES_LOCK = threading.Lock()


def restic() -> str | None:
    d = engines.toolchain_bin("restic")
    return str(d / "restic") if d is not None and (d / "restic").exists() else None


@dataclass(frozen=True)
class S3:
    """Where a live S3 server is and the credentials the job gets (its access key Secret)."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        out = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        if self.session_token:
            out["AWS_SESSION_TOKEN"] = self.session_token
        return out


def backup_settings(s3: S3, keep: int = 7, max_age: str | None = None, allow_primary: bool = False,
                    prefix: str = "live") -> BackupSettings:
    retention: dict = {"keep": keep}
    if max_age:
        retention["maxAge"] = max_age
    return BackupSettings.model_validate({
        "destination": {"endpoint": s3.endpoint, "bucket": s3.bucket, "prefix": prefix, "pathStyle": True,
                        "region": "us-east-1"},
        "credentials": {"secret": "live-s3"}, "encryptionKey": {"name": "live-key", "key": "key"},
        "retention": retention, "allowPrimary": allow_primary})


def protected_plan(persistence: str = "none", down_after_ms: int = 1500, failover_wait_s: int = 30,
                   servers: int = 3, sentinels: int = 3) -> ha.HaPlan:
    """The live tests' plan with backups on: PROTECT_DATA, and the backup ACL user beside none else."""
    plan = settings_plan(servers=servers, sentinels=sentinels, down_after_ms=down_after_ms, failover_timeout_ms=5000,
                         min_replicas_to_write=0, min_replicas_max_lag_ms=10_000, persistence=persistence, tls=False,
                         failover_wait_s=failover_wait_s, acl_users=((bk.BACKUP_USER, bk.BACKUP_RULES),),
                         check_interval_ms=500, tls_poll_s=0.5, tls_trust_delay_s=4, tls_restart_slot_s=2)
    return replace(plan, scripts=replace(plan.scripts, protect_data=True))


class Backups:
    """The backup job (`run`) and the restore step (`restore_init`) of one live Cluster."""

    def __init__(self, cluster: Cluster, s3: S3, settings: BackupSettings, cache: str = "live",
                 restore: RestoreSettings | None = None, key: str = RESTIC_KEY) -> None:
        self.cluster, self.s3, self.settings = cluster, s3, settings
        assert cluster.plan is not None
        self.plan = bk.BackupPlan(plan=cluster.plan, cache=cache, backup=settings, restore=restore,
                                  persistence=cluster.plan.server.persistence)
        n = len(list(cluster.root.glob("backup-job-*")))
        self.root = cluster.root / f"backup-job-{n}"
        self.restic = restic()
        assert self.restic is not None, "restic is not built (./run toolchain restic)"
        # The engine image's programs (the job runs in the cache's own image), as the cluster laid them out.
        self.image = cluster.images[ENGINE_IMAGE] if cluster.images else None
        self.key_file = self._secret("restic-key", key)
        # The backup user's password, as the cache's Secret holds it (the cluster renders the user from it).
        self.password_file = self._secret("backup-password", user_password(bk.BACKUP_USER))
        self.conf = self.root / "conf"
        self.conf.mkdir(parents=True)
        for name, text in self.plan.files().items():
            (self.conf / name).write_text(text)
        for name in bk.RESTORE_FILES:
            (self.conf / name).write_text(bk.script(name))
        self.conf.chmod(0o755)
        self.tools = self.root / "tools"
        self.tools.mkdir()
        shutil.copy2(self.restic, self.tools / "restic")
        self.tools.chmod(0o755)
        self.runs = 0
        self.restored_log = ""
        self.cpu: int | None = None          # benchmarks: the CPU the job runs on
        self.nice = 0                        # benchmarks: the job's niceness (a pod's lower CPU weight)

    def _secret(self, name: str, value: str) -> Path:
        d = self.root / "secrets"
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o755)
        path = d / name
        path.write_text(value)
        self.cluster._own(path, 0o440, owner=False)
        return path

    def set_key(self, value: str) -> None:
        self.key_file.write_text(value)

    def _local(self, env: dict[str, str], work: Path) -> dict[str, str]:
        """The container's env with local paths and addresses."""
        c = self.cluster
        mapping = {bk.KEY_FILE: str(self.key_file), bk.USER_PASSWORD_FILE: str(self.password_file),
                   bk.TOOLS_DIR: str(self.tools), bk.WORK_DIR: str(work), ha.CONF_DIR: str(self.conf),
                   bk.TERMINATION_LOG: str(work / "termination-log"), bk.S3_KEY_DIR: str(self._s3_key_files())}
        out = {k: mapping.get(v, v) for k, v in env.items()}
        out |= {"PEERS": " ".join(map(str, c.redis_addrs)), "SENTINELS": " ".join(map(str, c.sentinel_addrs)),
                "PATH": self.image.path_env() if self.image else f"{c.programs}:{engines.search_path()}",
                "HOME": str(work), "LANG": "C"}
        assert out.get("S3_KEY_DIR") == mapping[bk.S3_KEY_DIR], "the pods read the access key from files"
        return out

    def _s3_key_files(self) -> Path:
        """The access key Secret's files as the pods' secrets volume holds them (S3_KEY_DIR), written
        from `self.s3` at each start, as a renewed Secret would be."""
        d = self.root / "secrets" / "s3"
        with _KEY_FILES_LOCK:   # the Redis pods start in parallel threads (start_restored)
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)
            keys = self.s3.env()
            for stale in [f for f in d.iterdir() if f.name not in keys]:
                stale.unlink()
            for name, value in keys.items():
                tmp = d / f".{name}.new"
                tmp.write_text(value)
                self.cluster._own(tmp, 0o440, owner=False)
                os.replace(tmp, d / name)   # as the kubelet swaps a Secret volume's files: never half-written
        return d

    def job_env(self, work: Path) -> dict[str, str]:
        return self._local(self.plan.job_env(), work)

    def _prefix(self) -> list[str]:
        """The pod's non-root user (the job runs on 127.0.0.1 beside the cluster: no pod network)."""
        if os.geteuid() != 0:
            return []
        return [engines.which("setpriv") or "setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups",
                "--inh-caps=-all"]

    def _shell(self) -> list[str]:
        if self.image is None:
            return ["/bin/sh"]
        sh = self.image.resolve("sh")
        assert sh is not None
        return [sh]

    def run(self, timeout: float = 600, extra_env: dict[str, str] | None = None) -> "JobResult":
        """One run of the CronJob's container (a new pod: a new work dir)."""
        self.runs += 1
        work = self.root / f"work-{self.runs}"
        work.mkdir()
        self.cluster._own(work, 0o700)
        env = self.job_env(work) | (extra_env or {})
        t0 = time.monotonic()
        cpu, nice = self.cpu, self.nice

        def setup() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})
            os.nice(nice)
        pin = setup if cpu is not None or nice else None   # no preexec_fn unless asked (threads)
        p = subprocess.run([*self._prefix(), *self._shell(), str(self.conf / "backup.sh")], env=env, cwd=work,
                           capture_output=True, text=True, timeout=timeout, preexec_fn=pin)
        took = time.monotonic() - t0
        message = (work / "termination-log").read_text().strip() if (work / "termination-log").exists() else ""
        return JobResult(p.returncode, p.stdout, p.stderr, took, message)

    def restore_env(self, i: int, work: Path) -> dict[str, str]:
        c = self.cluster
        m = c.members[f"redis-{i}"]
        env = self._local(self.plan.restore_env(str(c.redis_addrs[i])), work)
        # The pod's own paths: its conf, run and data dirs, its password file (as the Redis container's).
        env = {k: v for k, v in env.items()} | {k: m.env[k] for k in ("PASSWORD_FILE", "RUN_DIR", "POD_NAME")
                                                 if k in m.env}
        return env | {"DATA_DIR": str(m.data), "CONF_DIR": str(self.conf), "WORK_DIR": str(m.data / ".restore")}

    def restore_script(self, i: int, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """restore.sh ARGS in redis-i's pod (its volumes), as the init container or an exec runs it."""
        m = self.cluster.members[f"redis-{i}"]
        work = self.root / f"restore-{i}-{time.monotonic_ns()}"
        work.mkdir()
        self.cluster._own(work, 0o700)
        env = self.restore_env(i, work)
        if args and args[0] != "init":
            env.pop("WORK_DIR")
        return subprocess.run([*self.cluster._prefix(m), *self._shell(), str(self.conf / "restore.sh"), *args],
                              env=env, cwd=m.data, capture_output=True, text=True, timeout=timeout)

    def start_with_restore(self, name: str) -> subprocess.CompletedProcess | None:
        """Start a member as its pod starts: a Redis pod runs the restore step first (its init container)."""
        result = None
        if name.startswith("redis-"):
            result = self.restore_script(int(name.rsplit("-", 1)[1]), "init")
            assert result.returncode == 0, f"{name}: the restore step failed:\n{result.stderr}"
            self.restored_log += result.stderr
        self.cluster.start(name)
        return result

    def restic_cmd(self, *args: str, key: str | None = None, text: bool = True) -> subprocess.CompletedProcess:
        """restic itself against the cache's repository (what an operator would run)."""
        env = {"RESTIC_REPOSITORY": self.plan.repository, "RESTIC_PASSWORD": key or self.key_file.read_text(),
               "PATH": "/usr/bin:/bin", "HOME": str(self.root)} | self.s3.env()
        return subprocess.run([self.restic, "--no-cache", "-o", "s3.bucket-lookup=path", "-o", "s3.region=us-east-1",
                               *args], env=env, capture_output=True, text=text, timeout=600)

    def s3_objects(self) -> list[str]:
        """The repository's objects in the bucket."""
        from .s3client import list_objects

        prefix = self.plan.repository.split(f"/{self.s3.bucket}/", 1)[1]
        return list_objects(self.s3.endpoint, self.s3.bucket, prefix, self.s3.access_key, self.s3.secret_key)

    def dump(self, snapshot: str) -> bytes:
        """The RDB a backup holds, as restic gives it back."""
        p = self.restic_cmd("dump", snapshot, "/dump.rdb", text=False)
        assert p.returncode == 0, p.stderr[-500:]
        return p.stdout

    def manifests(self) -> list[dict]:
        import json

        p = self.restic_cmd("snapshots", "--json", "--host", self.plan.statefulset, "--tag",
                            f"cache={self.plan.cache},manifest=1")
        assert p.returncode == 0, p.stderr
        out = []
        for snap in json.loads(p.stdout or "[]"):
            tags = dict(t.split("=", 1) for t in snap.get("tags", []) if "=" in t)
            out.append({"id": snap["short_id"], "time": snap["time"], **tags})
        return out


@dataclass(frozen=True)
class JobResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    message: str

    @property
    def snapshot(self) -> str:
        assert self.message.startswith("ok "), f"the job failed: {self.message}\n{self.stderr}"
        return self.message.split()[1]


def digests(client: redis.Redis, match: str = "*") -> dict[bytes, str]:
    """Every key's value digest over the whole keyspace: its type and value in a canonical form
    (hash fields and set members sorted: their order in DUMP follows the hash table's history, not the
    value), and whether it has a TTL."""
    out: dict[bytes, str] = {}
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor, match=match, count=2000)
        if keys:
            pipe = client.pipeline(transaction=False)
            for k in keys:
                pipe.type(k)
                pipe.pttl(k)
            meta = pipe.execute()
            pipe = client.pipeline(transaction=False)
            kinds = []
            for k, kind in zip(keys, meta[::2]):
                kind = kind.decode() if isinstance(kind, bytes) else kind
                kinds.append(kind)
                {"string": lambda: pipe.get(k), "hash": lambda: pipe.hgetall(k), "list": lambda: pipe.lrange(k, 0, -1),
                 "set": lambda: pipe.smembers(k), "zset": lambda: pipe.zrange(k, 0, -1, withscores=True),
                 "none": lambda: pipe.exists(k)}[kind]()
            for k, kind, ttl, value in zip(keys, kinds, meta[1::2], pipe.execute()):
                if kind == "none":
                    continue
                if isinstance(value, dict):
                    value = sorted(value.items())
                elif isinstance(value, set):
                    value = sorted(value)
                text = repr((kind, value, ttl > 0)).encode()
                out[k] = hashlib.sha256(text).hexdigest()[:16]
        if cursor == 0:
            return out


def fill(client: redis.Redis, n: int, prefix: str = "k", size: int = 1000, ttl_every: int = 7) -> None:
    """n keys of `size` half-compressible bytes (hex of random bytes), strings, hashes and lists, a
    TTL on every `ttl_every`-th."""
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        value = os.urandom(size // 2).hex()
        key = f"{prefix}:{i}"
        kind = i % 10
        if kind == 8:
            pipe.hset(f"{key}:h", mapping={"a": value[:100], "b": str(i)})
        elif kind == 9:
            pipe.rpush(f"{key}:l", value[:50], value[50:100], str(i))
        else:
            pipe.set(key, value)
        if i % ttl_every == 0:
            pipe.expire(key if kind < 8 else f"{key}:{'h' if kind == 8 else 'l'}", 86400)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def raw(cluster: Cluster, i: int) -> redis.Redis:
    """A client of redis-i returning bytes (DUMP payloads)."""
    return redis.Redis(host=cluster.redis_addrs[i].host, port=cluster.redis_addrs[i].port, password=PASSWORD,
                       socket_timeout=30)


def restore_from(snapshot: str) -> RestoreSettings:
    return RestoreSettings.model_validate({"from": snapshot})


def start_restored(target: Cluster, restore: Backups) -> tuple[float, float]:
    """The order `pulumi up` gives a cache created with `restore`: the Redis pods in parallel, each
    running the restore step first (its init container), then, once they are ready, the Sentinels
    (which depend on them) and HAProxy. Returns the seconds until the restored primary had loaded its
    data set and until both replicas had synced from it."""
    t0 = time.monotonic()
    errors: list[BaseException] = []
    def pod(name: str) -> None:
        try:
            restore.start_with_restore(name)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)
    threads = [threading.Thread(target=pod, args=(f"redis-{i}",)) for i in range(target.servers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    wait_until("the restored primary to load its data", lambda: target.role(0) == "master" and
               target.redis(0).info("persistence")["loading"] == 0, 600, interval=0.2)
    primary_ready = time.monotonic() - t0
    def synced() -> bool:
        for i in range(1, target.servers):
            with target.redis(i) as r:
                if r.info("replication").get("master_link_status") != "up":
                    return False
        return True
    wait_until("the replicas to sync from the restored primary", synced, 600, interval=0.2)
    all_synced = time.monotonic() - t0
    with target.redis(0) as r:
        assert r.dbsize() > 0, "the Sentinels would start before the restored primary holds its data"
    for name, m in target.members.items():
        if not name.startswith("redis-") and not m.running():
            target.start(name)
    return primary_ready, all_synced
