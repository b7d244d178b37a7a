"""Reaching a cluster: its settings, the transports that run commands and move files there, one
reused connection per cluster, the dev clusters' connection file, and ``mpflow cluster check``.

- ``settings``: ``ClusterSettings``, everything mpflow needs to know to reach one cluster;
- ``transport``: the only code that runs commands on, or touches files of, a cluster (local, SSH);
- ``connections``: one open transport per cluster, shared by a tick's phases;
- ``devcluster``: where the dev clusters' connection file is and how to read it (tests, demo);
- ``check``: ``mpflow cluster check``, one line per check and per problem.

This ``__init__`` imports nothing: ``scripts/devcluster`` imports ``mpflow.clusters.devcluster`` with
only the standard library, before any virtual environment exists.
"""
