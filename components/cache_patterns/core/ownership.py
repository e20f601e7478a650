"""Which stack owns a Kubernetes object: the stack-owner label on every object the program creates.

Two stacks can target one cluster. The label makes each object say which stack made it, and with
server-side apply (the Kubernetes provider's default) it is also what stops a stack from taking over
another's object: an apply that would change the label to another stack's name conflicts with the
field manager of the stack that set it, and the provider refuses it ("Server-Side Apply field conflict
... .metadata.labels.cache-patterns/stack") instead of adopting the object. Without the label, two
stacks that declare the same Namespace or Deployment both "create" it (server-side apply upserts), and
destroying either deletes it under the other.

Namespaces follow the same rule: a namespace belongs to the stack that creates it (manageNamespaces:
true), and destroying that stack deletes it with everything inside. A namespace several stacks share
is created outside all of them (manageNamespaces: false in each).
"""
from __future__ import annotations

import re
from typing import Any

import pulumi

OWNER_LABEL = "cache-patterns/stack"
# A label value: at most 63 characters, alphanumeric at both ends, `-_.` inside.
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def label_value_problem(stack: str) -> str | None:
    """Why `stack` cannot be the owner label's value, or None."""
    if _LABEL_VALUE.fullmatch(stack):
        return None
    return (f"the stack name {stack!r} must be a Kubernetes label value (at most 63 characters, letters, digits "
            f"and -_. inside, a letter or digit at both ends): it labels every object as the stack's ({OWNER_LABEL})")


def is_owned_object(type_: str) -> bool:
    """A Kubernetes object this program creates and deletes. Not: Patch resources (they change an
    object someone else owns), Helm releases and other multi-object resources (not objects themselves),
    providers."""
    if not type_.startswith("kubernetes:"):
        return False
    if type_.startswith(("kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize")):
        return False
    return not type_.endswith(("Patch", "List"))


def labelled(metadata: Any, stack: str) -> Any:
    """`metadata` (a dict, an Output of one, or absent) with the owner label added."""
    if metadata is None:
        return {"labels": {OWNER_LABEL: stack}}
    if isinstance(metadata, dict):
        labels = metadata.get("labels")
        if labels is None or isinstance(labels, dict):
            return {**metadata, "labels": {**(labels or {}), OWNER_LABEL: stack}}
        return {**metadata, "labels": pulumi.Output.from_input(labels).apply(
            lambda value: {**(value or {}), OWNER_LABEL: stack})}
    return pulumi.Output.from_input(metadata).apply(lambda value: labelled(value, stack))


def label_every_object(stack: str) -> None:
    """Register the transformation that labels every Kubernetes object of this program run with its
    stack (components included: a stack transformation reaches every resource through its parents)."""

    def add_owner(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not is_owned_object(args.type_):
            return None
        props = dict(args.props)
        props["metadata"] = labelled(props.get("metadata"), stack)
        return pulumi.ResourceTransformationResult(props, args.opts)

    pulumi.runtime.register_stack_transformation(add_owner)
