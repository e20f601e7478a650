"""Drive the real Pulumi engine (the pinned toolchain) over a copy of the program, offline.

    from e2e import engine
    ws = engine.Workspace.create(tmp_path, cluster)   # a copy of the program, its own backend and PULUMI_HOME
    st = ws.stack("dev")                               # `pulumi stack init` (passphrase secrets provider)
    st.set_config({"caches": {...}})                   # edits the copy's stacks/Pulumi.dev.yaml
    result = st.up()                                   # the steps the engine took, from its event log
    st.preview_no_changes()                            # `pulumi preview --expect-no-changes`
    st.refresh(); st.destroy(); st.state()             # the state file, as JSON

The program is copied, never edited in place: a scenario changes the copy's stack config the way an
operator would (`pulumi config set` edits that file too). Offline means: a local file backend, the
passphrase secrets provider, no update check, no automatic plugin download, plugins only from the
toolchain's bin directories on $PATH (the engine takes a provider from $PATH whatever version the SDK
asks for), and PULUMI_HOME in the workspace so no plugin cached elsewhere on the machine is used.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from e2e import toolchain

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "cache-patterns"
# What a `pulumi up` of the program needs, from e2e/pins.toml.
TOOLS = ("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes", "pulumi-resource-random",
         "pulumi-resource-pulumi-python",
         "pulumi-language-yaml")
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "components", "stacks")
PASSPHRASE = "cache-patterns-e2e-passphrase"
COMMAND_TIMEOUT = 900.0
# Operations that delete the live object a URN stood for (a replacement included).
REPLACING_OPS = {"replace", "create-replacement", "delete-replaced", "discard-replaced"}


class EngineError(RuntimeError):
    """A pulumi command failed; the message holds the command and the end of its output."""


def sdk_pins() -> dict[str, str]:
    """The packages requirements.txt pins, by name (`pulumi-kubernetes` -> `4.25.0`)."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            pins[name.replace("_", "-").lower()] = version
    return pins


def missing_tools() -> list[str]:
    toolchain._load_recipes()
    return [t for t in TOOLS if not toolchain.is_built(t)]


@dataclass
class Step:
    op: str
    urn: str
    type: str
    diffs: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass
class Result:
    """What one engine command did: its steps (from the event log), exit code and output."""

    command: str
    code: int
    output: str
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    diagnostics: list[str] = field(default_factory=list)

    def ops(self, *ops: str) -> list[Step]:
        return [s for s in self.steps if s.op in ops]

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.op not in ("same", "read", "refresh")]

    @property
    def replaced(self) -> set[str]:
        """URNs whose live object was (or would be) deleted and created again."""
        return {s.urn for s in self.steps if s.op in REPLACING_OPS}

    def describe(self) -> str:
        lines = [f"{s.op:20} {s.urn}" + (f"  diffs={list(s.diffs)}" if s.diffs else "")
                 + (f"  replaces={list(s.replaces)}" if s.replaces else "") for s in self.changes]
        return "\n".join(lines) or "(no changes)"


@dataclass
class Workspace:
    dir: Path
    program: Path
    env: dict[str, str]

    @classmethod
    def create(cls, base: Path, cluster_env: dict[str, str],
               files: dict[str, Path] | None = None) -> "Workspace":
        """A copy of the program (`files`: name in the copy -> source; default this repository's
        program: Pulumi.yaml, __main__.py, components/, stacks/) with a backend of its own."""
        missing = missing_tools()
        if missing:
            raise EngineError(f"tools not built: {missing}: run `./run toolchain`")
        program = base / "program"
        program.mkdir(parents=True)
        for name, src in (files or {n: ROOT / n for n in PROGRAM_FILES}).items():
            if src.is_dir():
                shutil.copytree(src, program / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, program / name)
        # Pulumi.yaml names the virtualenv `.venv` beside it: the one running this (the repository's, with
        # the pinned SDKs; also when ROOT is a copy of the tree, as `./run mutate` makes, which has none).
        (program / ".venv").symlink_to(Path(sys.prefix))
        (base / "state").mkdir()
        (base / "home").mkdir()
        # The pinned kubectl too: the statefulset rollout driver runs it inside `pulumi up`.
        path = [str(toolchain.bin_dir(t)) for t in (*TOOLS, "kubernetes")]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")},
            **cluster_env,
            "PATH": os.pathsep.join(path + [os.environ.get("PATH", "")]),
            # The copy's program imports the copy's component library (components/ is its source root),
            # not the checkout's editable install: a scenario tests the tree it copied.
            "PYTHONPATH": str(program / "components"),
            "PULUMI_HOME": str(base / "home"),
            "PULUMI_BACKEND_URL": f"file://{base / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            "NO_COLOR": "1",
            # --event-log (the steps the engine took, as JSON) is a debug flag.
            "PULUMI_DEBUG_COMMANDS": "true",
        }
        return cls(dir=base, program=program, env=env)

    @property
    def project(self) -> str:
        """The program's project name (its Pulumi.yaml's `name`)."""
        return (yaml.safe_load((self.program / "Pulumi.yaml").read_text()) or {}).get("name", PROJECT)

    def run(self, args: list[str], *, check: bool = True, event_log: bool = False,
            timeout: float = COMMAND_TIMEOUT) -> Result:
        cmd = ["pulumi", *args, "--non-interactive", "--color=never"]
        log = None
        if event_log:
            log = self.dir / f"events-{time.monotonic_ns()}.jsonl"
            cmd += ["--event-log", str(log)]
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=self.program, env=self.env, capture_output=True, text=True, timeout=timeout)
        result = Result(command=" ".join(args), code=proc.returncode, output=proc.stdout + proc.stderr,
                        seconds=time.monotonic() - started)
        if log is not None and log.exists():
            result.steps, result.diagnostics = _read_events(log)
        if check and proc.returncode != 0:
            raise EngineError(f"`pulumi {result.command}` exited {proc.returncode}:\n{_tail(result)}")
        return result

    def stack(self, name: str, *, init: bool = True) -> "Stack":
        st = Stack(self, name)
        if init:
            self.run(["stack", "init", name, "--secrets-provider", "passphrase"])
        return st


def _tail(result: Result, lines: int = 60) -> str:
    text = "\n".join(result.output.strip().splitlines()[-lines:])
    if result.diagnostics:
        text += "\n-- engine diagnostics --\n" + "\n".join(result.diagnostics[-20:])
    if result.changes:
        text += "\n-- steps --\n" + result.describe()
    return text


def _read_events(path: Path) -> tuple[list[Step], list[str]]:
    """Steps from the engine's event log: one per resource, its final operation (the outcome event
    when the step ran, else its pre-event, as in a preview)."""
    steps: dict[tuple[str, str], Step] = {}
    diags: list[str] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        for key in ("resourcePreEvent", "resOutputsEvent"):
            if key in event:
                md = event[key]["metadata"]
                step = Step(op=md["op"], urn=md["urn"], type=md.get("type", ""),
                            diffs=tuple(md.get("diffs") or ()), replaces=tuple(md.get("keys") or ()) if
                            md["op"] in REPLACING_OPS else ())
                steps[(md["urn"], md["op"])] = step
        if "diagnosticEvent" in event:
            d = event["diagnosticEvent"]
            if d.get("severity") in ("error", "warning"):
                diags.append(f"{d.get('severity')}: {d.get('urn', '')}: {d.get('message', '').strip()}")
    return list(steps.values()), diags


@dataclass
class Stack:
    ws: Workspace
    name: str

    @property
    def config_file(self) -> Path:
        return self.ws.program / "stacks" / f"Pulumi.{self.name}.yaml"

    def config(self) -> dict[str, Any]:
        return (yaml.safe_load(self.config_file.read_text()) or {}).get("config") or {}

    def set_config(self, values: dict[str, Any], remove: Iterable[str] = ()) -> None:
        """Set `cache-patterns:<key>` values in the copy's stack file (what `pulumi config set
        --path` does), keeping the file's other keys (encryptionsalt)."""
        data = yaml.safe_load(self.config_file.read_text()) or {}
        cfg = data.setdefault("config", {})
        for key, value in values.items():
            cfg[key if ":" in key else f"{PROJECT}:{key}"] = value
        for key in remove:
            cfg.pop(key if ":" in key else f"{PROJECT}:{key}", None)
        self.config_file.write_text(yaml.safe_dump(data, sort_keys=False))

    def _args(self, *args: str) -> list[str]:
        return [*args, "--stack", self.name]

    def up(self, *, check: bool = True) -> Result:
        return self.ws.run(self._args("up", "--yes", "--skip-preview", "--diff"), check=check, event_log=True)

    def preview(self, *, check: bool = True) -> Result:
        return self.ws.run(self._args("preview", "--diff"), check=check, event_log=True)

    def preview_no_changes(self) -> Result:
        """`pulumi preview --expect-no-changes`: exits non-zero when the engine would change anything."""
        return self.ws.run(self._args("preview", "--expect-no-changes", "--diff"), check=False, event_log=True)

    def refresh(self) -> Result:
        return self.ws.run(self._args("refresh", "--yes", "--skip-preview"), event_log=True)

    def destroy(self, *, check: bool = True) -> Result:
        return self.ws.run(self._args("destroy", "--yes", "--skip-preview"), check=check, event_log=True)

    def remove(self) -> None:
        self.ws.run(["stack", "rm", "--yes", "--force", self.name])

    def state_file(self) -> Path:
        """The local backend's checkpoint of this stack (what `pulumi stack export` prints)."""
        path = self.ws.dir / "state" / ".pulumi" / "stacks" / self.ws.project / f"{self.name}.json"
        if not path.exists():
            raise EngineError(f"no state file at {path}")
        return path

    def resources(self) -> list[dict]:
        state = json.loads(self.state_file().read_text())
        return state.get("checkpoint", {}).get("latest", {}).get("resources") or []

    def preview_loaded_plugins(self) -> tuple[Result, dict[str, str], set[str]]:
        """`pulumi preview --expect-no-changes` with the engine's own log (-v=9 --logtostderr): the
        result, the binary the engine launched for each resource plugin (name -> path), and the
        versions those plugins reported through GetPluginInfo. The checkpoint does not record them."""
        result = self.ws.run(self._args("preview", "--expect-no-changes", "--diff", "-v=9", "--logtostderr"),
                             check=False, event_log=True)
        launched = dict(re.findall(r"Launching plugin '([^' ]+)(?: \(resource\))?' from '([^']*/pulumi-resource-[^']+)'",
                                   result.output))
        versions = set(re.findall(r"GetPluginInfo\(\) success \(#version=([^)]+)\)", result.output))
        return result, launched, versions

    def provider_versions(self) -> dict[str, str]:
        """The provider version each SDK asked for (the `version` input of its provider resources). Not
        the engine's builtin `pulumi` provider (of the program's StackReference to its own stack,
        core/deployed.py): no plugin, no version."""
        return {r["type"].split(":")[-1]: (r.get("inputs") or {}).get("version", "")
                for r in self.resources() if r["type"].startswith("pulumi:providers:")
                and r["type"] != "pulumi:providers:pulumi"}

    def outputs(self) -> dict[str, Any]:
        out = self.ws.run(self._args("stack", "output", "--json", "--show-secrets"))
        return json.loads(out.output[out.output.index("{"):]) if "{" in out.output else {}
