"""The stack-owner label: on every Kubernetes object of every stack, naming the stack; never on what
the stack does not own (Patch resources, Helm releases); a stack name that cannot be a label value
is refused before any resource exists. The engine tier (e2e/scenarios/test_two_stacks.py) shows what
the label buys with a real API server: a second stack cannot take over the first's objects."""
from __future__ import annotations

import pulumi
import pytest

from cache_patterns import stack as config
from cache_patterns.config.errors import ConfigError
from cache_patterns.core import ownership
from tests.conftest import stack_run
from tools import harness

BASE = {
    "environment": "development",
    "caches": {"local": {"pattern": "sidecar"}},
    "apps": [{"name": "web", "image": "ghcr.io/acme/web:1.0.0", "cache": "local"}],
}


@pytest.mark.parametrize("stack", harness.list_stacks())
def test_every_kubernetes_object_is_labelled_with_its_stack(stack):
    run = stack_run(stack)
    assert run.k8s_objects
    unlabelled = [r.urn for r in run.k8s_objects if ownership.is_owned_object(r.type)
                  and ((r.inputs.get("metadata") or {}).get("labels") or {}).get(ownership.OWNER_LABEL) != stack]
    assert unlabelled == []


@pytest.mark.parametrize("stack", harness.list_stacks())
def test_the_label_keeps_each_objects_own_labels(stack):
    """The transformation adds the owner label and drops nothing: the part-of label every object of
    the program carries is still there."""
    run = stack_run(stack)
    for r in run.k8s_objects:
        if not ownership.is_owned_object(r.type):
            continue
        labels = (r.inputs.get("metadata") or {}).get("labels") or {}
        assert labels.get("app.kubernetes.io/part-of") == "cache-patterns", r.urn


def test_what_the_stack_does_not_own_is_not_labelled():
    assert ownership.is_owned_object("kubernetes:apps/v1:Deployment")
    assert ownership.is_owned_object("kubernetes:redis.redis.opstreelabs.in/v1beta2:RedisReplication")
    assert not ownership.is_owned_object("kubernetes:core/v1:PersistentVolumeClaimPatch")
    assert not ownership.is_owned_object("kubernetes:helm.sh/v3:Release")
    assert not ownership.is_owned_object("pulumi:providers:kubernetes")
    assert not ownership.is_owned_object("random:index/randomPassword:RandomPassword")


def test_labelled_adds_the_owner_to_every_shape_of_metadata():
    assert ownership.labelled(None, "dev") == {"labels": {ownership.OWNER_LABEL: "dev"}}
    assert ownership.labelled({"name": "x", "labels": {"a": "b"}}, "dev") == {
        "name": "x", "labels": {"a": "b", ownership.OWNER_LABEL: "dev"}}
    # A label the program set for itself never wins over the owner (a copied manifest cannot claim
    # another stack's objects).
    assert ownership.labelled({"labels": {ownership.OWNER_LABEL: "prod"}}, "dev")["labels"] == {
        ownership.OWNER_LABEL: "dev"}


@pytest.mark.parametrize("stack", ["dev", "staging-eu", "a" * 63, "Team_A.dev"])
def test_stack_names_that_are_label_values_are_accepted(stack):
    config.parse({**BASE, "namespace": "web"}, stack)


@pytest.mark.parametrize("stack", ["a" * 64, "dev-", "-dev", "team/dev"])
def test_a_stack_name_that_cannot_label_objects_is_refused(stack):
    with pytest.raises(ConfigError) as err:
        config.parse({**BASE, "namespace": "web"}, stack)
    problems = dict(err.value.problems)
    assert "(stack name)" in problems
    assert repr(stack) in problems["(stack name)"] and ownership.OWNER_LABEL in problems["(stack name)"]


def test_an_output_of_labels_gets_the_owner_too():
    labels = pulumi.Output.from_input({"a": "b"})
    meta = ownership.labelled({"labels": labels}, "dev")
    assert harness._resolve(meta["labels"]).value == {"a": "b", ownership.OWNER_LABEL: "dev"}
