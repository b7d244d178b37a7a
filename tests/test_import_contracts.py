"""The layers are checked by a tool: ``scripts/check-imports`` runs import-linter on the contracts in
pyproject.toml (the core never imports the Prefect layer or Prefect; the core's packages and the
Prefect layer each in layers) and finds no import circle between any two modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold_and_there_is_no_import_circle():
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "check-imports")], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout and "0 import circle(s)" in res.stdout
