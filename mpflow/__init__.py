"""mpflow: membrane-protein mutants through dual-cluster MD to interchain-interaction statistics.

The ``mpflow`` package is the pure core (tags, folder tree, job states, Slurm command building and
parsing, transports, config, CLI). The design card's top-level folders are installed beneath it:
``mpflow.blocks`` (blocks/), ``mpflow.tasks`` (tasks/), ``mpflow.flows`` (flows/),
``mpflow.deployments`` (deployments/) and ``mpflow.analysis`` (analysis/).
"""

__version__ = "0.1.0"
