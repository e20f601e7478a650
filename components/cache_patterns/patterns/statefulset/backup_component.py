"""The Kubernetes objects of a StatefulSet cache's backups and restore (docs/backup.md): the backup
CronJob with its ConfigMap, NetworkPolicy and (EKS workload identity) ServiceAccount, and the restore
step the Redis pods run before Redis starts. Pod specs come from backup.BackupPlan; every child is
the cache component's, with a stable name."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.core import k8s as kb
from cache_patterns.core import placement as placing
from cache_patterns.core.image_set import ImageSet
from cache_patterns.patterns.statefulset import backup as bk
from cache_patterns.patterns.statefulset import ha, pods
from cache_patterns.patterns.statefulset.backup_settings import BACKUP_USER

# The job's work dir is restic's TMPDIR too (the root filesystem is read-only): a backup or a prune keeps
# its packs in temporary files until they are uploaded, at most bk.RESTIC_TEMP_MAX bytes at once.
WORK_SIZE = "256Mi"
TOOLS_SIZE = "128Mi"
# Kubernetes keeps this many finished Jobs of each outcome (their pods hold the logs).
HISTORY = 3


def plan(ha_plan: ha.HaPlan, cache: str, s) -> bk.BackupPlan | None:
    """The backups of a cache with `backup` (and its restore), else None."""
    if s.backup is None:
        return None
    return bk.BackupPlan(plan=ha_plan, cache=cache, backup=s.backup, restore=s.restore, persistence=s.persistence)


def service_account(bplan: bk.BackupPlan, name: str, namespace: str, labels: dict,
                    parent: pulumi.Resource) -> str | None:
    """With an EKS workload identity: a ServiceAccount with the role annotation (the EKS pod identity
    webhook gives its pods AWS_ROLE_ARN and a projected token restic reads)."""
    arn = bplan.backup.credentials.role_arn
    if arn is None:
        return None
    sa = f"{bplan.statefulset}-backup"
    k8s.core.v1.ServiceAccount(f"{name}-backup-sa", metadata={
        "name": sa, "namespace": namespace, "labels": labels, "annotations": {"eks.amazonaws.com/role-arn": arn}},
        automount_service_account_token=False,
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True))
    return sa


def secrets_volume(bplan: bk.BackupPlan, server_secret: str | None, tls_secret: str | None,
                   backup_password_key: str | None) -> dict:
    """One read-only volume at BACKUP_SECRET_DIR: the restic key, the S3 CA and access key, the backup
    user's password (the job) and the cache's CA (with TLS)."""
    sources = bplan.backup_secret_items("")
    if server_secret is not None and backup_password_key is not None:
        sources.append({"secret": {"name": server_secret, "items": [{"key": backup_password_key,
                                                                     "path": "backup-password"}]}})
    if tls_secret is not None:
        sources.append({"secret": {"name": tls_secret, "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
    return {"name": bk.BACKUP_SECRETS_VOLUME, "projected": {"defaultMode": 0o440, "sources": sources}}


def _env(values: dict[str, str]) -> list[dict]:
    return [{"name": k, "value": v} for k, v in values.items()]


def job_pod(bplan: bk.BackupPlan, image: dict, tools: dict, conf_map: pulumi.Input[str], server_secret: str | None,
            tls_secret: str | None, backup_password_key: str, labels: dict, sa: str | None) -> dict:
    s = bplan.backup
    restricted = kb.container_security_context()
    mounts = [{"name": "conf", "mountPath": ha.CONF_DIR, "readOnly": True},
              {"name": bk.TOOLS_VOLUME, "mountPath": bk.TOOLS_DIR},
              {"name": bk.WORK_VOLUME, "mountPath": bk.WORK_DIR},
              {"name": bk.BACKUP_SECRETS_VOLUME, "mountPath": bk.BACKUP_SECRET_DIR, "readOnly": True}]
    memory = f"{s.memory // (1024 * 1024)}Mi"
    container = {
        "name": "backup", **image, "command": bk.backup_command(),
        "env": _env(bplan.job_env()),
        "resources": {"requests": {"cpu": bk.BACKUP_RESOURCES_CPU, "memory": memory}, "limits": {"memory": memory}},
        "securityContext": restricted, "volumeMounts": mounts,
        "terminationMessagePath": bk.TERMINATION_LOG, "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    spec: dict = {
        "securityContext": kb.pod_security_context(), "automountServiceAccountToken": False,
        "enableServiceLinks": False, "restartPolicy": "Never",
        "initContainers": [bplan.tools_container(restricted, tools)], "containers": [container],
        "volumes": [{"name": "conf", "configMap": {"name": conf_map, "defaultMode": 0o555}},
                    {"name": bk.TOOLS_VOLUME, "emptyDir": {"sizeLimit": TOOLS_SIZE}},
                    {"name": bk.WORK_VOLUME, "emptyDir": {"sizeLimit": WORK_SIZE}},
                    secrets_volume(bplan, server_secret, tls_secret, backup_password_key)],
    }
    if sa is not None:
        spec["serviceAccountName"] = sa
    return {"metadata": {"labels": labels}, "spec": spec}


def cronjob_spec(bplan: bk.BackupPlan, pod: dict) -> dict:
    s = bplan.backup
    return {
        "schedule": s.schedule, "timeZone": s.time_zone,
        # One backup at a time (restic's locks would serialise them anyway); a missed run starts late
        # within a schedule period rather than never.
        "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": min(bplan.backup.interval_s, 3600),
        "successfulJobsHistoryLimit": HISTORY, "failedJobsHistoryLimit": HISTORY,
        "jobTemplate": {"spec": {"backoffLimit": 1, "activeDeadlineSeconds": s.timeout // 1000 + 600,
                                 "template": pod}},
    }


def attach(name: str, parent: pulumi.Resource, bplan: bk.BackupPlan, *, image: dict, images: ImageSet, placed: placing.Placed, namespace: str,
           labels: dict, redis_selector: dict, server_secret: str | None, tls_secret: str | None,
           backup_password_key: str, sa: str | None) -> None:
    """The backup CronJob, its ConfigMap and its egress NetworkPolicy, as children of the cache
    component (`sa`: the ServiceAccount of a workload identity, `service_account`)."""
    child = pulumi.ResourceOptions(parent=parent)
    named = pulumi.ResourceOptions(parent=parent, delete_before_replace=True)
    conf = k8s.core.v1.ConfigMap(f"{name}-backup-conf", metadata={"namespace": namespace, "labels": labels},
                                 data=bplan.files(), opts=child)
    pod = job_pod(bplan, image, images.container("restic"), conf.metadata.name, server_secret, tls_secret,
                  backup_password_key, labels, sa)
    selector = {k: v for k, v in labels.items() if k in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                                                         "app.kubernetes.io/component")}
    # Placed as the Redis pods are (the cache's nodes), with the stack's pull Secrets.
    pod = placing.place(pod, placed, selector, pull_secrets=images.pull_secrets)
    k8s.batch.v1.CronJob(f"{name}-backup", metadata={"name": f"{bplan.statefulset}-backup", "namespace": namespace,
                                                     "labels": labels},
                         spec=cronjob_spec(bplan, pod), opts=named)
    # Ingress listed without rules denies all ingress; no `ingress: []` (the server drops an empty
    # list, and what is stored would then differ from what was sent on every run).
    k8s.networking.v1.NetworkPolicy(
        f"{name}-backup-egress", metadata={"namespace": namespace, "labels": labels},
        spec={"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress", "Egress"],
              "egress": bplan.egress(redis_selector, ha.REDIS_PORT)}, opts=child)


def add_restore(template: dict, bplan: bk.BackupPlan, image: dict, tools: dict, mounts: list[dict], sa: str | None) -> None:
    """The Redis pod template with the restore step (before Redis starts), its volumes and, with an
    EKS workload identity, the backup ServiceAccount (the restore reads the bucket with it)."""
    init, volumes = restore_init(bplan, image, tools, mounts)
    spec = template["spec"]
    spec["initContainers"] = init + spec.get("initContainers", [])
    spec["volumes"] = spec["volumes"] + volumes
    if sa is not None:
        spec["serviceAccountName"] = sa


def restore_init(bplan: bk.BackupPlan, image: dict, tools: dict, mounts: list[dict]) -> tuple[list, list]:
    """The Redis pods' init containers (restic copied in, then `restore.sh init`) and the volumes they
    add. They mount the pod's conf, run, data and password volumes as the Redis container does."""
    restricted = kb.container_security_context()
    domain, port = bplan.plan.names.domain(bplan.plan.names.headless), bplan.plan.server.port
    env = bplan.restore_env("$(POD_NAME)." + f"{domain}:{port}")
    pod_name = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    restore = {
        "name": "restore", **image, "command": bk.restore_command(),
        "env": [pod_name] + _env(env),
        "resources": {"requests": {"cpu": bk.BACKUP_RESOURCES_CPU, "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": restricted,
        "volumeMounts": [m for m in mounts if m["name"] != ha.TLS_LIVE_VOLUME] + [
            {"name": bk.TOOLS_VOLUME, "mountPath": bk.TOOLS_DIR},
            {"name": bk.BACKUP_SECRETS_VOLUME, "mountPath": bk.BACKUP_SECRET_DIR, "readOnly": True}],
    }
    volumes = [{"name": bk.TOOLS_VOLUME, "emptyDir": {"sizeLimit": TOOLS_SIZE}},
               secrets_volume(bplan, None, None, None)]
    return [bplan.tools_container(restricted, tools), restore], volumes


def setup(c, name: str) -> tuple[bk.BackupPlan | None, str | None]:
    """The backup plan of RedisStatefulSet `c` and, with a workload identity, its ServiceAccount."""
    bplan = plan(c.plan, name, c.settings)
    return bplan, (service_account(bplan, name, c.ns, c.labels["backup"], c) if bplan is not None else None)


def wire(c, name: str) -> None:
    """The backup objects of RedisStatefulSet `c` (with `backup`): placed as its Redis pods are."""
    if c.backup_plan is None or c.settings.backup is None:
        return
    attach(name, c, c.backup_plan, image=c.image, images=c.images, placed=c._placement()["redis"], namespace=c.ns,
           labels=c.labels["backup"], redis_selector=c.selectors["redis"], server_secret=c.pods.password_secret,
           tls_secret=c._tls.server_secret, backup_password_key=pods.user_key(BACKUP_USER), sa=c.backup_sa)


def restore_into(c, template: dict, mounts: list[dict]) -> None:
    """RedisStatefulSet `c`'s Redis pod template with the restore step (with `restore`)."""
    if c.backup_plan is not None and c.settings.restore is not None:
        add_restore(template, c.backup_plan, c.image, c.images.container("restic"), mounts, c.backup_sa)
