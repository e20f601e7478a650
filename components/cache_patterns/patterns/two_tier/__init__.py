"""Pattern 4, two-tier: an L1 in every bound app pod (a sidecar) or app process (in-process, invalidated
by the L2 server's client tracking) in front of any shared cache (the L2)."""
from __future__ import annotations

from cache_patterns.patterns.base import PatternDoc
from cache_patterns.patterns.two_tier.component import discovery_with_l1, shape_layer, with_l1
from cache_patterns.patterns.two_tier.settings import TAG, L1Settings

# Not a `pattern:` tag but a layer any shared cache carries (`l1:`): in the docs' list of patterns only.
LAYER = PatternDoc(
    number=4, title="Two-tier", page="docs/patterns/two_tier.md", config="`l1: {...}` on any shared cache",
    choose="a shared cache read far more than written, where the network hop dominates",
    costs="an L1 in every pod (a sidecar) or process (`mode: in-process`), staleness of at most `l1.ttlCap` when "
          "an invalidation is lost, a client that follows [the protocol](docs/protocol.md)")

__all__ = ["TAG", "LAYER", "L1Settings", "with_l1", "discovery_with_l1", "shape_layer"]
