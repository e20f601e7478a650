"""Resources that move between pattern components when a stack switches a cache's pattern by config.

The in-cluster patterns (statefulset, operator) are components made at the top of the stack under
the cache's name. Some of their children keep a fixed Kubernetes name whichever pattern makes them
(the cache's Certificates, its monitoring objects): for the engine, a switch moves them to a new URN.
Without an alias the engine creates the "new" resource before deleting the "old" one, and server-side
apply turns that create into an upsert of the live object: a field conflict with the old resource's
field manager that fails the switch (found by the engine tier), or, with every field equal, an object
the old resource's delete then removes. With an alias it is one resource, updated in place.
"""
from __future__ import annotations

import pulumi

def moved_from(parent: pulumi.Resource, name: str) -> list[pulumi.Alias]:
    """Aliases for a child of `parent` (a cache's component named `name`) to the same child under the
    other pattern components (an alias to a URN the state does not hold is ignored)."""
    from cache_patterns.patterns import in_cluster_components

    return [pulumi.Alias(parent=pulumi.resource.create_urn(name, other)) for other in in_cluster_components()
            if other != parent.pulumi_resource_type]
