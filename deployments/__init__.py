"""How mpflow's flows are deployed: the registry of deployments, the work pool, blocks and schedules.

- ``registry.py``: ``DEPLOYMENTS``, one :class:`~mpflow.deployments.registry.FlowDeployment` entry per
  deployed flow. A new flow is deployed by adding one entry there.
- ``deploy.py``: turns the registry into Prefect deployments for one project on one server, creates
  the process work pool and registers the block types (``mpflow server start`` calls it).
- ``server_api.py``: what ``mpflow server status`` reads back (deployments, last runs, workers).

Why Python (``flow.to_deployment`` + ``apply``) and not a ``prefect.yaml``:

- The deployments use *module-path* entrypoints (``mpflow.flows.manager.manager_flow``): the worker
  imports the flows from the installed mpflow package, so a fresh checkout or a wheel install works
  with no source path, no pull step and no ``set_working_directory`` pointing into one machine's tree.
- Defaults that depend on the project (its folder as every flow's ``project`` parameter, the manager's
  interval from ``mpflow.toml``, the work pool's name) are computed at deploy time, in code that is
  tested, instead of templated from environment variables in YAML.
- One in-process call per deployment instead of a ``prefect deploy`` process (a few seconds of CLI
  start-up each on two cores), and its failures become mpflow's one-line errors.
- The registry is plain data that unit tests check without a server: every flow in ``mpflow.flows``
  has an entry, and every parameter of a deployed flow has a default and a description for the UI.
"""
