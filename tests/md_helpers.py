"""Small builders shared by the MD-stage tests (GpA dimer models)."""

from __future__ import annotations

from pathlib import Path

from mpflow.analysis.structure.helix_builder import build_oligomer, write_pdb

GPA_SEQUENCE = "EPEITLIIFGVMAGVIGTILLISYGIRRL"
GPA_FIRST_RESID = 70
#: helix rotation without interchain clashes for 1.0 nm / -40 deg (closest heavy atoms 0.39 nm)
GPA_PHASE_DEG = 150.0


def gpa_dimer_pdb(path: Path, *, sequence: str = GPA_SEQUENCE, phase_deg: float = GPA_PHASE_DEG
                  ) -> Path:
    """An ideal GpA TM dimer (helices 1.0 nm apart, crossing -40 deg), residues from 70."""
    model = build_oligomer(sequence, 2, 5.0, tilt_deg=-20.0, phase_deg=phase_deg,
                           first_resid=GPA_FIRST_RESID)
    return write_pdb(model, path)
