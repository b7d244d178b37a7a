"""The modelling stages: what a stage is as data (``spec``), how each kind gets its inputs ready and
its outputs back (``kinds``; GROMACS stages in ``gromacs``), the ``.mdp`` templates and ``grompp``
(``mdp``), running GROMACS (``gmx``), GRO files (``gro``), and preparation: protocols of steps with
declared files (``protocols``), the ``prep`` protocol's steps (``prep``) and the POPC bilayer
(``membrane``)."""
