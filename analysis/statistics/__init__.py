"""Statistics of the interaction keys: super-base, decomposition, PCA filter, occurrence tests.

This package owns every number derived from the store's occurrences:

- :mod:`~mpflow.analysis.statistics.superbase`: the super-base of keys, the frames × keys
  decomposition and its per-model units;
- :mod:`~mpflow.analysis.statistics.pca_filter`: keys that carry no information dropped, and why;
- :mod:`~mpflow.analysis.statistics.occurrence`: occurrence probabilities with model-level
  intervals, comparisons, multiple-testing correction, robustness and signatures;
- :mod:`~mpflow.analysis.statistics.compute`: the steps above in order, on one decomposition;
- :mod:`~mpflow.analysis.statistics.synthetic`: decompositions with known probabilities (tests and
  benchmarks).

The modules are imported by their own paths; this ``__init__`` imports none of them.
"""
