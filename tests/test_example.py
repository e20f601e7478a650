"""The example program in examples/ uses the components directly, as a consumer of the package
would: evaluated under mocks, it creates the cache and the app, wired by the contract."""
from __future__ import annotations

from pathlib import Path

from tools import harness

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "statefulset-app"


def test_example_program_builds_the_cache_and_an_app_bound_to_it():
    run = harness.run("dev", {"statefulset-app:environment": "staging"}, program=EXAMPLE, project="statefulset-app")
    kinds = sorted({(r.manifest["kind"], r.manifest["metadata"].get("namespace")) for r in run.k8s_objects})
    assert ("StatefulSet", "cache") in kinds and ("Deployment", "shop") in kinds
    web = run.one("kubernetes:apps/v1:Deployment", "web-deployment").inputs
    env = {e["name"]: e for e in web["spec"]["template"]["spec"]["containers"][0]["env"]}
    # `reads: [CACHE_URL]` made the StatefulSet (auth on) provide a URL with the password by reference.
    assert env["CACHE_URL"]["value"].startswith("redis://:$(CACHE_PASSWORD)@")
    assert "secretKeyRef" in env["CACHE_PASSWORD"]["valueFrom"]
    assert run.outputs["write"].value.startswith("dev-sessions.cache.svc.cluster.local:")
    # Its own provider, not the repository program's.
    assert all(r.provider.startswith("urn:pulumi:dev::statefulset-app::") and "pulumi:providers:kubernetes::k8s::" in r.provider for r in run.k8s_objects)
