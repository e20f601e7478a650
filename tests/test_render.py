"""The offline render (the main job): files per object, a readable summary that says what it is and
what it cannot show, secrets redacted, deterministic names, non-zero exit on bad config."""
from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import CANARY, NO_CRDS, skip_or_fail
from tools import harness, render, validate


def test_render_writes_every_object_and_a_summary(tmp_path, capsys):
    assert render.main(["local", "--out", str(tmp_path)]) == 0
    files = sorted(p.relative_to(tmp_path / "local").as_posix() for p in (tmp_path / "local").rglob("*.yaml"))
    assert files == ["_cluster/Namespace-cache-demo.yaml", "cache-demo/Deployment-demo.yaml",
                     "cache-demo/NetworkPolicy-demo-ingress-65f4b22a.yaml", "cache-demo/Service-demo.yaml"]
    dep = yaml.safe_load((tmp_path / "local/cache-demo/Deployment-demo.yaml").read_text())
    assert list(dep)[:3] == ["apiVersion", "kind", "metadata"] and dep["spec"]["replicas"] == 1
    out = capsys.readouterr().out
    assert "A preview under Pulumi mocks" in out and "Deployment cache-demo/demo" in out
    assert "all valid" in out and "Stack outputs:" in out


def test_render_is_deterministic(tmp_path):
    render.render("staging", tmp_path / "a")
    render.render("staging", tmp_path / "b")
    a = {p.relative_to(tmp_path / "a"): p.read_text() for p in (tmp_path / "a").rglob("*.yaml")}
    b = {p.relative_to(tmp_path / "b"): p.read_text() for p in (tmp_path / "b").rglob("*.yaml")}
    assert a == b and len(a) > 20


@pytest.mark.parametrize("stack", harness.list_stacks())
def test_secret_values_are_redacted_and_generated_ones_never_written(stack, tmp_path):
    # The canary is what every generated password and `secure:` value reads as in this run, so a
    # leak puts it into the manifests: the render must report it and never write it.
    result = render.render(stack, tmp_path, check=False, password=CANARY)
    in_secrets = [s for s in result.run.of_type("kubernetes:core/v1:Secret")
                  if CANARY in json.dumps(s.inputs.get("stringData"))]
    # Stacks with passwords carry the canary in their Secrets (else this test could not see a leak);
    # sidecar-only stacks have no password and no Secret.
    assert in_secrets or not result.run.of_type("kubernetes:core/v1:Secret"), "the canary never entered the run"
    assert result.problems == []
    texts = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert not [n for n, t in texts.items() if CANARY in t]
    # Only a Secret's data may hold a secret (redacted); anywhere else the render had to hide one.
    for name, text in texts.items():
        if not name.endswith(".yaml"):
            continue
        obj = yaml.safe_load(text)
        if obj["kind"] == "Secret":
            assert set(obj["stringData"].values()) == {render.REDACTED}, name
        else:
            assert render.REDACTED not in text, name
    # The same without the file layer: the canary is in Secrets' stringData and nowhere else.
    for res in result.run.k8s_objects:
        manifest = json.dumps(res.manifest)
        if res.type == "kubernetes:core/v1:Secret":
            manifest = json.dumps({k: v for k, v in res.manifest.items() if k != "stringData"})
        assert CANARY not in manifest, f"{res.type} {res.name} holds a password outside a Secret's data"


def test_a_secret_in_a_plain_field_fails_the_render(tmp_path, monkeypatch):
    """What the test above stands on: plant a password in a container's env and the render says so."""
    original = harness.Registered.manifest

    def leaky(self):
        obj = original.fget(self)
        if obj.get("kind") == "StatefulSet":
            obj["spec"]["template"]["spec"]["containers"][0].setdefault("env", []).append(
                {"name": "LEAKED", "value": f"redis://:{CANARY}@x:6379"})
        return obj

    monkeypatch.setattr(harness.Registered, "manifest", property(leaky))
    result = render.render("staging", tmp_path, check=False, password=CANARY)
    assert len(result.problems) == 2  # the Redis and the Sentinel StatefulSets
    assert all("a secret value at spec.template.spec.containers[0].env[" in p for p in result.problems)
    assert not any(CANARY in p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert "PROBLEM StatefulSet" in (tmp_path / "staging" / "SUMMARY.txt").read_text()


def test_helm_releases_are_listed_with_a_note_that_their_objects_are_not_shown(tmp_path):
    result = render.render("platform", tmp_path)
    summary = (tmp_path / "platform" / "SUMMARY.txt").read_text()
    assert "kubernetes:helm.sh/v3:Release" in summary
    assert "the objects the chart creates are NOT shown" in summary
    assert result.problems == []


def test_bad_config_exits_non_zero_with_the_config_error(tmp_path, monkeypatch, capsys):
    cfg = harness.load_stack_config("local")
    cfg["cache-patterns:caches"] = {"local": {"pattern": "sidcar"}}
    monkeypatch.setattr(harness, "load_stack_config", lambda stack: cfg)
    assert render.main(["local", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "caches.local.pattern: 'sidcar' is not one of" in err
    assert not (tmp_path / "local").exists()


def test_unknown_stack_exits_non_zero(tmp_path, capsys):
    assert render.main(["nope", "--out", str(tmp_path)]) == 2
    assert "no stack file" in capsys.readouterr().err


def test_crds_option_validates_custom_resources(tmp_path, capsys):
    folder = validate.crds_dir()
    if folder is None:
        skip_or_fail(NO_CRDS)
    assert render.main(["platform", "--out", str(tmp_path), "--crds", str(folder)]) == 0
    # The RedisReplication, and its two PodMonitors (Redis, Sentinels) and PrometheusRule (the
    # prometheus-operator group).
    assert "custom resources: 4 against the CRDs" in capsys.readouterr().out


def test_crds_option_reports_an_invalid_custom_resource(tmp_path, capsys):
    folder = validate.crds_dir()
    if folder is None:
        skip_or_fail(NO_CRDS)
    original = harness.Registered.manifest

    def tampered(self):
        obj = original.fget(self)
        if obj.get("kind") == "RedisReplication":
            obj["spec"]["numberOfMasters"] = 3
        return obj

    pytest.MonkeyPatch().setattr(harness.Registered, "manifest", property(tampered))
    try:
        assert render.main(["platform", "--out", str(tmp_path), "--crds", str(folder)]) == 1
    finally:
        pytest.MonkeyPatch().setattr(harness.Registered, "manifest", original)
    assert "numberOfMasters" in capsys.readouterr().out


def test_cloud_resources_are_summarised_without_their_secret_inputs(tmp_path):
    result = render.render("prod", tmp_path, password=CANARY)
    token = result.run.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs["authToken"]
    assert token == CANARY  # the canary is the token the summary must not show
    summary = (tmp_path / "prod" / "SUMMARY.txt").read_text()
    assert "sessions-replication-group [protected] (secret inputs: authToken)" in summary
    assert "nodeType=cache.r7g.large" in summary and "multiAzEnabled=true" in summary
    assert CANARY not in summary


def test_secure_config_values_get_labelled_placeholders_and_are_redacted(tmp_path, monkeypatch):
    cfg = {"cache-patterns:environment": "development",
           "cache-patterns:caches": {"legacy": {"pattern": "external", "kind": "endpoint", "host": "redis.example.com",
                                                "tls": False}},
           "cache-patterns:apps": [{"name": "web", "image": "ghcr.io/acme/web:1.0", "cache": "legacy",
                                    "passwordEnv": True}],
           "cache-patterns:passwords": {"legacy": {"secure": "v1:AAAAencrypted"}}}
    monkeypatch.setattr(harness, "load_stack_config", lambda stack: cfg)
    monkeypatch.setattr(harness, "stack_file", lambda stack: tmp_path)
    assert render.main(["legacy", "--out", str(tmp_path / "out")]) == 0
    placeholder = harness.secure_placeholder("cache-patterns:passwords.legacy")
    assert placeholder == "placeholder-for-passwords.legacy"
    summary = (tmp_path / "out/legacy/SUMMARY.txt").read_text()
    assert f"secure config cache-patterns:passwords.legacy: the preview uses the placeholder '{placeholder}'" in summary
    files = [p.read_text() for p in (tmp_path / "out/legacy").rglob("*.yaml")]
    assert not any(placeholder in text for text in files), "a secure value reached a rendered file"
    assert any("kind: Secret" in text and render.REDACTED in text for text in files)
