"""The science: geometry, classification, interactions, super-base, PCA filter, statistics. No Prefect here."""
