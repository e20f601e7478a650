"""Password rotation of an in-cluster cache (`rotation.generation` of pattern 2): a bump changes the
keepers of every password generator of the cache (the default user's and each ACL user's), which
replaces them (terraform-provider-random: any keepers change replaces, docs/engine.md R7), and with
them the auto-named Secrets that hold the passwords, so every pod that mounts one rolls. The engine
tier runs it for real (e2e/scenarios/test_rotation.py)."""
from __future__ import annotations

from tests.test_statefulset_acl import cfg
from tools import harness, snapshot

PASSWORD = "random:index/randomPassword:RandomPassword"


def generators(run: harness.Run) -> dict[str, dict]:
    return {r.name: r.inputs for r in run.resources if r.type == PASSWORD}


def test_a_bump_changes_the_keepers_of_every_generator_of_the_cache():
    before = generators(harness.run("t", cfg()))
    after = generators(harness.run("t", cfg({"rotation": {"generation": 2}})))
    assert set(before) == set(after) == {"sessions-password", "sessions-user-app", "sessions-user-reports"}
    for name in before:
        assert before[name]["keepers"] == {"generation": "1"} and after[name]["keepers"] == {"generation": "2"}
        assert {k: v for k, v in before[name].items() if k != "keepers"} == \
               {k: v for k, v in after[name].items() if k != "keepers"}


def test_a_bump_changes_no_replace_forcing_field_but_the_generators_keepers():
    old = snapshot.snapshot(harness.run("t", cfg()))
    new = snapshot.snapshot(harness.run("t", cfg({"rotation": {"generation": 2}})))
    changed = {urn for urn in set(old) & set(new) if old[urn] != new[urn]}
    kinds = {urn.split("::")[-2].split("$")[-1] for urn in changed}
    assert kinds == {PASSWORD}, sorted(changed)


def test_the_default_is_generation_one_and_a_bad_one_is_refused():
    assert all(i["keepers"] == {"generation": "1"} for i in generators(harness.run("t", cfg())).values())
    import pytest

    from cache_patterns.config.errors import ConfigError

    with pytest.raises(ConfigError, match="caches.sessions.rotation.generation"):
        harness.run("t", cfg({"rotation": {"generation": 0}}))
