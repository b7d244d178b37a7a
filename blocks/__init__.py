"""Prefect Block types a user configures in the UI (clusters)."""
