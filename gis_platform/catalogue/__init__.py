"""The layer catalogue: manifests, synthetic data generators, sync and search."""
