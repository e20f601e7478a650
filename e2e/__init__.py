"""The real thing, built from source: a Kubernetes control plane, the Pulumi engine and providers,
and the engine versions the stacks ship, all from pinned versions (`e2e/pins.toml`)."""
