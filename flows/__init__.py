"""Prefect flows: one per modelling stage, the manager, the analysis and the whole pipeline."""
