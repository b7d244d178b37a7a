"""The layers are checked by a tool, not by hope: ``scripts/check-imports`` runs import-linter on the
contracts in pyproject.toml (the core never imports the Prefect layer or Prefect; the core's packages,
the Prefect layer and the science each in layers) on mpflow as it is installed, and finds no import
circle between any two modules. And no import hides inside a function but a heavy optional one."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE = ("mpflow", "flows", "tasks", "blocks", "deployments", "analysis")
#: what may be imported inside a function (with a comment saying why, on the line or the one above):
#: heavy, and needed on one path only
HEAVY_OPTIONAL = {"sklearn", "nbclient", "distributed", "prolif", "MDAnalysisTests", "openmm", "prefect",
                  "prefect_dask", "dask_jobqueue", "mpflow.blocks", "mpflow.flows.analysis",
                  "mpflow.slurm.dask_workers", "mpflow.deployments.manager_service",
                  "mpflow.analysis.run"}


def _script():
    loader = SourceFileLoader("check_imports", str(REPO / "scripts" / "check-imports"))
    module = module_from_spec(spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def _check(tree: Path) -> subprocess.CompletedProcess:
    code = (f"import sys; from importlib.machinery import SourceFileLoader; "
            f"m = SourceFileLoader('c', {str(REPO / 'scripts' / 'check-imports')!r}).load_module(); "
            f"sys.exit(m.check(__import__('pathlib').Path({str(tree)!r})))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold_and_there_is_no_import_circle():
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "check-imports")], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout and "0 import circle(s)" in res.stdout


def test_the_contracts_have_teeth(tmp_path):
    """A science module importing Prefect and the run, and a core module importing a flow, are refused;
    a circle between two core modules is found."""
    tree = _script().link_tree(tmp_path)
    (tree / "mpflow" / "analysis" / "structure" / "probe.py").write_text("import prefect\n\nimport mpflow.analysis.run\n")
    (tree / "mpflow" / "stages" / "probe.py").write_text("import mpflow.flows.manager\nimport mpflow.tags\n")
    (tree / "mpflow" / "tags_twin.py").write_text("import mpflow.states\n")
    (tree / "mpflow" / "states_twin.py").write_text("import mpflow.tags_twin\n")
    (tree / "mpflow" / "tags_twin.py").write_text("import mpflow.states_twin\n")
    res = _check(tree)
    assert res.returncode == 1, res.stdout + res.stderr
    for expected in ("mpflow.analysis.structure.probe -> prefect", "mpflow.analysis.structure.probe -> mpflow.analysis.run",
                     "mpflow.stages.probe -> mpflow.flows.manager",
                     "import circle: mpflow.states_twin <-> mpflow.tags_twin"):
        assert expected in res.stdout, res.stdout


def test_no_import_hides_in_a_function_but_a_heavy_optional_one_that_says_why():
    found = []
    for folder in CODE:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            lines = path.read_text().splitlines()
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import):
                        names = [a.name for a in inner.names]
                    elif isinstance(inner, ast.ImportFrom):
                        names = [inner.module or ""]
                    else:
                        continue
                    said = "#" in lines[inner.lineno - 1] or lines[inner.lineno - 2].strip().startswith("#")
                    for name in names:
                        heavy = name.split(".")[0] in HEAVY_OPTIONAL or any(
                            name == h or name.startswith(h + ".") for h in HEAVY_OPTIONAL)
                        if not (heavy and said):
                            found.append(f"{path.relative_to(REPO)}:{inner.lineno}: import {name}")
    assert found == [], "import these at the top of the module (or say why not, for a heavy one):\n" + "\n".join(found)
