"""Physical names that are contracts (DNS names, operator resources, AWS ids): derived from the stack
and the cache name, never random, and checked against the limit of whatever consumes them."""
from __future__ import annotations

import re

_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


class NameError_(ValueError):
    """A derived name that would break its consumer's limit."""


def physical_name(stack: str, cache: str, suffix: str = "", *, max_len: int, what: str) -> str:
    """`<stack>-<cache>[-<suffix>]`, lower-case, checked to be a DNS label of at most `max_len`.

    Raises NameError_ naming the cache and the limit: truncating or hashing would make a name
    that nobody can predict, and these names are what apps and Sentinels resolve."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"{stack}-{cache}".lower()).strip("-")
    name = f"{base}-{suffix}" if suffix else base
    if len(name) > max_len or not _LABEL.fullmatch(name):
        raise NameError_(
            f"caches.{cache}: the {what} name {name!r} is {len(name)} characters; at most {max_len} are allowed "
            f"(shorten the cache name or the stack name)")
    return name
