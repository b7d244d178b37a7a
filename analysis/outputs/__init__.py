"""What an analysis leaves for its readers: exported tables, figures, the report, the notebook.

This package owns the files under an analysis' output folder, all drawn from the exported tables
(never from objects in memory, so every reader sees the same numbers):

- :mod:`~mpflow.analysis.outputs.export`: ``tables/*.parquet``, ``csv/*.csv``, ``summary.json``;
- :mod:`~mpflow.analysis.outputs.figures`: every plot (matplotlib, no display);
- :mod:`~mpflow.analysis.outputs.report`: ``report.html``, one self-contained file;
- :mod:`~mpflow.analysis.outputs.notebook`: ``analysis.ipynb``, which reloads the tables and
  redraws the figures.

The modules are imported by their own paths; this ``__init__`` imports none of them.
"""
