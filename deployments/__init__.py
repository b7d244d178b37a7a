"""How the flows are deployed: prefect.yaml, work pool and the manager schedule."""
