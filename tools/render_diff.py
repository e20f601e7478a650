"""Prove a change does not change what the program deploys: render every stack of a git ref and of
the working tree under mocks, and diff the manifests, the render summaries, and every resource's URN,
inputs and options (protect, deleteBeforeReplace, aliases, ...) and the stack outputs.

    python -m tools.render_diff [REF] [--stack NAME ...] [--keep DIR]

REF defaults to `main`. The ref is checked out in a temporary git worktree; each tree is evaluated
by its own code (`tools.harness` / `tools.render` of that tree) with this virtualenv's Python, so the
tool works across any refactor that keeps those two entry points. Exit 0: identical; 1: differences
(printed as a unified diff); 2: a tree failed to evaluate.
"""
from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render_diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("ref", nargs="?", default="main", help="git ref to compare against (default: main)")
    parser.add_argument("--stack", action="append", default=[], help="only this stack (repeatable)")
    parser.add_argument("--keep", help="write both renders under this folder instead of a temporary one")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="render-diff-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        checkout = Path(tmp) / "checkout"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(checkout), args.ref],
                       check=True)
        try:
            dump(checkout, base / "ref", args.stack)
            dump(ROOT, base / "tree", args.stack)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 2
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)], check=False)
        lines = compare(base / "ref", base / "tree", args.ref, "tree")
    stacks = sorted({p.name.split(".")[0] for p in (base / "tree").glob("*.json")}) if args.keep else None
    if lines:
        sys.stdout.writelines(lines)
        print(f"\nrender-diff: the working tree renders DIFFERENTLY from {args.ref}", file=sys.stderr)
        return 1
    print(f"render-diff: every stack renders identically to {args.ref} (manifests, summaries, URNs, inputs, "
          f"options, outputs){' ' + ', '.join(stacks) if stacks else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
