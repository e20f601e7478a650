"""A pattern switch says what it does (issue 18.10): `./run render` of a stack whose caches changed
pattern since its last render prints, per app, the contract variables lost and gained, the objects
replaced or deleted and the data at risk; `./run render-diff` leads with a summary per stack."""
from __future__ import annotations

import copy

import pytest

from tools import harness, impact, render, render_diff

DEV_STATEFULSET = {"pattern": "statefulset", "memory": "256Mi", "maxmemoryPolicy": "allkeys-lfu", "defaultTtl": "10m"}
STAGING_SIDECAR = {"pattern": "sidecar", "memory": "256Mi"}


def switched(stack: str, cache: str, settings: dict) -> dict:
    cfg = copy.deepcopy(harness.load_stack_config(stack))
    cfg["cache-patterns:caches"][cache] = settings
    for app in cfg["cache-patterns:apps"]:
        if settings["pattern"] == "sidecar":
            app.pop("passwordEnv", None)   # a sidecar has no password to put in the environment
    return cfg


def basis_of(stack: str, cfg: dict | None = None) -> dict:
    cfg = cfg or harness.load_stack_config(stack)
    run = harness.run(stack, cfg)
    return impact.basis(stack, cfg, run.manifests(), [{"urn": r.urn, "protect": r.protect} for r in run.resources])


def test_the_same_patterns_say_nothing():
    assert impact.impact(basis_of("dev"), basis_of("dev")) == []


def test_sidecar_to_statefulset_names_the_variables_each_app_loses_and_the_data_in_its_pods():
    lines = impact.impact(basis_of("dev"), basis_of("dev", switched("dev", "fragments", DEV_STATEFULSET)))
    text = "\n".join(lines)
    assert "cache fragments: sidecar -> statefulset" in lines
    for app in ("shop-dev/storefront", "search-dev/search"):
        (line,) = [line for line in lines if line.startswith(f"app {app}:")]
        lost, gained = line.split("; gains ")
        assert "CACHE_SOCKET" in lost and "CACHE_URL" in lost and "CACHE_SENTINELS" in gained
    assert "rolled (new pods, one by one): Deployment search-dev/search, Deployment shop-dev/storefront" in lines
    assert "memory of every pod of search, storefront: lost as they roll" in text
    assert "the new statefulset cache starts empty" in text


@pytest.mark.parametrize("environment,kept", [("staging", "deleted with it (whenDeleted: Delete)"),
                                              ("production", "kept after it is deleted (Retain)")])
def test_leaving_a_statefulset_names_what_is_deleted_and_where_its_volumes_go(environment, kept):
    before = copy.deepcopy(harness.load_stack_config("staging"))
    before["cache-patterns:environment"] = environment
    after = switched("staging", "sessions", STAGING_SIDECAR)
    after["cache-patterns:environment"] = environment
    lines = impact.impact(basis_of("staging", before), basis_of("staging", after))
    (deleted,) = [line for line in lines if line.startswith("deleted: ")]
    assert "StatefulSet cache/staging-sessions" in deleted and "Namespace cache" in deleted and "Secret" in deleted
    (risk,) = [line for line in lines if line.startswith("data at risk: cache sessions")]
    assert f"volumes of StatefulSet staging-sessions: {kept}" in risk


def test_render_prints_the_impact_against_the_last_render_and_not_on_a_first_render(tmp_path, monkeypatch, capsys):
    out = ["dev", "--out", str(tmp_path), "--no-validate"]
    assert render.main(out) == 0
    first = capsys.readouterr().out
    # A first render compares with nothing, and says what to run next.
    assert "PATTERN CHANGE" not in first and "./run render-diff main" in first and "./run plan dev" in first
    assert (tmp_path / "dev" / render.BASIS_FILE).exists()
    cfg = switched("dev", "fragments", DEV_STATEFULSET)
    monkeypatch.setattr(harness, "load_stack_config", lambda stack: cfg)
    assert render.main(out) == 0
    second = capsys.readouterr().out
    assert "PATTERN CHANGE in stack dev (against the last render):" in second
    assert "loses CACHE_SOCKET, CACHE_URL" in second and "data at risk: cache fragments" in second
    # Rendered again unchanged: nothing to say.
    assert render.main(out) == 0
    assert "PATTERN CHANGE" not in capsys.readouterr().out


def test_the_summary_labels_containers_and_does_not_promise_an_existing_claim(tmp_path):
    render.render("staging", tmp_path)
    text = (tmp_path / "staging" / "SUMMARY.txt").read_text()
    assert "3 pod(s), containers: redis, tls-reload, exporter" in text
    assert "patches the existing" not in text
    assert "patches the claim cache/data-staging-sessions-0 once the StatefulSet controller has made it" in text


def test_render_diff_leads_with_objects_by_kind_per_stack(tmp_path):
    """The summary of render-diff from two dumps (what `dump` writes for a ref and for the tree)."""
    render_diff.dump(harness.ROOT, tmp_path / "ref", ["dev"])
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(harness.stack_file("dev").read_text())
    assert render_diff.stack_summary("dev", tmp_path / "ref", tmp_path / "ref", stack_file) == []
    # The tree: dev with the sidecar swapped for a StatefulSet (written as the dump writes it).
    tree = tmp_path / "tree"
    cfg = switched("dev", "fragments", DEV_STATEFULSET)
    run = harness.run("dev", cfg)
    render_diff.dump(harness.ROOT, tree, ["dev"])          # outputs and resources files of the tree's shape
    import shutil

    shutil.rmtree(tree / "rendered" / "dev")
    for obj in run.manifests():
        path = tree / "rendered" / "dev" / render.file_name(obj)
        path.parent.mkdir(parents=True, exist_ok=True)
        import yaml

        path.write_text(yaml.safe_dump(render.clean(obj)))
    lines = render_diff.stack_summary("dev", tmp_path / "ref", tree, stack_file)
    assert lines[0].startswith("dev: added ") and "StatefulSet 2" in lines[0] and "changed Deployment 2" in lines[0]


def with_version(stack: str, cache: str, engine: str, version: str) -> dict:
    cfg = copy.deepcopy(harness.load_stack_config(stack))
    cfg["cache-patterns:caches"][cache].update({"engine": engine, "version": version})
    return cfg


@pytest.mark.parametrize("before,after,refused,path", [
    (("valkey", "8.1"), ("valkey", "9.0"), False, None),
    (("valkey", "9.0"), ("valkey", "8.1"), True, None),
    (("redis", "7.2"), ("valkey", "9.0"), True, "redis 7.2 -> valkey 8.1 -> valkey 9.0"),
])
def test_an_engine_version_change_is_checked_against_the_upgrade_paths(before, after, refused, path):
    """Issue 23: a StatefulSet cache's engine step is refused when its data cannot take it in place,
    naming the path that works; a safe step and an unchanged engine say nothing."""
    old = basis_of("staging", with_version("staging", "sessions", *before))
    new = basis_of("staging", with_version("staging", "sessions", *after))
    assert impact.engine_refusals(old, old) == []
    lines = impact.engine_refusals(old, new)
    if not refused:
        assert lines == []
        return
    (line,) = lines
    assert line.startswith(f"cache sessions: {' '.join(before)} -> {' '.join(after)} refused: ")
    assert ("downgrade" in line) if path is None else (f"the path that works: {path}" in line)


def test_render_refuses_an_unsafe_engine_step_and_keeps_the_last_render_s_engine(tmp_path, monkeypatch, capsys):
    out = ["staging", "--out", str(tmp_path), "--no-validate"]
    configs = {"now": with_version("staging", "sessions", "valkey", "9.0")}
    monkeypatch.setattr(harness, "load_stack_config", lambda stack: configs["now"])
    assert render.main(out) == 0
    capsys.readouterr()
    configs["now"] = with_version("staging", "sessions", "valkey", "8.1")
    assert render.main(out) == 2
    err = capsys.readouterr().err
    assert "ENGINE CHANGE REFUSED in stack staging (against the last render" in err
    assert "cache sessions: valkey 9.0 -> valkey 8.1 refused: valkey 9.0 -> valkey 8.1 is a downgrade" in err
    # Refused again: the last render still names 9.0 (the refusal did not record 8.1 as deployed).
    assert render.main(out) == 2
    assert impact.load(tmp_path / "staging" / render.BASIS_FILE)["engines"] == {"sessions": "valkey 9.0"}
