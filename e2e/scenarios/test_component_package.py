"""The components from another Pulumi language: the YAML program of examples/yaml-app uses them as a
component package (components/PulumiPlugin.yaml, served by cache_patterns/provider.py through our
Python language host's RunPlugin, with the YAML language host of the toolchain). On the local cluster
`pulumi up` creates the objects the Python program of examples/statefulset-app renders for the same
settings, every one field by field (the same comparison as the stacks'); `preview
--expect-no-changes` finds nothing to do; `pulumi destroy` removes every object. The namespaces exist
beforehand, as those programs require."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e import engine, live
from e2e.scenarios.test_stacks import _get, object_problems
from tools import harness

EXAMPLE = engine.ROOT / "examples" / "yaml-app"
PYTHON = engine.ROOT / "examples" / "statefulset-app"
NAMESPACES = ("cache", "shop")


def urn_key(urn: str) -> str:
    """A URN without its stack and project (the two programs are different projects)."""
    return urn.split("::", 2)[2]


@pytest.fixture
def namespaces(empty_cluster):
    for ns in NAMESPACES:
        empty_cluster.kubectl("create", "namespace", ns)
        empty_cluster.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    try:
        yield empty_cluster
    finally:
        for ns in NAMESPACES:
            empty_cluster.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=120s", check=False)


def test_a_yaml_program_creates_what_the_python_program_does(tmp_path: Path, namespaces):
    cluster = namespaces
    ws = engine.Workspace.create(tmp_path, cluster.env(), files={"Pulumi.yaml": EXAMPLE / "Pulumi.yaml",
                                                                   "components": engine.ROOT / "components"})
    project = ws.program / "Pulumi.yaml"
    project.write_text(project.read_text().replace("cache-patterns: ../../components", "cache-patterns: ./components"))
    st = ws.stack("dev")
    ws.run(["config", "set", "kubeContext", cluster.context, "--stack", "dev"])
    up = st.up(check=False)
    try:
        assert up.code == 0, f"pulumi up of the YAML program failed:\n{engine._tail(up)}"
        run = harness.run("dev", {"statefulset-app:environment": "staging"}, program=PYTHON, project="statefulset-app")
        live_by_key = {urn_key(live.mock_urn(urn)): ref for urn, ref in live.live_names(st.resources()).items()}
        rendered = {urn_key(r.urn): r.urn for r in run.k8s_objects}
        assert set(live_by_key) == set(rendered), (
            f"only in the YAML program: {sorted(set(live_by_key) - set(rendered))}\n"
            f"only in the Python program: {sorted(set(rendered) - set(live_by_key))}")
        names = {urn: live_by_key[key] for key, urn in rendered.items()}
        problems = object_problems(cluster, run, names, {})
        assert problems == [], "the YAML program's objects differ from the Python program's:\n" + "\n".join(problems)
        outputs = json.loads(ws.run(["stack", "output", "--json", "--stack", "dev"]).output)
        assert outputs["write"] == run.outputs["write"].value, (outputs, run.outputs["write"].value)

        again = st.preview_no_changes()
        assert again.code == 0, f"changes right after up:\n{again.describe()}\n{engine._tail(again)}"
    finally:
        refs = set(live.live_names(st.resources()).values())
        down = st.destroy(check=False)
    assert down.code == 0, f"destroy of the YAML program failed:\n{engine._tail(down)}"
    left = [str(ref) for ref in refs if _get(cluster, ref) is not None]
    assert left == [] and st.resources() == [], f"left after destroy: {left}"
