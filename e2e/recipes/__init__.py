"""One module per group of tools; each registers its recipes with `e2e.toolchain.recipe`."""
