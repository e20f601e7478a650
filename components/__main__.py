"""The component package's provider (PulumiPlugin.yaml beside this file): Pulumi runs this folder with
the Python language host when a program in any language uses the package (`pulumi package add`, or
`packages:` in its Pulumi.yaml), and Pulumi's component provider serves the components below, their
schema inferred from the types of their args (docs/package.md)."""
from pulumi.provider.experimental import component_provider_host

from cache_patterns import COMPONENTS, __version__

if __name__ == "__main__":
    component_provider_host(list(COMPONENTS), name="cache-patterns", version=__version__)
