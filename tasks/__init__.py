"""Prefect tasks: thin wrappers doing I/O in batches (per cluster, per chunk of frames)."""
