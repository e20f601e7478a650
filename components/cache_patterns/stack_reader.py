"""Reading a stack's config: from the Pulumi engine (the public `pulumi.Config` API) or from a stack
file (for offline renders, with file, line and column for every problem).

The engine passes each `cache-patterns:*` key as a string (objects as JSON text) and says which keys
were set as secrets. A secret is honoured where its value lands (`passwords` in Kubernetes Secrets,
`kubeContext` in the provider, `operators` Helm values as secret inputs) and refused where it would
become a name or setting Kubernetes and AWS keep in plain text. A password in plain text is refused
with the `pulumi config set --secret` command to use instead.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import yaml

from cache_patterns.config.base import unknown_key
from cache_patterns.config.errors import ConfigError
from cache_patterns.config.types import show
from cache_patterns.stack import NAMESPACE, STRUCTURED_KEYS, TOP_KEYS, StackConfig, parse

# Where each top-level key's values land decides whether a secret can stay one there.
SECRET_HONOURED = frozenset({"passwords", "kubeContext", "operators"})
PROVIDER_NAMESPACES = {"kubernetes:context": "kubeContext", "aws:region": "aws.region"}


def decode_all(raw: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()) -> tuple[dict, list]:
    """The engine's flat config (`cache-patterns:caches` -> JSON text) as parse() input, and every
    problem found on the way: unknown keys, provider keys this program ignores, secrets it cannot
    keep secret, plain-text passwords. Keys of other namespaces are left alone."""
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for full_key, text in sorted(raw.items()):
        ns, _, key = full_key.partition(":")
        if ns in ("kubernetes", "aws"):
            hint = PROVIDER_NAMESPACES.get(full_key, "the cache-patterns keys")
            problems.append((full_key, f"is ignored because this program's providers are explicit; set {hint} instead"))
            continue
        if ns != NAMESPACE:
            continue
        secret = full_key in secret_keys
        if key not in TOP_KEYS:
            problems.append((f"{NAMESPACE}:{key}", unknown_key(key, list(TOP_KEYS))))
            continue
        if secret and key not in SECRET_HONOURED:
            problems.append((key, "is set as a secret (`pulumi config set --secret`), but its values become names and "
                                  "settings that Kubernetes and AWS keep in plain text; set it without --secret "
                                  "(passwords belong under `passwords`)"))
        if key in STRUCTURED_KEYS:
            try:
                values[key] = json.loads(text) if isinstance(text, str) else text
            except json.JSONDecodeError:
                problems.append((key, f"must be an object or list, got {show(text, secret)}"))
        elif key == "manageNamespaces" and text in ("true", "false"):
            values[key] = text == "true"
        else:
            values[key] = text
    passwords = values.get("passwords")
    if isinstance(passwords, dict) and f"{NAMESPACE}:passwords" not in secret_keys:
        for cache in passwords:
            problems.append((f"passwords.{cache}", "is plain text in the stack config; set it as a secret: "
                                                   f"`pulumi config set --secret --path 'passwords.{cache}' <password>`"))
    return values, problems


def decode(raw: Mapping[str, Any], stack: str, secret_keys: frozenset[str] | None = None) -> dict[str, Any]:
    """decode_all(), raising the problems it finds. Without `secret_keys` every `passwords` value is
    taken to be a secret (what a caller that only has values knows)."""
    keys = frozenset(secret_keys) if secret_keys is not None else frozenset({f"{NAMESPACE}:passwords"})
    values, problems = decode_all(raw, keys)
    if problems:
        raise ConfigError(problems)
    return values


def load() -> StackConfig:
    """Read and validate this program's config from the Pulumi engine, before any resource exists.

    Values come from `pulumi.Config`; which keys exist (to refuse a misspelt one) from the bag the
    language host passes the program (`pulumi.runtime.get_config_env`, PULUMI_CONFIG)."""
    import pulumi

    config = pulumi.Config(NAMESPACE)
    present = set(pulumi.runtime.get_config_env())
    raw: dict[str, Any] = {k: pulumi.runtime.get_config(k) for k in present}
    for key in TOP_KEYS:
        value = config.get(key)
        if value is not None:
            raw[config.full_key(key)] = value
    secret = frozenset(k for k in raw if pulumi.runtime.is_config_secret(k))
    values, problems = decode_all(raw, secret)
    return parse(values, pulumi.get_stack(), secret_keys=secret, problems=problems)


class StackFileError(ConfigError):
    """A stack file that is not YAML: file, line and column, no traceback."""


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `config:` of a stack file. A YAML error becomes a StackFileError naming file:line:column."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise StackFileError([(where, f"not valid YAML: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise StackFileError([(str(path), f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict) or not isinstance(data.get("config") or {}, dict):
        raise StackFileError([(str(path), "must be a YAML mapping with a `config:` mapping")])
    return data.get("config") or {}


def locate(path: Path, key: str) -> str | None:
    """`file:line` of a config key (`caches.web.replicas`, `apps[api].image`) in a stack file, as far
    down as the file has it; None when the file does not parse."""
    try:
        node = yaml.compose(path.read_text())
    except yaml.YAMLError:
        return None
    parts = _parts(key)
    node = _child(node, "config")
    if node is None:
        return None
    top = parts.pop(0)
    found = _child(node, top if ":" in top else f"{NAMESPACE}:{top}")
    best = found
    for part in parts:
        if found is None:
            break
        found = _child(found, part)
        best = found or best
    return f"{path}:{best.start_mark.line + 1}" if best is not None else None


def located(path: Path, problems: list[tuple[str, str]]) -> list[str]:
    """Every problem as `file:line: key: message`, in the order of the file's lines (problems of the
    file as a whole, such as a required key it lacks, first, as `file: key: message`)."""
    def where(key: str) -> tuple[int, str]:
        if key.startswith(str(path)):        # already located (a YAML error)
            return 0, ""
        at = locate(path, key)
        return (int(at.rsplit(":", 1)[1]), at) if at and at != str(path) else (0, str(path))

    lines = []
    for (line, at), (key, message) in sorted(zip(map(where, (k for k, _ in problems)), problems),
                                             key=lambda pair: pair[0][0]):
        lines.append(f"{at}: {key}: {message}" if at else f"{key}: {message}")
    return lines


def _parts(key: str) -> list[Any]:
    out: list[Any] = []
    for piece in key.replace("[", ".[").split("."):
        if piece.startswith("[") and piece.endswith("]"):
            inner = piece[1:-1]
            out.append(int(inner) if inner.isdigit() else ("name", inner))
        elif piece:
            out.append(piece)
    return out


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        return next((v for k, v in node.value if getattr(k, "value", None) == part), None)
    if isinstance(node, yaml.SequenceNode):
        if isinstance(part, int):
            return node.value[part] if part < len(node.value) else None
        if isinstance(part, tuple):
            return next((item for item in node.value if _child(item, "name") is not None
                         and _child(item, "name").value == part[1]), None)
    return None
