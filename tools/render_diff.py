"""Prove a change does not change what the program deploys: render every stack of a git ref and of
the working tree under mocks, and diff the manifests, the render summaries, and every resource's URN,
inputs and options (protect, deleteBeforeReplace, aliases, ...) and the stack outputs.

    python -m tools.render_diff [REF] [--stack NAME ...] [--keep DIR] [--full]

REF defaults to `main`. First a summary per stack: objects added, changed and removed by kind, other
resources, outputs, and where a cache changes pattern what that does (tools/impact.py); the unified
diff of every file only with --full. The ref is checked out in a temporary git worktree; each tree is evaluated
by its own code (`tools.harness` / `tools.render` of that tree) with this virtualenv's Python, so the
tool works across any refactor that keeps those two entry points. Exit 0: identical; 1: differences
(printed as a unified diff); 2: a tree failed to evaluate.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# Run inside a tree (cwd = its root): render each stack with that tree's own tools, then dump every
# registered resource and the stack outputs as JSON. Secrets are redacted the way the render does.
DUMP = r'''
import json, sys, traceback
from pathlib import Path
from tools import harness, render
out = Path(sys.argv[1]); only = sys.argv[2:]
for stack in (only or harness.list_stacks()):
    if not harness.stack_file(stack).exists():
        (out / f"{stack}.missing").write_text("no stack file\n"); continue
    try:
        result = render.render(stack, out / "rendered", None, check=False)
    except Exception as exc:
        (out / f"{stack}.error").write_text(f"{type(exc).__name__}: {exc}\n"); continue
    secure = render.secure_keys(harness.load_stack_config(stack))
    secrets = {harness.PLACEHOLDER_PASSWORD, *(harness.secure_placeholder(k) for k in secure)}
    def clean(v):
        return render.redact(render.clean(v), secrets)
    resources = []
    for r in sorted(result.run.resources, key=lambda r: r.urn):
        resources.append({"urn": r.urn, "parent": r.parent, "provider": r.provider.split("::")[0],
                          "inputs": clean(r.inputs), "secretInputs": sorted(r.secret_inputs),
                          "protect": r.protect, "deleteBeforeReplace": r.delete_before_replace,
                          "retainOnDelete": r.retain_on_delete, "replaceOnChanges": sorted(r.replace_on_changes),
                          "ignoreChanges": sorted(r.ignore_changes), "aliases": sorted(r.aliases),
                          "dependencies": sorted(r.dependencies)})
    outputs = {k: {"secret": o.secret, "value": clean(o.value)} for k, o in result.run.outputs.items()}
    (out / f"{stack}.resources.json").write_text(json.dumps(resources, indent=1, sort_keys=True, default=str) + "\n")
    (out / f"{stack}.outputs.json").write_text(json.dumps(outputs, indent=1, sort_keys=True, default=str) + "\n")
'''


def dump(tree: Path, out: Path, stacks: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # Each tree imports its own component library: components/ (or, before that layout, the tree's root,
    # where `python -c` looks first), never this virtualenv's editable install of the working tree.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "components"), str(tree)])}
    proc = subprocess.run([sys.executable, "-c", DUMP, str(out), *stacks], cwd=tree, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"evaluating {tree} failed:\n{proc.stderr[-4000:]}")


def files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def compare(old: Path, new: Path, old_name: str, new_name: str) -> list[str]:
    a, b = files(old), files(new)
    lines: list[str] = []
    for name in sorted(set(a) | set(b)):
        if a.get(name) == b.get(name):
            continue
        lines += difflib.unified_diff((a.get(name) or "").splitlines(keepends=True),
                                      (b.get(name) or "").splitlines(keepends=True),
                                      f"{old_name}/{name}" if name in a else "/dev/null",
                                      f"{new_name}/{name}" if name in b else "/dev/null")
    return lines


def _objects(folder: Path) -> dict[str, dict]:
    """The rendered objects of one stack by `Kind namespace/name`."""
    out = {}
    for path in sorted(folder.rglob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        if isinstance(obj, dict) and "kind" in obj:
            meta = obj["metadata"]
            out[f"{obj['kind']} {meta.get('namespace') or '-'}/{meta['name']}"] = obj
    return out


def _urn_type(urn: str) -> str:
    return urn.split("::")[-2].rsplit("$", 1)[-1]


def _resources(path: Path) -> dict[str, dict]:
    """Every resource but the Kubernetes objects (counted from the rendered files) and components."""
    if not path.exists():
        return {}
    out = {}
    for r in json.loads(path.read_text()):
        t = _urn_type(r["urn"])
        rendered = t.startswith("kubernetes:") and not t.endswith("Patch") and ":helm.sh/" not in t
        if not rendered and not t.startswith(("cache-patterns:", "pulumi:")):
            out[r["urn"]] = r
    return out


def _by_kind(keys: list[str], kind_of=lambda k: k.split(" ", 1)[0]) -> str:
    counts = Counter(kind_of(k) for k in keys)
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))


def stack_summary(stack: str, ref: Path, tree: Path, ref_stack_file: Path) -> list[str]:
    """What changes in one stack: objects added, changed, removed by kind; other resources; outputs;
    and, where a cache changes pattern, its impact."""
    for side in (ref, tree):
        if (side / f"{stack}.error").exists():
            return [f"{stack}: does not evaluate in {side.name}: {(side / f'{stack}.error').read_text().strip()}"]
    a, b = _objects(ref / "rendered" / stack), _objects(tree / "rendered" / stack)
    ra, rb = _resources(ref / f"{stack}.resources.json"), _resources(tree / f"{stack}.resources.json")
    parts = []
    for word, keys in (("added", [k for k in b if k not in a]), ("changed", [k for k in a if k in b and a[k] != b[k]]),
                       ("removed", [k for k in a if k not in b])):
        if keys:
            parts.append(f"{word} {_by_kind(keys)}")
    for word, keys in (("added", [u for u in rb if u not in ra]), ("changed", [u for u in ra if u in rb and ra[u] != rb[u]]),
                       ("removed", [u for u in ra if u not in rb])):
        if keys:
            parts.append(f"{word} {_by_kind(keys, _urn_type)}")
    def text(side: Path, name: str) -> str:
        return (side / name).read_text() if (side / name).exists() else ""
    if not parts and text(ref, f"{stack}.resources.json") != text(tree, f"{stack}.resources.json"):
        parts.append("resource options or URNs changed (aliases, protect, dependencies, parents)")
    if text(ref, f"{stack}.outputs.json") != text(tree, f"{stack}.outputs.json"):
        parts.append("stack outputs changed")
    if not parts and any(text(ref, f"rendered/{stack}/{f}") != text(tree, f"rendered/{stack}/{f}") for f in ("SUMMARY.txt",)):
        parts.append("the render summary changed")
    if not parts:
        return []
    from tools import impact
    lines = [f"{stack}: " + "; ".join(parts)]
    old = impact.from_files(stack, ref_stack_file, ref / "rendered" / stack, ref / f"{stack}.resources.json")
    new = impact.from_files(stack, ROOT / "stacks" / f"Pulumi.{stack}.yaml", tree / "rendered" / stack,
                            tree / f"{stack}.resources.json")
    lines += [f"    {line}" for line in impact.impact(old, new)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render_diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("ref", nargs="?", default="main", help="git ref to compare against (default: main)")
    parser.add_argument("--stack", action="append", default=[], help="only this stack (repeatable)")
    parser.add_argument("--keep", help="write both renders under this folder instead of a temporary one")
    parser.add_argument("--full", action="store_true", help="also print the unified diff of every file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="render-diff-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        checkout = Path(tmp) / "checkout"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(checkout), args.ref],
                       check=True)
        try:
            dump(checkout, base / "ref", args.stack)
            dump(ROOT, base / "tree", args.stack)
            lines = compare(base / "ref", base / "tree", args.ref, "tree")
            names = sorted({p.name.split(".")[0] for side in ("ref", "tree") for p in (base / side).iterdir()
                            if p.is_file()})
            summary = [line for stack in names for line in
                       stack_summary(stack, base / "ref", base / "tree", checkout / "stacks" / f"Pulumi.{stack}.yaml")]
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 2
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)], check=False)
    stacks = names if args.keep else None
    if lines:
        changed = {line.split(":", 1)[0] for line in summary if not line.startswith(" ")}
        print(f"render-diff against {args.ref}: {len(changed)} of {len(names)} stacks change "
              f"(identical: {', '.join(n for n in names if n not in changed) or 'none'})")
        print("\n".join(f"  {line}" for line in summary))
        if args.full:
            print()
            sys.stdout.writelines(lines)
        else:
            print(f"({len(lines)} lines of unified diff: --full prints them; --keep DIR keeps both renders)")
        print(f"\nrender-diff: the working tree renders DIFFERENTLY from {args.ref}", file=sys.stderr)
        return 1
    print(f"render-diff: every stack renders identically to {args.ref} (manifests, summaries, URNs, inputs, "
          f"options, outputs){' ' + ', '.join(stacks) if stacks else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
