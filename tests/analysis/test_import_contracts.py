"""The science's imports keep their contracts: import-linter's (pyproject.toml) and no hidden ones.

``lint-imports`` runs on mpflow as it is installed (``analysis/`` is ``mpflow.analysis``, ...): the
link tree ``scripts/lint-imports`` builds, in a temporary folder.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANALYSIS = REPO / "analysis"
#: the only modules the science imports inside a function: heavy, and needed on one path only
HEAVY_OPTIONAL = {"sklearn", "nbclient", "distributed", "prolif", "MDAnalysisTests"}


def _link_tree(root: Path) -> Path:
    loader = SourceFileLoader("lint_imports_script", str(REPO / "scripts" / "lint-imports"))
    script = module_from_spec(spec_from_loader(loader.name, loader))
    loader.exec_module(script)
    return script.link_tree(root)


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    # lint-imports puts its working directory first on sys.path: there, `mpflow` is the link tree
    return subprocess.run([str(lint_imports), str(REPO / "pyproject.toml"), "--no-cache", "--no-logo"],
                          cwd=tree, capture_output=True, text=True, timeout=300)


def test_lint_imports_keeps_every_contract(tmp_path):
    result = _lint_imports(_link_tree(tmp_path))
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_science_module_reaching_prefect_or_a_layer_above_breaks_the_contracts(tmp_path):
    """The contracts have teeth: a structure module importing Prefect and the run is refused."""
    tree = _link_tree(tmp_path)
    (tree / "mpflow" / "analysis" / "structure" / "probe.py").write_text(
        "import prefect\n\nimport mpflow.analysis.run\n")
    result = _lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mpflow.analysis.structure.probe -> prefect" in result.stdout
    assert "mpflow.analysis.structure.probe -> mpflow.analysis.run" in result.stdout


def test_no_function_local_import_but_of_a_heavy_optional_module_with_its_reason():
    found = []
    for path in sorted(ANALYSIS.rglob("*.py")):
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
                for name in names:
                    where = f"{path.relative_to(REPO)}:{inner.lineno}"
                    if name.split(".")[0] not in HEAVY_OPTIONAL or "#" not in lines[inner.lineno - 1]:
                        found.append(f"{where}: import {name}")
    assert found == [], "import these at the top of the module (or say why not, for a heavy one):\n" \
        + "\n".join(found)


def test_every_analysis_package_is_listed_for_installation():
    """setuptools installs only the packages pyproject.toml lists: a new subpackage must be added."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(("mpflow.analysis", *p.parent.relative_to(ANALYSIS).parts))
             for p in ANALYSIS.rglob("__init__.py")}
    assert found <= listed, f"not in pyproject.toml's packages: {sorted(found - listed)}"
