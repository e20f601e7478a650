"""What the stack last deployed, read back before anything is touched (issue 23): each cache exports its
day-2 facts (pattern, engine line, replicas, memory) as the stack output `deployed`; the next
`pulumi preview`/`pulumi up` reads its own stack's last outputs through a StackReference to itself and
checks the change against them (a downgrade or an unsafe engine jump, a replica shrink the rollout
driver has not prepared, a maxmemory below the data set planned last time). A refused change raises a
ConfigError, every problem of every cache at once, naming the key, both values and what works.

The providers wait for that check (`gate`), so a refused change registers no resource at all: the
preview fails and `pulumi up` changes nothing. A stack without the output (new, or last deployed
before it existed) is not checked; the run that deploys it records the facts for the next one.
"""
from __future__ import annotations

from typing import Any, Mapping

import pulumi

from cache_patterns.config.errors import ConfigError

OUTPUT = "deployed"
REFERENCE = "deployed-before"
# The organization of a stack on the local file backend (and what the mocks stand for).
DEFAULT_ORGANIZATION = "organization"


def reference_name() -> str:
    """`<organization>/<project>/<stack>`: the fully qualified name of the running stack."""
    return f"{pulumi.get_organization() or DEFAULT_ORGANIZATION}/{pulumi.get_project()}/{pulumi.get_stack()}"


def facts(caches: Mapping[str, Any]) -> dict[str, dict]:
    """The output: each cache's facts (CacheSettings.deployed_facts), for the caches that have any."""
    out = {}
    for name, settings in caches.items():
        found = settings.deployed_facts()
        if found:
            out[name] = found
    return out


def problems(caches: Mapping[str, Any], previous: Any) -> list[tuple[str, str]]:
    """Every unsafe change from the `previous` facts to the caches' settings, keyed `caches.<name>.<key>`.
    A cache new or gone, or of another pattern than before (a switch), is not compared."""
    if not isinstance(previous, Mapping):
        return []
    out = []
    for name, settings in caches.items():
        before = previous.get(name)
        if isinstance(before, Mapping) and before.get("pattern") == settings.pattern:
            out += [(f"caches.{name}.{key}", message) for key, message in settings.change_problems(dict(before))]
    return out


def check(caches: Mapping[str, Any], previous: Any) -> None:
    """Raise a ConfigError with every problem of the change, or return None."""
    found = problems(caches, previous)
    if found:
        raise ConfigError(found)


def gate(caches: Mapping[str, Any]) -> pulumi.Output[list]:
    """An Output that resolves (to no resources) once the stack's last deployed facts are read and the
    change checked, and fails with the ConfigError when it is refused: a resource that `depends_on` it
    is registered only after a passed check (the providers do; so does every resource through them)."""
    ref = pulumi.StackReference(REFERENCE, stack_name=reference_name())
    return ref.get_output(OUTPUT).apply(lambda before: (check(caches, before), [])[1])
