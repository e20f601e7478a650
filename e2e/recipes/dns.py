"""CoreDNS for the real node's cluster DNS, from its Go module through a wrapper main that imports only
the plugins the node's Corefile uses (e2e/nodeaddons.py)."""
from __future__ import annotations

import json

from e2e.toolchain import Build, ToolchainError, recipe

GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -trimpath", "GOTOOLCHAIN": "local"}


@recipe("coredns")
def coredns(build: Build) -> None:
    """CoreDNS's own main (coredns.go) imports every plugin of plugin.cfg; the wrapper imports the
    pinned plugins only and keeps CoreDNS's directive order for them."""
    module, version = build.pin["module"], build.pin["version"]
    info = build.go_download(module, version)
    go_line = json.loads(build.run(["go", "mod", "edit", "-json", info["GoMod"]], capture=True))["Go"]
    wrapper = build.work / "coredns"
    wrapper.mkdir()
    (wrapper / "go.mod").write_text(f"module cache-patterns.local/coredns\n\ngo {go_line}\n\nrequire {module} {version}\n")
    plugins = build.pin["plugins"]
    imports = "".join(f"\t_ \"{module}/plugin/{p}\"\n" for p in plugins)
    (wrapper / "main.go").write_text(
        "package main\n\nimport (\n\t\"slices\"\n\n"
        f"\t\"{module}/core/dnsserver\"\n\t\"{module}/coremain\"\n{imports})\n\n"
        f"var keep = []string{{{', '.join(json.dumps(p) for p in plugins)}}}\n\n"
        "func init() {\n\tvar d []string\n\tfor _, name := range dnsserver.Directives {\n"
        "\t\tif slices.Contains(keep, name) {\n\t\t\td = append(d, name)\n\t\t}\n\t}\n"
        "\tdnsserver.Directives = d\n}\n\nfunc main() { coremain.Run() }\n")
    build.run(["go", "mod", "tidy"], cwd=wrapper, env=GO_ENV, retries=3,
              what=f"download of the Go modules {module}@{version} needs")
    commit = (info.get("Origin") or {}).get("Hash", "")[:7]
    ldflags = ["-s", "-w", *([f"-X {module}/coremain.GitCommit={commit}"] if commit else [])]
    build.run(["go", "build", "-o", str(build.bin / "coredns"), "-ldflags", " ".join(ldflags), "."], cwd=wrapper,
              env=GO_ENV, what=f"go build of CoreDNS ({module}@{version})")
    out = build.run([str(build.bin / "coredns"), "-plugins"], capture=True)
    missing = [p for p in plugins if p not in out.split()]
    if missing:
        raise ToolchainError(f"coredns -plugins lacks {missing}: {out.strip()[:500]}")
