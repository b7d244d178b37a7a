"""The science of mpflow, installed as ``mpflow.analysis``: from frames to interaction statistics.

No Prefect here, nor the manager, the jobs store, Slurm or the transports (``lint-imports``
checks it).  The packages and top-level modules, top to bottom (each imports only those below):

- :mod:`~mpflow.analysis.run`: the analysis as plain functions (settings, plan, chunks, summary),
  shared by the ``analysis`` flow and ``mpflow analyse``;
- :mod:`~mpflow.analysis.summary` (the store's frames to results, report and notebook) and
  :mod:`~mpflow.analysis.frame_pass` (one pass over a chunk of frames: geometry and interactions
  under one key);
- :mod:`mpflow.analysis.outputs`: exported tables, figures, report, notebook;
- :mod:`mpflow.analysis.statistics`: super-base, decomposition, PCA filter, occurrence statistics;
- :mod:`mpflow.analysis.interactions`: the interaction engine, its types and its table;
- :mod:`mpflow.analysis.structure`: chains, bonds, periodic boxes, helix geometry, classification,
  model building and checking;
- :mod:`~mpflow.analysis.frames` (which frames are read: manifests, frame selections, tags,
  chunks) and :mod:`~mpflow.analysis.store` (the per-frame tables, written once).

This ``__init__`` imports nothing: ``import mpflow.analysis.frames`` loads only what it needs.
"""
