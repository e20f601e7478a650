"""The README sections generated from code: the config reference (from the schema), the env contract
(from contract.ENV_DOC) and the default image table. `--write` updates README.md between markers;
the tests fail when README.md and the code disagree.

    python -m tools.docs [--write]
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from cache_patterns import stack as config
from cache_patterns.core import contract
from cache_patterns import schema

README = Path(__file__).resolve().parent.parent / "README.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_reference() -> str:
    out = ["Every key below is under the `cache-patterns:` namespace of a stack file. Unknown keys anywhere are errors.",
           ""]
    sections: list[tuple[str, schema.Obj]] = [("Top-level keys", config.TOP)]
    cache_variants = config.CACHE.variants
    for pattern, obj in cache_variants.items():
        sections.append((f"`caches.<name>` with `pattern: {pattern}`", obj))
    sections.append(("`apps[]`", config.APP))
    for title, obj in sections:
        out += [f"#### {title}", ""]
        if obj.doc:
            out += [obj.doc, ""]
        out += ["| key | allowed | default | meaning |", "|---|---|---|---|"]
        nested = []
        for f in obj.fields:
            inner = f.spec
            if isinstance(inner, (schema.Tagged, schema.MapOf)) and f.key in ("caches", "apps"):
                allowed = "see below"
            elif isinstance(inner, schema.ListOf) and isinstance(inner.item, schema.Obj) and f.key == "apps":
                allowed = "see below"
            else:
                allowed = inner.describe()
            out.append(f"| `{f.key}` | {_cell(allowed)} | {_cell(f.describe_default())} | {_cell(f.doc)} |")
            while isinstance(inner, (schema.ListOf, schema.MapOf)):
                inner = inner.item if isinstance(inner, schema.ListOf) else inner.value
            if isinstance(inner, schema.Obj) and f.key not in ("caches", "apps"):
                nested.append((f.key, inner))
        out.append("")
        for key, inner in nested:
            rows = schema.reference_rows(inner, key)
            out += [f"`{key}` ({inner.title}):", "", "| key | allowed | default | meaning |", "|---|---|---|---|"]
            out += [f"| `{k}` | {_cell(a)} | {_cell(d)} | {_cell(m)} |" for k, a, d, m in rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def env_contract() -> str:
    out = [f"Contract version `{contract.CONTRACT_VERSION}`. `{{P}}` is `CACHE` (the cache the app binds to; under "
           "two-tier, the shared tier), `CACHE_L2` (two-tier: the shared tier again, explicitly) or `CACHE_L1` "
           "(two-tier: the local sidecar).", "",
           "| variable | meaning | absent means |", "|---|---|---|"]
    out += [f"| `{n}` | {_cell(m)} | {_cell(a)} |" for n, m, a in contract.ENV_DOC]
    return "\n".join(out) + "\n"


def image_table() -> str:
    out = ["| engine | version | image | licence |", "|---|---|---|---|"]
    for (engine, version), (image, licence) in config.ENGINE_IMAGES.items():
        default = " (default)" if config.DEFAULT_ENGINE_VERSION[engine] == version else ""
        out.append(f"| {engine} | {version}{default} | `{image}` | {licence} |")
    return "\n".join(out) + "\n"


SECTIONS = {"config-reference": config_reference, "env-contract": env_contract, "images": image_table}


def apply(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> markers")
        text = pattern.sub(lambda m: m.group(1) + make() + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    current = README.read_text()
    wanted = apply(current)
    if args.write:
        README.write_text(wanted)
        return 0
    if wanted != current:
        print("README.md is out of date: run `.venv/bin/python -m tools.docs --write`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
