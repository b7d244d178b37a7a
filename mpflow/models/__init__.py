"""The models of a project: importing docked models with checks (``importing``), classifying them
into conformation groups (``groups``), their folder tree on every cluster (``tree``), completing
models that miss residues (``completion``), what a command did (``report``), and the project's
models and finished stages as the analysis' sources (``sources``)."""
