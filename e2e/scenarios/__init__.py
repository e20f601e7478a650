"""The engine tier: `pulumi up` of each stack against the local control plane (./run e2e)."""
