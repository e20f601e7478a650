"""The operators' own pods, through their Helm charts' values: placement, image, pull policy and pull
Secrets, as each chart names them (OT-CONTAINER-KIT redis-operator 0.26.0: ../shared/charts/redis-operator
values.yaml and templates/operator-deployment.yaml; Spotahome redis-operator 3.3.0: charts/redisoperator
values.yaml and templates/deployment.yaml at v1.3.0-rc1). Only what the stack sets is written, so a
stack without placement or images passes the charts' defaults through untouched.

What a chart has no value for is refused by config rather than dropped: neither chart takes
topologySpreadConstraints, Spotahome's takes no pod labels (its `annotations` go on the Deployment and
its pods), and Spotahome's template writes the `imagePullSecrets` key once per Secret, so it takes one.
"""
from __future__ import annotations

from typing import Any

from cache_patterns.core import placement as placing
from cache_patterns.core.image_set import CHART_IMAGES, ImageSet

# What each chart cannot take, by placement key.
UNSUPPORTED = {"ot-container-kit": ("topology_spread_constraints",),
               "spotahome": ("topology_spread_constraints", "pod_labels")}
MAX_PULL_SECRETS = {"spotahome": 1}


def selector(operator: str, release: str, values: dict) -> dict:
    """The operator pod's labels its chart selects it by (what a pod affinity term without
    labelSelector selects: the operator's own pods)."""
    if operator == "ot-container-kit":
        return {"name": str((values.get("redisOperator") or {}).get("name", "redis-operator"))}
    return {"app.kubernetes.io/name": str(values.get("nameOverride") or "redis-operator"),
            "app.kubernetes.io/instance": release}


def _image(operator: str, images: ImageSet) -> dict:
    r = images.resolve(CHART_IMAGES[operator])
    image: dict = {}
    if r.moved:
        image["imageName" if operator == "ot-container-kit" else "repository"] = r.name
    if r.chart_tag is not None:
        image["imageTag" if operator == "ot-container-kit" else "tag"] = r.chart_tag
    if r.policy_given:
        image["imagePullPolicy" if operator == "ot-container-kit" else "pullPolicy"] = r.pull_policy
    return image


def chart_values(operator: str, placed: placing.Placed, images: ImageSet, release: str, values: dict) -> dict:
    """The values that place the operator's pod and pull its image as the stack says."""
    out: dict[str, Any] = {}
    if placed.node_selector:
        out["nodeSelector"] = dict(placed.node_selector)
    if placed.tolerations:
        out["tolerations"] = placed.k8s_tolerations()
    affinity = placing.affinity(placed, selector(operator, release, values))
    if affinity:
        out["affinity"] = affinity
    if placed.priority_class_name:
        out["priorityClassName"] = placed.priority_class_name
    image = _image(operator, images)
    secrets = images.secret_refs()
    if operator == "ot-container-kit":
        pod = {**image}
        if placed.pod_annotations:
            pod["podAnnotations"] = dict(placed.pod_annotations)
        if placed.pod_labels:
            pod["podLabels"] = dict(placed.pod_labels)
        if secrets:
            pod["imagePullSecrets"] = secrets
        if pod:
            out["redisOperator"] = pod
    else:
        if image:
            out["image"] = image
        if placed.pod_annotations:
            out["annotations"] = dict(placed.pod_annotations)
        if secrets:
            out["imageCredentials"] = {"create": True, "existsSecrets": [s["name"] for s in secrets]}
    return out
