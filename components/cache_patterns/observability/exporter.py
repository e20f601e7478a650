"""redis_exporter: one version for every pattern. The StatefulSet's own exporter containers (Redis and
Sentinel pods) and both operators' exporter settings use it, so the metric names the rules and
dashboards read are those of the version the live tests build and scrape (e2e/pins.toml)."""
from __future__ import annotations

from cache_patterns.core import images
from cache_patterns.observability.target import EXPORTER_PORT

# v1.88.0 (components/cache_patterns/core/images.py): the newest tag the Go module proxy serves (v1.89.0, the
# prometheus-community chart's appVersion, is refused there), so the version built and scraped.
VERSION = images.EXPORTER_VERSION
# The same binary on Alpine (BusyBox sh, binary at /redis_exporter): the StatefulSet's pods.
IMAGE_ALPINE = images.EXPORTER_IMAGE
# Scratch image (USER 59000:59000, ENTRYPOINT /redis_exporter): for the operators, which set the
# exporter's environment themselves (REDIS_ADDR, REDIS_PASSWORD from the Secret).
IMAGE = f"oliver006/redis_exporter:{VERSION}"
PORT = EXPORTER_PORT
PORT_NAME = "metrics"
RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}
