"""checkov in a virtualenv of its own: every package of pins.toml [tools.checkov] `requirements`
installed with --no-deps (the list is the whole closure, so nothing unpinned comes in), and a
`bin/checkov` that runs the virtualenv's Python by a path relative to itself (the tool's directory is
renamed into place after the build, so no absolute path may be baked into a script)."""
from __future__ import annotations

import sys

from e2e.toolchain import Build, ToolchainError, recipe

WRAPPER = '#!/bin/sh\nexec "$(dirname "$0")/../venv/bin/python" -m checkov.main "$@"\n'


@recipe("checkov")
def checkov(build: Build) -> None:
    version, requirements = build.pin["version"], build.pin["requirements"]
    if f"checkov=={version}" not in requirements:
        raise ToolchainError(f"checkov: the requirements do not pin checkov=={version}")
    venv = build.out / "venv"
    build.run([sys.executable, "-m", "venv", str(venv)], what="python -m venv")
    pinned = build.work / "requirements.txt"
    pinned.write_text("\n".join(requirements) + "\n")
    build.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-deps", "-r", str(pinned)], retries=2, what=f"pip install of checkov {version} and its pins")
    wrapper = build.bin / "checkov"
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    out = build.run([str(wrapper), "--version"], capture=True)
    if out.strip() != version:
        raise ToolchainError(f"checkov --version says {out.strip()!r}, the pin {version}")
