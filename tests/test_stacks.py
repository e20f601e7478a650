"""Every committed stack: it evaluates, its objects validate against the official Kubernetes schemas
(oldest and newest supported minor, strict) and operator CRDs, its pods meet the restricted Pod
Security Standard, apps point at caches that exist, no secret leaks, and nothing is renamed or
replaced without a snapshot update."""
from __future__ import annotations

import base64
import json
import re
import urllib.parse

import pytest
import yaml

from cache_patterns import stack_reader
from cache_patterns import stack as config
from cache_patterns.config import reference
from cache_patterns.config.app import SECRETISH
from cache_patterns.config.describe import field_kind, models_of
from cache_patterns.stack import StackConfig
from tests.conftest import CANARY, not_applicable, skip_or_fail, stack_run
from tools import harness, pss, snapshot, validate

STACKS = harness.list_stacks()


def test_the_stacks_the_readme_promises_exist():
    assert {"local", "dev"} <= set(STACKS)


def test_every_snapshot_belongs_to_a_stack():
    """A stack removed without its snapshot leaves a stale file (and a silently weaker check)."""
    stale = [p.stem for p in snapshot.SNAPSHOT_DIR.glob("*.json") if p.stem not in STACKS]
    assert not stale, f"snapshots without a stack file: {stale} (delete them)"


@pytest.mark.parametrize("stack", STACKS)
def test_stack_evaluates_with_objects_and_outputs(stack):
    run = stack_run(stack)
    assert run.k8s_objects, "a stack with no Kubernetes objects"
    assert {"environment", "caches", "apps"} <= set(run.outputs)


@pytest.mark.parametrize("version", validate.VALIDATED_VERSIONS)
@pytest.mark.parametrize("stack", STACKS)
def test_builtin_objects_validate_strictly(stack, version):
    problems = [p for obj in stack_run(stack).manifests() if not validate.is_custom(obj)
                for p in validate.validate_k8s(obj, version)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", STACKS)
def test_builtin_objects_validate_for_the_stack_own_version(stack):
    version = harness.load_stack_config(stack).get("cache-patterns:kubernetesVersion", "1.33")
    problems = [p for obj in stack_run(stack).manifests() if not validate.is_custom(obj)
                for p in validate.validate_k8s(obj, version)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_validate_against_operator_crds(stack, crd_index):
    from tools import crds

    customs = [o for o in stack_run(stack).manifests() if validate.is_custom(o)]
    if not customs:
        not_applicable(f"stack {stack} renders no custom resources")
    covered = [o for o in customs if crds.covers(o, crd_index)]
    if not covered:
        skip_or_fail(f"{crd_index.folder} has no CRD of the groups of {[validate.describe(o) for o in customs]}")
    problems = [p for obj in covered for p in crds.validate(obj, crd_index)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_meets_the_restricted_pod_security_standard(stack):
    checked = 0
    for obj in stack_run(stack).manifests():
        for where, spec in pss.pod_specs(obj):
            checked += 1
            assert not pss.restricted_violations(spec), f"{where}: {pss.restricted_violations(spec)}"
    assert checked, "no pods checked"


@pytest.mark.parametrize("stack", STACKS)
def test_namespaces_enforce_restricted_pod_security(stack):
    for obj in stack_run(stack).manifests():
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.mark.parametrize("stack", STACKS)
def test_every_app_cache_host_names_an_object_of_the_render_or_a_local_sidecar(stack):
    run = stack_run(stack)
    manifests = run.manifests()
    services = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in manifests if o["kind"] == "Service"}
    customs = [(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in manifests if validate.is_custom(o)]
    cloud_endpoints = {v for r in run.resources if r.type.startswith("aws:") for v in _strings(r.outputs)}
    stack_cfg = config.parse(stack_reader.decode(harness.engine_config(harness.load_stack_config(stack),
                                                                 lambda k: "x")[0], stack), stack)
    domain = stack_cfg.cluster_domain
    for app in stack_cfg.apps:
        dep = next(o for o in manifests if o["kind"] == "Deployment" and o["metadata"]["name"] == app.name)
        pod = dep["spec"]["template"]["spec"]
        env = _env(pod["containers"][0])
        sidecars = {c["name"] for c in pod.get("initContainers", []) + pod["containers"][1:]}
        for prefix in ("CACHE", "CACHE_L1"):
            host = env.get(f"{prefix}_HOST")
            if host is None:
                continue
            if host in ("127.0.0.1", "localhost"):
                assert {"cache", "cache-l1"} & sidecars, f"{app.name}: {prefix}_HOST is loopback but no sidecar runs"
                continue
            m = re.fullmatch(rf"([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.{re.escape(domain)}", host)
            if m:
                name, ns = m.groups()
                assert (ns, name) in services or any(n == ns and cr in name for n, cr in customs), \
                    f"{app.name}: {prefix}_HOST {host} names no Service or operator resource of the render"
                continue
            cache = stack_cfg.caches[app.cache]
            assert host in cloud_endpoints or (cache.pattern == "external" and cache.kind == "endpoint"
                                               and host == cache.host), \
                f"{app.name}: {prefix}_HOST {host} is neither in-cluster, a cloud endpoint nor the configured endpoint"


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)



def _forms(secret: str) -> list[str]:
    return [secret, base64.b64encode(secret.encode()).decode(), urllib.parse.quote(secret, safe="")]


@pytest.mark.parametrize("stack", STACKS)
def test_a_canary_password_appears_only_in_secrets(stack):
    """Generated passwords and `secure:` config values are the canary here: it may be in a Kubernetes
    Secret, or in a cloud resource input that is a Pulumi secret, and nowhere else."""
    run = stack_run(stack, password=CANARY)
    forms = _forms(CANARY)
    for r in run.resources:
        if r.type == "random:index/randomPassword:RandomPassword":
            continue
        for key, value in r.inputs.items():
            text = json.dumps(value, default=str)
            if not any(f in text for f in forms):
                continue
            if r.type == "kubernetes:core/v1:Secret" and key in ("stringData", "data"):
                assert key in r.secret_inputs, f"{r.name}.{key} holds the password but is not a Pulumi secret"
                continue
            assert not r.is_k8s_object, f"password in {r.type} {r.name}.{key}"
            assert key in r.secret_inputs, f"password in plain input {r.type} {r.name}.{key}"
    for name, out in run.outputs.items():
        assert not any(f in json.dumps(out.value, default=str) for f in forms), f"password in stack output {name}"


@pytest.mark.parametrize("stack", STACKS)
def test_no_urn_or_replace_forcing_field_changed_without_a_snapshot_update(stack):
    path = snapshot.path_for(stack)
    if not path.exists():
        # A new stack has nothing live to protect yet; recording it is one command (docs/stacks.md).
        not_applicable(f"new stack {stack}: record its snapshot with `./run snapshot {stack}` before it goes live")
    old = json.loads(path.read_text())
    changes = snapshot.diff(old, snapshot.snapshot(stack_run(stack)))
    assert not changes, ("replacements or renames on a live stack (run `./run snapshot` if intended, and add "
                         "aliases where a name or parent changed):\n" + "\n".join(changes))


def _secretish_values(node, path=""):
    """(path, value) of every plaintext value under a key named like a password, token or secret.
    Keys the models declare as references to a Kubernetes Secret, or as a flag or number (such as
    `passwordEnv: true`), cannot hold one. A key the models declare everywhere as a group of settings (a
    model, such as `backup.credentials`: a Secret's name or a role) is not a value: its keys are checked."""
    rows = _all_rows()
    refs = {r.key.rsplit(".", 1)[-1] for r in rows
            if r.extra("reference") or field_kind(r.field).tp in (bool, int)}
    groups = _model_keys(rows)
    if isinstance(node, dict):
        if set(node) == {"secure"}:
            return
        for k, v in node.items():
            sub = f"{path}.{k}" if path else str(k)
            bare = str(k).split(":")[-1]
            if bare in groups and isinstance(v, dict):
                yield from _secretish_values(v, sub)
            elif SECRETISH.fullmatch(bare) and bare not in refs and not (isinstance(v, dict) and set(v) == {"secure"}):
                yield sub, v
            else:
                yield from _secretish_values(v, sub)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _secretish_values(v, f"{path}[{i}]")


def _all_rows():
    return list(reference.rows(StackConfig))


def _model_keys(rows) -> set[str]:
    """Key names that are a single settings model wherever a model declares them (a map of names to
    values, such as `passwords`, is not one)."""
    kinds: dict[str, set[bool]] = {}
    for r in rows:
        kinds.setdefault(r.key.rsplit(".", 1)[-1], set()).add(bool(models_of(field_kind(r.field))))
    return {name for name, is_model in kinds.items() if is_model == {True}}


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_files_hold_no_plaintext_secret(stack):
    data = yaml.safe_load(harness.stack_file(stack).read_text())
    leaks = list(_secretish_values(data))
    assert not leaks, f"plaintext under secret-like keys (use `pulumi config set --secret`): {leaks}"


def test_the_plaintext_secret_check_catches_a_plain_password():
    data = {"config": {"cache-patterns:passwords": {"legacy": "hunter2"},
                       "cache-patterns:caches": {"x": {"authToken": "abc"}}}}
    assert len(list(_secretish_values(data))) == 2
    assert not list(_secretish_values({"config": {"cache-patterns:passwords": {"secure": "v1:xyz"}}}))
    assert not list(_secretish_values({"config": {"cache-patterns:caches": {"x": {"tls": {"certificateSecret": "tls"}}}}}))
    assert not list(_secretish_values({"config": {"cache-patterns:apps": [{"passwordEnv": True}]}}))
    assert list(_secretish_values({"config": {"cache-patterns:apps": [{"env": {"API_TOKEN": "abc"}}]}}))


def test_the_plaintext_secret_check_walks_into_a_settings_group_and_catches_what_is_inside():
    """`backup.credentials` names a Secret (or a role): not a leak. A plain secret inside it, or given
    where the group should be, is one."""
    def caches(backup: dict) -> dict:
        return {"config": {"cache-patterns:caches": {"x": {"backup": backup}}}}

    assert "credentials" in _model_keys(_all_rows()) and "passwords" not in _model_keys(_all_rows())
    assert not list(_secretish_values(caches({"credentials": {"secret": "cache-backup-s3"}})))
    assert not list(_secretish_values(caches({"credentials": {"roleArn": "arn:aws:iam::123456789012:role/b"}})))
    assert list(_secretish_values(caches({"credentials": "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI"}))) == [
        ("config.cache-patterns:caches.x.backup.credentials", "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI")]
    assert [p for p, _ in _secretish_values(caches({"credentials": {"secret": "s3", "secretAccessKey": "wJalr"}}))] \
        == ["config.cache-patterns:caches.x.backup.credentials.secretAccessKey"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_uses_the_explicit_providers_built_from_config(stack):
    run = stack_run(stack)
    providers = {r.name: r for r in run.resources if r.type.startswith("pulumi:providers:")}
    assert "k8s" in providers
    for r in run.resources:
        if not r.custom or r.type.startswith("pulumi:"):
            continue
        package = r.type.split(":")[0]
        expected = {"kubernetes": "k8s", "aws": "aws"}.get(package)
        if expected is None:
            continue
        assert r.provider.startswith(providers[expected].urn + "::"), f"{r.type} {r.name} uses {r.provider or 'the default provider'}"
