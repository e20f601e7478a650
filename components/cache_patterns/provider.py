"""This package as a Pulumi component provider (components/__main__.py serves it; docs/package.md):
Pulumi's ComponentProvider (pulumi.provider.experimental) over `COMPONENTS`, its schema inferred from
the components' args, with what it lacks for them in pulumi 3.272, each found by the engine tier's
YAML program and tested in tests/test_provider.py:

- an integer inside a complex input (`settings.replicas`) arrives as a float: the SDK's
  `map_input_properties` converts it, then stores the unconverted value, and the config models take
  no 1.0 for 1;
- a complex input that comes from another resource's outputs (a cache's `bindings` value passed to
  AppDeployment's `binding`) is an Output, which the SDK's mapping reads as an empty object (every
  field "missing"): here it is mapped once its value is known;
- a map of complex outputs (a cache's `bindings`) is returned with its Python field names, not the
  schema's camelCase ones that a consumer's program (and AppDeployment's `binding`) expects;
- a key the schema lacks (a misspelling such as `memroy`) is dropped by the SDK, silently: it is
  passed on, so the component names it ("did you mean memory?");
- a mistake in args or settings (ArgsError, a ConfigError) would reach the engine as an unexpected
  exception with a traceback: it is an InputPropertiesError instead, every problem with its property
  path, as the Python program's ConfigError is a clean RunError.
"""
import dataclasses
from typing import Any, Optional

import pulumi
from pulumi.errors import InputPropertiesError
from pulumi.provider.experimental.analyzer import PropertyDefinition, PropertyType
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ComponentInitError

from cache_patterns import COMPONENTS, __version__
from cache_patterns.config.errors import ConfigError

NAME = "cache-patterns"


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


class Provider(ComponentProvider):
    """The package's component provider (see the module's text for what it adds to the SDK's)."""

    def __init__(self) -> None:
        super().__init__(list(COMPONENTS), NAME, None, __version__)

    def construct(self, name: str, resource_type: str, inputs: Any, options: Optional[pulumi.ResourceOptions] = None):
        try:
            return super().construct(name, resource_type, inputs, options)
        except ComponentInitError as exc:
            inner = getattr(exc, "inner", None)
            if isinstance(inner, ConfigError):
                raise InputPropertiesError(str(inner), [{"property_path": key, "reason": reason}
                                                        for key, reason in inner.problems]) from None
            raise

    def map_input_properties(self, inputs: Any, properties: dict[str, PropertyDefinition], mapping: dict[str, str],
                             component_name: str, property_path: str) -> Any:
        later: dict[str, tuple[pulumi.Output, PropertyDefinition]] = {}
        if isinstance(inputs, dict):
            for schema_name, prop in properties.items():
                value = inputs.get(schema_name)
                if isinstance(value, pulumi.Output) and prop.ref and self._complex(prop):
                    later[schema_name] = (value, prop)
        if later:   # the SDK maps those as empty objects: leave them out, map each once known
            properties = {k: dataclasses.replace(p, optional=True) if k in later else p for k, p in properties.items()}
            inputs = {k: v for k, v in inputs.items() if k not in later}
        mapped = super().map_input_properties(inputs, properties, mapping, component_name, property_path)
        if isinstance(inputs, dict):   # the SDK drops a key the schema lacks: pass it on, to be named
            mapped.update({k: v for k, v in inputs.items() if k not in properties and k not in later})
        for schema_name, prop in properties.items():
            py_name = mapping[schema_name]
            if prop.type == PropertyType.INTEGER and py_name in mapped:
                mapped[py_name] = _int(mapped[py_name])
        for schema_name, (value, prop) in later.items():
            type_def = self.get_type_definition(prop)
            path = f"{property_path}.{schema_name}" if property_path else schema_name
            mapped[mapping[schema_name]] = value.apply(lambda v, t=type_def, p=path: self.map_input_properties(
                v if isinstance(v, dict) else {}, t.properties, t.properties_mapping, component_name, p))
        return mapped

    def _complex(self, prop: PropertyDefinition) -> bool:
        type_def = self.get_type_definition(prop)
        return type_def is not None and not type_def.enum

    def get_state(self, instance: pulumi.ComponentResource, component_def: Any) -> dict[str, Any]:
        state = super().get_state(instance, component_def)
        for schema_name, prop in component_def.outputs.items():
            inner = prop.additional_properties
            if schema_name in state and not prop.ref and inner is not None and inner.ref:
                type_def = self.get_type_definition(inner)
                if type_def is not None and not type_def.enum:
                    state[schema_name] = {k: self.map_complex_output(v, type_def) for k, v in state[schema_name].items()}
        return state
