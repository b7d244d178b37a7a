"""Prefect Block types a user configures in the UI (clusters)."""

from mpflow.blocks.cluster import SlurmCluster

__all__ = ["SlurmCluster"]
