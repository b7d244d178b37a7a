"""Structures and their geometry: chains, bonds, periodic boxes, helix packing, models.

This package owns what is measured on, or made of, the atoms of an assembly, whatever the
interactions:

- :mod:`~mpflow.analysis.structure.elements`: element symbols and van der Waals radii;
- :mod:`~mpflow.analysis.structure.periodic`: box vectors, molecules made whole from their bonds;
- :mod:`~mpflow.analysis.structure.bonds`: the topology's bonds, or bonds guessed with the box;
- :mod:`~mpflow.analysis.structure.ring_order`: which chain an atom is in, the ring order of the
  chains and the ring offset of a chain pair (the direction normalisation of interactions);
- :mod:`~mpflow.analysis.structure.whole_chains`: chains made whole and assembled in one periodic
  image as an MD frame is read;
- :mod:`~mpflow.analysis.structure.geometry`: helix axes, tilt, crossing angle, distance, pore;
- :mod:`~mpflow.analysis.structure.classify`: docked models grouped into conformations;
- :mod:`~mpflow.analysis.structure.helix_builder`: ideal helix oligomers (demo, tests, models);
- :mod:`~mpflow.analysis.structure.checks`: a model file checked against its mutant, completed.

The modules are imported by their own paths (``mpflow.analysis.structure.geometry``); this
``__init__`` imports none of them, so the core's use of one (e.g. the ring order) loads no other.
"""
