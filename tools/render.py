"""Offline render: evaluate the real program for a stack under Pulumi's mocks and write every
Kubernetes object it would create as YAML under rendered/<stack>/, with a readable summary.

It is a preview for review, not a deployment: auto-generated names and secrets get deterministic
placeholders (the real ones come from `pulumi up`), and what a Helm release would install is not shown.

    python -m tools.render [STACK ...] [--all] [--out DIR] [--crds DIR] [--no-validate] [--against REF]

When a stack's caches change pattern (against its last render in the output folder, or against git
REF's render with --against), the impact comes first: per app the contract variables lost and gained,
the objects replaced or deleted, and where the data was (tools/impact.py).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from cache_patterns import stack_reader
from cache_patterns.config.errors import ConfigError
from tools import harness, impact, validate

REDACTED = "<redacted: generated or set as a secret; see `pulumi up`>"
HEADER = ("# Rendered by `./run render` under Pulumi mocks: a preview for review. Names of auto-named\n"
          "# objects and all secret values are placeholders; the real ones come from `pulumi up`.\n")


def clean(value: Any) -> Any:
    """Mock values as a manifest would hold them: integral floats back to ints, keys sorted."""
    value = harness.ints(value)
    if isinstance(value, dict):
        return {k: clean(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def redact(value: Any, secrets: set[str], path: str = "", found: list[str] | None = None) -> Any:
    """`value` with every string holding a secret replaced by REDACTED; the paths replaced are
    appended to `found`."""
    if isinstance(value, str):
        if any(s and s in value for s in secrets):
            if found is not None:
                found.append(path)
            return REDACTED
        return value
    if isinstance(value, dict):
        return {k: redact(v, secrets, f"{path}.{k}" if path else k, found) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def manifest_of(res: harness.Registered, secrets: set[str], leaks: list[str] | None = None) -> dict:
    """The object as written to a file: Secret data and any other string holding a secret redacted.
    A secret anywhere but a Secret's data is a leak (a plain env value, an annotation, a ConfigMap):
    its path is appended to `leaks`, so the render reports it instead of only hiding it."""
    obj = clean(res.manifest)
    if obj.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if key in obj:
                obj[key] = {k: REDACTED for k in obj[key]}
    found: list[str] = []
    obj = redact(obj, secrets, "", found)
    if leaks is not None:
        leaks += [f"{validate.describe(obj)}: a secret value at {path} (redacted in the file)" for path in found]
    ordered = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    ordered.update({k: v for k, v in obj.items() if k not in ordered})
    return ordered


def file_name(obj: dict) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace') or '_cluster'}/{obj['kind']}-{meta['name']}.yaml"


class Result:
    def __init__(self, stack: str, run: harness.Run, manifests: list[dict], problems: list[str], seconds: float):
        self.stack, self.run, self.manifests, self.problems, self.seconds = stack, run, manifests, problems, seconds


def render(stack: str, out: Path | None, crds: Path | None = None, check: bool = True,
           password: str | None = None) -> Result:
    """Evaluate `stack` and write its objects under `out`. `password` is what generated passwords
    and `secure:` values read as (default: the placeholders); tests pass a canary."""
    started = time.perf_counter()
    password = harness.PLACEHOLDER_PASSWORD if password is None else password
    run = harness.run(stack, password=password)
    secure = secure_keys(harness.load_stack_config(stack))
    secrets = {password, *(harness.secure_placeholder(k) for k in secure)}
    leaks: list[str] = []
    manifests = [manifest_of(r, secrets, leaks) for r in run.k8s_objects]
    # A secret outside a Secret fails the render, whether or not validation runs.
    problems: list[str] = list(leaks)
    unchecked: list[str] = []
    if check:
        version = harness.load_stack_config(stack).get("cache-patterns:kubernetesVersion", "1.33")
        index = None
        for obj in manifests:
            if validate.is_custom(obj):
                if crds is not None:
                    from tools import crds as crd_tools
                    index = index or crd_tools.load(crds)
                    if crd_tools.covers(obj, index):
                        problems += crd_tools.validate(obj, index)
                    else:
                        unchecked.append(validate.describe(obj))
            else:
                problems += validate.validate_k8s(obj, str(version))
    if out is not None:
        target = out / stack
        if target.exists():
            shutil.rmtree(target)
        for obj in manifests:
            path = target / file_name(obj)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(HEADER + yaml.safe_dump(obj, sort_keys=False, width=120))
        (target / "SUMMARY.txt").write_text(summary(stack, run, manifests, problems, crds, check, unchecked))
    return Result(stack, run, manifests, problems, time.perf_counter() - started)


# What a reviewer wants to see of each cloud resource (never a secret input).
SUMMARY_KEYS = {
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "replicationGroupId", "engine", "engineVersion", "nodeType", "numCacheClusters", "numNodeGroups",
        "replicasPerNodeGroup", "multiAzEnabled", "automaticFailoverEnabled", "transitEncryptionMode",
        "atRestEncryptionEnabled", "kmsKeyId", "snapshotRetentionLimit", "authTokenUpdateStrategy",
        "notificationTopicArn"),
    "aws:elasticache/serverlessCache:ServerlessCache": ("name", "engine", "majorEngineVersion", "cacheUsageLimits",
                                                        "snapshotRetentionLimit", "userGroupId"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "vpcId", "ingress", "egress"),
    "aws:elasticache/subnetGroup:SubnetGroup": ("name", "subnetIds"),
    "aws:elasticache/parameterGroup:ParameterGroup": ("name", "family", "parameters"),
    "aws:elasticache/user:User": ("userName", "accessString"),
    "aws:elasticache/userGroup:UserGroup": ("userGroupId", "userIds"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("metricName", "statistic", "dimensions", "comparisonOperator",
                                               "threshold", "evaluationPeriods", "treatMissingData"),
    "aws:sns/topic:Topic": ("name",),
    "random:index/randomPassword:RandomPassword": ("length", "special", "keepers"),
}


def _brief(value: Any) -> str:
    return yaml.safe_dump(clean(value), default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def secure_keys(config: dict, prefix: str = "") -> list[str]:
    """The keys of a stack file's `secure:` values (`cache-patterns:passwords.legacy`)."""
    out = []
    for key, value in config.items():
        full = f"{prefix}.{key}" if prefix else (key if ":" in key else f"{harness.PROJECT}:{key}")
        if isinstance(value, dict) and set(value) == {"secure"}:
            out.append(full)
        elif isinstance(value, dict):
            out += secure_keys(value, full)
    return out


def _pods(obj: dict) -> str:
    spec = (obj.get("spec") or {})
    tpl = (spec.get("template") or {}).get("spec") or {}
    if not tpl:
        return ""
    inits = [c for c in tpl.get("initContainers", []) if c.get("restartPolicy") == "Always"]
    parts = [f"{spec.get('replicas', 1)} pod(s), containers: " + ", ".join(c["name"] for c in tpl.get("containers", []))]
    if inits:
        parts.append("native sidecar(s): " + ", ".join(f"{c['name']} ({c['image']})" for c in inits))
    return "; ".join(parts)


def summary(stack: str, run: harness.Run, manifests: list[dict], problems: list[str], crds: Path | None,
            check: bool, unchecked: list[str] = ()) -> str:
    cfg = harness.load_stack_config(stack)
    lines = [
        f"stack {stack}: environment {cfg.get('cache-patterns:environment')}, "
        f"Kubernetes {cfg.get('cache-patterns:kubernetesVersion', '1.33')}",
        "A preview under Pulumi mocks: auto-generated names and secrets are placeholders; `pulumi up` makes the real ones.",
        "",
        f"Kubernetes objects ({len(manifests)}):",
    ]
    for obj in sorted(manifests, key=lambda o: (o["metadata"].get("namespace") or "", o["kind"], o["metadata"]["name"])):
        detail = _pods(obj)
        lines.append(f"  {validate.describe(obj):<70} {detail}".rstrip())
    others = sorted((r for r in run.resources if r.custom and not r.is_k8s_object
                     and not r.type.startswith("pulumi:providers")), key=lambda r: (r.type, r.name))
    lines += ["", f"Other resources ({len(others)}):"]
    for r in others:
        note = " [protected]" if r.protect else ""
        secret = f" (secret inputs: {', '.join(sorted(r.secret_inputs))})" if r.secret_inputs else ""
        lines.append(f"  {r.type} {r.name}{note}{secret}")
        shown = {k: r.inputs[k] for k in SUMMARY_KEYS.get(r.type, ()) if k in r.inputs and k not in r.secret_inputs}
        if shown:
            lines.append("    " + ", ".join(f"{k}={_brief(v)}" for k, v in shown.items()))
        if r.type.startswith("kubernetes:") and r.type.endswith("Patch"):
            meta = r.inputs.get("metadata") or {}
            what = (f"the claim {meta.get('namespace')}/{meta.get('name')} once the StatefulSet controller has made it "
                    f"(on the first deploy it is made at this size; later the patch grows it)"
                    if r.type.endswith("PersistentVolumeClaimPatch") else
                    f"{meta.get('namespace')}/{meta.get('name')}, an object this program does not create")
            lines.append(f"    patches {what}: {_brief(harness.ints(r.inputs.get('spec')))}")
        if r.type.startswith("kubernetes:helm"):
            source = (r.inputs.get('repositoryOpts') or {}).get('repo') or "a local folder"
            lines.append(f"    Helm release: chart {r.inputs.get('chart')} {r.inputs.get('version', '')} from "
                         f"{source} into namespace "
                         f"{r.inputs.get('namespace')}; the objects the chart creates are NOT shown "
                         f"(Helm renders nothing under mocks)")
    for key in secure_keys(cfg):
        lines.append(f"  secure config {key}: the preview uses the placeholder {harness.secure_placeholder(key)!r}; "
                     f"the real value is set with `pulumi config set --secret`")
    lines += ["", "Stack outputs:"]
    for name, out in run.outputs.items():
        if out.secret:
            shown = "[secret]"
        elif isinstance(out.value, (dict, list)):
            shown = yaml.safe_dump(clean(out.value), sort_keys=True, width=110).rstrip()
        else:
            shown = str(out.value)
        lines.append(f"  {name}:")
        lines += [f"    {line}" for line in shown.splitlines()]
    lines.append("")
    if not check:
        lines.append("Validation: skipped (--no-validate)")
        lines += [f"  PROBLEM {p}" for p in problems]
    else:
        version = cfg.get("cache-patterns:kubernetesVersion", "1.33")
        customs = sum(1 for o in manifests if validate.is_custom(o))
        lines.append(f"Validation: Kubernetes {version} schemas, strict: "
                     f"{len(manifests) - customs} built-in objects")
        if customs:
            lines.append(f"            custom resources: {customs} " +
                         (f"against the CRDs in {crds}" if crds else "NOT validated (give --crds DIR)"))
        lines += [f"  not validated (the CRD folder has no CRD of its API group): {u}" for u in unchecked]
        lines += [f"  PROBLEM {p}" for p in problems] or ["  all valid"]
    return "\n".join(lines) + "\n"


def located(stack: str, exc: ConfigError) -> str:
    """A config error as `file:line: key: message` lines, every problem of the file at once."""
    path = harness.stack_file(stack)
    lines = [f"stack {stack}: invalid stack config ({len(exc.problems)} problem{'s' * (len(exc.problems) != 1)}):"]
    lines += [f"  {line}" for line in stack_reader.located(path, exc.problems)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run render", description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", help="stack names (stacks/Pulumi.<stack>.yaml); default: local")
    parser.add_argument("--all", action="store_true", help="render every stack in stacks/")
    parser.add_argument("--out", default=str(harness.ROOT / "rendered"), help="output folder (default: rendered/)")
    parser.add_argument("--crds", help="validate custom resources against the CRD YAML files in this folder "
                                       "(for example `kubectl get crd NAME -o yaml` from your cluster)")
    parser.add_argument("--no-validate", action="store_true", help="skip schema validation")
    parser.add_argument("--against", metavar="REF", help="say what a change of the caches' patterns does against "
                                                         "git REF's render (default: against the last render)")
    args = parser.parse_args(argv)
    stacks = harness.list_stacks() if args.all else (args.stacks or ["local"])
    crds = validate.crds_dir(args.crds) if args.crds else None
    if args.crds and crds is None:
        print(f"--crds: {args.crds} is not a folder", file=sys.stderr)
        return 2
    status = 0
    for stack in stacks:
        if not harness.stack_file(stack).exists():
            print(f"no stack file {harness.stack_file(stack)} (stacks: {', '.join(harness.list_stacks())})",
                  file=sys.stderr)
            return 2
        basis_file = Path(args.out) / stack / BASIS_FILE
        try:
            last = impact.load(basis_file)
            previous = last if not args.against else ref_basis(args.against, stack)
            result = render(stack, Path(args.out), crds, check=not args.no_validate)
        except ConfigError as exc:
            print(located(stack, exc), file=sys.stderr)
            status = 2
            continue
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 2
        current = impact.basis(stack, harness.load_stack_config(stack), result.manifests,
                               [{"urn": r.urn, "protect": r.protect} for r in result.run.resources])
        refused = impact.engine_refusals(previous, current) if previous is not None else []
        if refused:
            against = f"git {args.against}" if args.against else "the last render"
            print(f"ENGINE CHANGE REFUSED in stack {stack} (against {against}; docs/upgrades.md):\n"
                  + "\n".join(f"  {line}" for line in refused), file=sys.stderr)
            status = 2
        # A refused step keeps the last render's basis (render() emptied the folder): it names what runs.
        kept = last if refused else current
        if kept is not None:
            basis_file.write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
        print((Path(args.out) / stack / "SUMMARY.txt").read_text(), end="")
        print(f"-> {len(result.manifests)} objects written to {Path(args.out) / stack}/ in {result.seconds:.2f} s\n")
        lines = impact.impact(previous, current) if previous is not None else []
        if lines:
            against = f"git {args.against}" if args.against else "the last render"
            print(f"PATTERN CHANGE in stack {stack} (against {against}):")
            print("\n".join(f"  {line}" for line in lines) + "\n")
        print(next_commands(stack))
        if result.problems:
            status = max(status, 1)
    return status


# What the last render of a stack deployed (tools/impact.py), kept beside its manifests.
BASIS_FILE = "render.json"


def ref_basis(ref: str, stack: str) -> dict:
    """The basis of `stack` as git `ref` renders it (its own code, in a temporary worktree)."""
    import subprocess
    import tempfile

    from tools import render_diff

    with tempfile.TemporaryDirectory(prefix="render-against-") as tmp:
        checkout = Path(tmp) / "checkout"
        subprocess.run(["git", "-C", str(harness.ROOT), "worktree", "add", "--detach", "--quiet", str(checkout), ref],
                       check=True)
        try:
            render_diff.dump(checkout, Path(tmp) / "ref", [stack])
            return impact.from_files(stack, checkout / "stacks" / f"Pulumi.{stack}.yaml",
                                     Path(tmp) / "ref" / "rendered" / stack, Path(tmp) / "ref" / f"{stack}.resources.json")
        finally:
            subprocess.run(["git", "-C", str(harness.ROOT), "worktree", "remove", "--force", str(checkout)], check=False)


def next_commands(stack: str) -> str:
    return ("Next:\n"
            "  ./run render-diff main          what this tree changes against main, stack by stack\n"
            f"  ./run plan {stack:<20} memory, limits and node sizes of each cache, from its workload\n"
            f"  pulumi preview --stack {stack:<8} the real plan against your cluster (docs/deploying.md)\n")


if __name__ == "__main__":
    sys.exit(main())
