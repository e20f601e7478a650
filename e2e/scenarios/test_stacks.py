"""Every stack without AWS resources, through the real engine against the local control plane:
`pulumi up` on an empty cluster, the API server's objects against the offline render, no changes
after up and after a refresh, generated passwords secret in the state and present in the Secrets,
and a destroy that finishes and leaves nothing of the stack."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from e2e import engine, live, toolchain
from e2e.scenarios.conftest import chart_dir
from tests.cluster import kube
from tools import harness

STACKS = ("local", "dev", "staging", "platform")
# The shared OT chart folder is the operator's v0.26.0 tree whose Chart.yaml was not bumped: its
# chart version is 0.25.0 (what `version` must say for a folder), and its appVersion would pick the
# v0.25.0 image, so the tag is set to the release the CRDs come from.
OPERATOR_IMAGE_TAG = "v0.26.0"


def offline_operator(config: dict) -> dict:
    """The stack's config with the operator chart from the local folder (the tier is offline)."""
    config = copy.deepcopy(config)
    ops = config.get("cache-patterns:operators") or {}
    for name, settings in ops.items():
        if settings.get("install"):
            folder = chart_dir("redis-operator")
            settings.pop("repository", None)
            settings["chartPath"] = str(folder)
            settings["version"] = _chart_version(folder)
            values = settings.setdefault("values", {})
            values.setdefault("redisOperator", {})["imageTag"] = OPERATOR_IMAGE_TAG
    return config


def _chart_version(folder: Path) -> str:
    import yaml
    return yaml.safe_load((folder / "Chart.yaml").read_text())["version"]


def deploy(workspace: engine.Workspace, name: str, config: dict | None = None) -> engine.Stack:
    st = workspace.stack(name)
    cfg = offline_operator(config if config is not None else st.config())
    st.set_config(cfg)
    return st


def compare_with_render(cluster, st: engine.Stack) -> list[str]:
    """Problems between the objects in the API server and the offline render of the same config."""
    run = harness.run(st.name, st.config())
    names = {live.mock_urn(urn): ref for urn, ref in live.live_names(st.resources()).items()}
    owned = live.owned_objects(cluster, st.name)
    expected = {names[urn] for urn in run_by_urn(run) if urn in names}
    problems = [f"in the API server with the stack's label, not rendered: {ref}"
                for ref in sorted(set(owned) - expected, key=str)]
    problems += [f"rendered, not in the API server (or without the owner label): {ref}"
                 for ref in sorted(expected - set(owned), key=str)]
    return problems + object_problems(cluster, run, names, owned)


def object_problems(cluster, run: harness.Run, names: dict[str, live.Ref], owned: dict[live.Ref, dict]) -> list[str]:
    """Each rendered object (URN, the mocks' form) against the live one the state names for it."""
    rendered = live.rendered(run)
    problems = [f"rendered, not in the state: {urn}" for urn in sorted(set(rendered) - set(names))]
    # Mock auto-names -> live names, for references inside pod specs.
    mock_names = {m["metadata"]["name"]: names[urn].name for urn, m in rendered.items() if urn in names}
    for urn, manifest in rendered.items():
        if urn not in names:
            continue
        ref = names[urn]
        obj = owned.get(ref) or _get(cluster, ref)
        if obj is None:
            problems.append(f"{urn}: {ref} is not in the API server")
            continue
        if manifest["kind"] != obj["kind"] or (manifest["metadata"].get("namespace") or None) != ref.namespace:
            problems.append(f"{urn}: rendered {manifest['kind']} in {manifest['metadata'].get('namespace')}, live {ref}")
        explicit = manifest["metadata"]["name"]
        if urn in run_explicit_names(run) and explicit != ref.name:
            problems.append(f"{urn}: rendered name {explicit}, live {ref.name}")
        # Field by field, every kind: what the render sends must be what the server holds (it may add
        # fields: defaults, and what it owns, such as uid, status and managedFields, which the render
        # never has); quantities may be respelt; a Secret's stringData is stored as base64 data, and
        # its values (generated passwords, the mocks' placeholder) are compared by key only; the
        # binding checksum hashes auto-generated names, so it compares by form (live.checksum_masked).
        want = live.checksum_masked(live.secret_keys_only(kube.as_stored(live.rename(manifest, mock_names))))
        problems += [f"{ref}: {p}" for p in kube.rewritten(want, live.checksum_masked(live.secret_keys_only(obj)))]
    return problems


def run_by_urn(run: harness.Run) -> dict[str, harness.Registered]:
    return {r.urn: r for r in run.k8s_objects}


def run_explicit_names(run: harness.Run) -> set[str]:
    return {r.urn for r in run.k8s_objects if (r.inputs.get("metadata") or {}).get("name")}


def _get(cluster, ref: live.Ref) -> dict | None:
    args = ["get", ref.kind, ref.name, "-o", "json"] + (["-n", ref.namespace] if ref.namespace else [])
    proc = cluster.kubectl(*args, check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def passwords_in_secrets(cluster, st: engine.Stack) -> dict[str, str]:
    """Every generated password as the Secrets hold it: `<namespace>/<secret>:<key>` -> plaintext."""
    found = {}
    for ref, obj in live.owned_objects(cluster, st.name).items():
        if ref.kind == "Secret":
            for key, value in live.secret_values(obj).items():
                if key == "password" or key.startswith("user-"):
                    found[f"{ref.namespace}/{ref.name}:{key}"] = value
    return found


def secret_data(cluster, st: engine.Stack) -> dict[str, str]:
    """Every value of every Secret of the stack as the API server holds it (decoded), of 16 characters
    or more (shorter ones could be words the state holds for other reasons)."""
    return {f"{ref.namespace}/{ref.name}:{key}": value for ref, obj in live.owned_objects(cluster, st.name).items()
            if ref.kind == "Secret" for key, value in live.secret_values(obj).items() if len(value) >= 16}


def assert_secrets_not_in_backend(workspace: engine.Workspace, cluster, st: engine.Stack,
                                  extra: dict[str, str] | None = None) -> None:
    """No generated password and no Secret value (nor any of `extra`) is readable in any file the
    state backend or the workspace's PULUMI_HOME holds: checkpoint, history, backups, in plain,
    JSON-escaped or base64 form."""
    secrets = {**secret_data(cluster, st), **passwords_in_secrets(cluster, st), **(extra or {})}
    leaks = [leak for folder in (workspace.dir / "state", workspace.dir / "home")
             for leak in live.backend_leaks(folder, secrets)]
    assert leaks == [], f"{st.name}: secrets readable in the state backend:\n" + "\n".join(leaks)


# The plugin of Python dynamic resources (statefulset caches' rollout driver) and the version its
# GetPluginInfo reports (pulumi/dynamic/__main__.py: a constant, whatever the SDK's release).
DYNAMIC, DYNAMIC_VERSION = "pulumi-python", "0.1.0"


def assert_providers_as_pinned(st: engine.Stack, launched: dict[str, str], versions: set[str]) -> None:
    """The engine launched the toolchain's provider binaries (its log names each binary), they
    reported the versions the pins name (GetPluginInfo, in the same log), and each SDK asked for the
    release requirements.txt pins (the `version` of its provider resource)."""
    tools, sdk = toolchain.pins(), engine.sdk_pins()
    asked = st.provider_versions()   # random only where the stack generates a password
    assert set(launched) == set(asked) and "kubernetes" in asked, (launched, asked)
    for name, binary in launched.items():
        assert binary == str(toolchain.bin_dir(f"pulumi-resource-{name}") / f"pulumi-resource-{name}"), binary
        # pulumi-python: the Python SDK's dynamic provider (the rollout driver), of the SDK the program runs.
        assert asked[name] == ("" if name == DYNAMIC else sdk[f"pulumi-{name}"]), asked
    reported = {"kubernetes": tools["pulumi-resource-kubernetes"]["release"],
                "random": tools["pulumi-resource-random"]["version"], DYNAMIC: DYNAMIC_VERSION}
    assert reported["kubernetes"] == sdk["pulumi-kubernetes"] and reported["random"].startswith(sdk["pulumi-random"] + "+")
    assert versions == {reported[name] for name in launched}, versions


@pytest.mark.parametrize("stack", STACKS)
def test_stack_lifecycle(stack, workspace, empty_cluster):
    cluster = empty_cluster
    st = deploy(workspace, stack)
    up = st.up(check=False)
    try:
        assert up.code == 0, f"pulumi up of {stack} failed:\n{engine._tail(up)}"
        assert up.ops("create"), "up created nothing"

        problems = compare_with_render(cluster, st)
        assert problems == [], f"{stack}: the API server differs from the render:\n" + "\n".join(problems)

        again = st.preview_no_changes()
        assert again.code == 0, f"{stack}: changes right after up:\n{again.describe()}\n{engine._tail(again)}"
        st.refresh()
        after_refresh, launched, versions = st.preview_loaded_plugins()
        assert after_refresh.code == 0, \
            f"{stack}: changes after refresh:\n{after_refresh.describe()}\n{engine._tail(after_refresh)}"

        assert_providers_as_pinned(st, launched, versions)
        secrets = passwords_in_secrets(cluster, st)
        if stack in ("staging", "platform"):
            assert secrets, f"{stack}: no password in any Secret of the stack"
        for where, plaintext in secrets.items():
            assert re.fullmatch(r"[A-Za-z0-9]{48}", plaintext), f"{where}: not a generated password"
        assert_secrets_not_in_backend(workspace, cluster, st)
    finally:
        down = st.destroy(check=False)
    assert down.code == 0, f"destroy of {stack} failed:\n{engine._tail(down)}"
    left = live.owned_objects(cluster, stack)
    assert left == {}, f"{stack}: destroy left {sorted(map(str, left))}"
    assert st.resources() == [], "the state still holds resources after destroy"
