"""Two stacks in one cluster, through the real engine. staging and platform, as committed, both
declare the namespaces shop and identity and the Deployments checkout and accounts: the second stack
is refused (its apply conflicts on the first stack's owner label) and the first is left as it was.
With platform's apps in namespaces of their own, both run side by side, each object labelled with
its stack, and destroying one leaves the other whole."""
from __future__ import annotations

import copy

from e2e import engine, live
from e2e.scenarios.conftest import destroyed_after
from e2e.scenarios.test_stacks import _get, compare_with_render, deploy

OWN_NAMESPACES = {"shop": "shop-platform", "identity": "identity-platform"}


def snapshot_of(cluster, st: engine.Stack) -> dict[live.Ref, tuple]:
    """Each object the stack's state names, as the API server has it: uid, spec generation and labels
    (a re-creation, a change of its spec or of its labels shows; status updates by controllers do
    not). Found by the state, not by the owner label, so a stack whose objects lost the label is
    still watched."""
    out = {}
    for ref in set(live.live_names(st.resources()).values()):
        obj = _get(cluster, ref)
        out[ref] = None if obj is None else (obj["metadata"]["uid"], obj["metadata"].get("generation"),
                                              tuple(sorted((obj["metadata"].get("labels") or {}).items())))
    return out


def test_a_clashing_stack_is_refused_and_a_separate_one_coexists(workspace, empty_cluster):
    cluster = empty_cluster
    staging = deploy(workspace, "staging")
    platform = deploy(workspace, "platform")
    with destroyed_after(staging, platform):
        staging.up()
        before = snapshot_of(cluster, staging)
        assert {r for r in before if r.kind == "Namespace"} >= {live.Ref("Namespace", None, "shop"),
                                                                  live.Ref("Namespace", None, "identity")}

        clash = platform.up(check=False)
        assert clash.code != 0, "platform took over staging's namespaces and Deployments"
        assert "conflict" in clash.output.lower() and "cache-patterns/stack" in clash.output, engine._tail(clash)
        assert snapshot_of(cluster, staging) == before, "the refused stack changed staging's objects"
        # What the refused up did create is removed again: platform is rolled back to nothing.
        assert platform.destroy(check=False).code == 0
        assert snapshot_of(cluster, staging) == before, "destroying the refused stack touched staging"

        cfg = copy.deepcopy(platform.config())
        for app in cfg["cache-patterns:apps"]:
            app["namespace"] = OWN_NAMESPACES[app["namespace"]]
        platform.set_config(cfg)
        ok = platform.up(check=False)
        assert ok.code == 0, f"platform beside staging failed:\n{engine._tail(ok)}"
        assert snapshot_of(cluster, staging) == before
        assert compare_with_render(cluster, platform) == []

        down = platform.destroy(check=False)
        assert down.code == 0, engine._tail(down)
        assert live.owned_objects(cluster, "platform") == {}
        assert snapshot_of(cluster, staging) == before, "destroying platform changed staging"
        assert compare_with_render(cluster, staging) == []
        assert staging.preview_no_changes().code == 0
