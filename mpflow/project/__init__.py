"""A project: the folder with ``mpflow.toml`` (``file``: reading, validating and writing it, and the
``Project`` a command acts on) and its mutants (``mutants``: the mutant model and the shipped
examples)."""
