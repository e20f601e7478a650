"""Run the real Pulumi program for a stack under the SDK's mocks and capture what it registers.

This is how the program is checked without a Pulumi CLI, a cluster or a cloud account: every
resource the program declares reaches `RecordingMonitor` with its inputs (secrets still marked),
its options (protect, deleteBeforeReplace, aliases, provider) and its URN. The mocks answer like the
providers would: auto-named Kubernetes objects, random passwords, ElastiCache endpoints.
"""
from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import os
import re
import runpy
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pulumi
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from cache_patterns.stack_reader import read_stack_file

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "cache-patterns"
STACKS_DIR = ROOT / "stacks"
# What `secure:` config values and generated passwords read as in a render. Tests swap in a canary.
PLACEHOLDER_PASSWORD = "RENDERED0PLACEHOLDER0NOT0A0REAL0PASSWORD0000000"


@dataclass
class Registered:
    """One resource as the engine would see it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    inputs: dict
    outputs: dict
    secret_inputs: frozenset[str]
    protect: bool
    delete_before_replace: bool
    retain_on_delete: bool
    replace_on_changes: tuple[str, ...]
    ignore_changes: tuple[str, ...]
    aliases: tuple[str, ...]
    dependencies: tuple[str, ...]

    @property
    def is_k8s_object(self) -> bool:
        # Not Helm releases (many objects, none rendered) nor Patch resources (a change to an object
        # someone else made: a claim patch has no access modes, no object of its own to apply).
        return (self.custom and self.type.startswith("kubernetes:") and not self.type.startswith("kubernetes:helm")
                and not self.type.endswith("Patch"))

    @property
    def manifest(self) -> dict:
        """The Kubernetes object as it would be applied (inputs, with the provider-assigned name)."""
        obj = {k: v for k, v in self.inputs.items() if not k.startswith("__")}
        meta = dict(obj.get("metadata") or {})
        meta["name"] = (self.outputs.get("metadata") or {}).get("name")
        obj["metadata"] = meta
        return ints(obj)


def ints(value: Any) -> Any:
    """Numbers reach the mocks as floats (the wire format has one number type); a manifest holds ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ints(v) for v in value]
    return value


def _auto_name(name: str) -> str:
    # The real provider appends 8 random characters; a render must be deterministic, so derive them.
    return f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


MockHook = Callable[[pmocks.MockResourceArgs, dict], dict]
# Per resource type: a function that adds the provider-computed outputs (ElastiCache endpoints ...).
OUTPUT_HOOKS: dict[str, MockHook] = {}
CALL_HOOKS: dict[str, Callable[[pmocks.MockCallArgs], dict]] = {}


def output_hook(*types: str) -> Callable[[MockHook], MockHook]:
    def register(fn: MockHook) -> MockHook:
        for t in types:
            OUTPUT_HOOKS[t] = fn
        return fn
    return register


def _load_hooks() -> None:
    from tools import mock_outputs  # noqa: F401  (registers OUTPUT_HOOKS / CALL_HOOKS)


class ProgramMocks(pmocks.Mocks):
    """Provider answers for the resources this program uses."""

    def __init__(self, password: str = PLACEHOLDER_PASSWORD, stack_outputs: dict[str, dict] | None = None):
        _load_hooks()
        self.password = password
        # StackReference outputs by stack name, for network-from-stack configs.
        self.stack_outputs = stack_outputs or {}

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict]:
        inputs = _unwrap(args.inputs)
        outputs = dict(inputs)
        if args.typ.startswith("kubernetes:") and isinstance(inputs.get("metadata"), dict) is not None:
            meta = dict(inputs.get("metadata") or {})
            meta.setdefault("name", _auto_name(args.name))
            outputs["metadata"] = meta
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = self.password
            outputs["bcryptHash"] = "$2a$10$" + "x" * 53
        if args.typ == "pulumi:pulumi:StackReference":
            name = inputs.get("name", args.name)
            outputs = {"name": name, "outputs": self.stack_outputs.get(name, {}), "secretOutputNames": []}
        hook = OUTPUT_HOOKS.get(args.typ)
        if hook is not None:
            outputs = hook(args, outputs)
        # A hook may give the provider's id (`sg-...`) as `__id`; otherwise a readable one.
        return outputs.pop("__id", f"{args.name}-id"), outputs

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict, list | None]:
        hook = CALL_HOOKS.get(args.token)
        return (hook(args) if hook else {}), None


def _unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


class RecordingMonitor(pmocks.MockMonitor):
    """The SDK's mock monitor, keeping what a test needs to see: options, URNs, secretness."""

    def __init__(self, mocks: pmocks.Mocks):
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):  # noqa: N802 (gRPC name)
        try:
            return self._register(request)
        finally:
            # The SDK gives each executor thread its own event loop and never closes it; closed
            # here, or the garbage collector closes it at exit and prints a spurious traceback.
            if threading.current_thread() is not threading.main_thread():
                try:
                    loop = asyncio.get_event_loop_policy().get_event_loop()
                except RuntimeError:
                    loop = None
                if loop is not None and not loop.is_running():
                    loop.close()
                    asyncio.set_event_loop(None)

    def _register(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw = rpc.deserialize_properties(request.object)
        secret = frozenset(k for k, v in raw.items() if rpc.is_rpc_secret(v))
        state = self.resources[response.urn].state
        self.registered.append(Registered(
            urn=response.urn, type=request.type, name=request.name, custom=request.custom,
            parent=request.parent, provider=request.provider, inputs=_unwrap(raw), outputs=_unwrap(state),
            secret_inputs=secret, protect=request.protect, delete_before_replace=request.deleteBeforeReplace,
            retain_on_delete=request.retainOnDelete, replace_on_changes=tuple(request.replaceOnChanges),
            ignore_changes=tuple(request.ignoreChanges),
            aliases=tuple(request.aliasURNs) + tuple(_alias(a) for a in request.aliases),
            dependencies=tuple(request.dependencies),
        ))
        return response


@dataclass
class Output:
    value: Any
    secret: bool


@dataclass
class Run:
    """Everything one evaluation of the program produced."""

    stack: str
    resources: list[Registered]
    outputs: dict[str, Output]
    notes: list[str] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    @property
    def k8s_objects(self) -> list[Registered]:
        return [r for r in self.resources if r.is_k8s_object]

    def manifests(self) -> list[dict]:
        return [r.manifest for r in self.k8s_objects]


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def list_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in STACKS_DIR.glob("Pulumi.*.yaml"))


def engine_config(stack_config: dict[str, Any], secret_value: Callable[[str], str]) -> tuple[dict[str, str], list[str]]:
    """What the Pulumi CLI passes to a program for a stack file's `config:`: every value as a string
    (objects and lists as JSON), `secure:` values decrypted (here: `secret_value(key)`)."""
    flat: dict[str, str] = {}
    secret_keys: list[str] = []

    def decrypt(value: Any, key: str) -> tuple[Any, bool]:
        if isinstance(value, dict) and set(value) == {"secure"}:
            return secret_value(key), True
        if isinstance(value, dict):
            pairs = {k: decrypt(v, f"{key}.{k}") for k, v in value.items()}
            return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
        if isinstance(value, list):
            pairs = [decrypt(v, f"{key}[{i}]") for i, v in enumerate(value)]
            return [v for v, _ in pairs], any(s for _, s in pairs)
        return value, False

    for key, value in (stack_config or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        plain, is_secret = decrypt(value, full)
        if isinstance(plain, (dict, list)):
            flat[full] = json.dumps(plain)
        elif isinstance(plain, bool):
            flat[full] = "true" if plain else "false"
        else:
            flat[full] = str(plain)
        if is_secret:
            secret_keys.append(full)
    return flat, secret_keys


def secure_placeholder(key: str) -> str:
    """What a `secure:` config value reads as in a render: labelled with its key, and URL-safe so it
    passes the same checks a real password must (`cache-patterns:passwords.legacy` ->
    `placeholder-for-passwords.legacy`)."""
    return "placeholder-for-" + re.sub(r"[^A-Za-z0-9._~-]", ".", key.split(":", 1)[-1])


def load_stack_config(stack: str) -> dict[str, Any]:
    """The `config:` of a stack file; a YAML error is a ConfigError naming file:line:column."""
    return read_stack_file(stack_file(stack))


def run(stack: str, config: dict[str, Any] | None = None, *, password: str | None = None,
        stack_outputs: dict[str, dict] | None = None, program: Path | None = None, project: str = PROJECT,
        registered: list[Registered] | None = None) -> Run:
    """Evaluate __main__.py for `stack` (config from its stack file unless given) under mocks.
    `password`: what generated passwords and `secure:` values read as (None: the placeholders).
    `program` and `project`: another Pulumi program (a folder with __main__.py), such as an example.
    `registered`: a list that receives every registered resource, also when the program fails."""
    if password is None:
        # Read here, not bound as a default when this module loads.
        password = PLACEHOLDER_PASSWORD
    if config is None:
        config = load_stack_config(stack)
    flat, secret_keys = engine_config(config, lambda key: secure_placeholder(key) if password == PLACEHOLDER_PASSWORD
                                      else password)
    mocks = ProgramMocks(password=password, stack_outputs=stack_outputs)
    monitor = RecordingMonitor(mocks)
    if registered is not None:
        monitor.registered = registered
    settings.reset_options(project=project, stack=stack, preview=False)
    # As the language host does: the config bag and its secret keys in the environment, then set.
    saved_env = {k: os.environ.get(k) for k in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")}
    os.environ["PULUMI_CONFIG"] = json.dumps(flat)
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(secret_keys)
    pulumi.runtime.set_all_config(flat, secret_keys)
    pmocks.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    # The SDK makes tens of thousands of small objects per evaluation; with the cyclic collector on,
    # its full collections rescan them all and evaluation time grows with the square of the number of
    # apps (measured: 12.7 ms/app at 10 apps, 25 ms/app at 100). Off for the run: linear again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        main = (program or ROOT) / "__main__.py"
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(main), run_name="__main__")))
        root = settings.get_root_resource()
        outputs = {name: _resolve(value) for name, value in (getattr(root, "outputs", None) or {}).items()}
    finally:
        if gc_was_enabled:
            gc.enable()
        settings.reset_options(project=PROJECT, stack=stack, preview=False)
        pulumi.runtime.set_all_config({}, [])
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return Run(stack=stack, resources=monitor.registered, outputs=outputs)


def _alias(alias: Any) -> str:
    """An alias as the engine would read it: a URN, or its spec (name, and the parent it names)."""
    if alias.urn:
        return alias.urn
    spec = alias.spec
    return f"parent={spec.parentUrn}" + (f" name={spec.name}" if spec.name else "") if spec.parentUrn else spec.name


def _resolve(value: Any) -> Output:
    out = pulumi.Output.from_input(value)
    return Output(value=_sync_await(out.future()), secret=bool(_sync_await(out.is_secret())))
