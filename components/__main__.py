"""The component package's provider (PulumiPlugin.yaml beside this file): Pulumi runs this folder with
the Python language host when a program in any language uses the package (`pulumi package add`, or
`packages:` in its Pulumi.yaml), and Pulumi's component provider serves `cache_patterns.COMPONENTS`,
their schema inferred from the types of their args (cache_patterns/provider.py, docs/package.md)."""
import sys

from pulumi.provider import main

from cache_patterns.patterns.statefulset import rollout_step
from cache_patterns.provider import Provider

if __name__ == "__main__":
    # The engine runs a Python dynamic provider with the *program's* Python (its project's virtualenv);
    # a program in another language has none holding this package, so statefulset caches made through
    # the package get no rollout driver inside `pulumi up`: it runs by hand (docs/upgrades.md).
    rollout_step.ENABLED = False
    main(Provider(), sys.argv[1:])
