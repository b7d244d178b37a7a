"""The master's folder stops being writable mid-run (issue 24, item 15): the model it holds is held with
the reason in one line, and nothing else stops — the other models go on, the run ends normally.

The fault is real: the model's folder on the master (a local folder, as the dev clusters declare it)
is made immutable with ``chattr +i``, which even root cannot write into (the tests run as root, so
file permissions alone would not stop them).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from local_clusters import use_local_clusters
from projects import make_project
from sqlalchemy import select
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.states import StageState
from mpflow.store.database import open_database
from mpflow.store.records import add_model, ensure_model_stages
from mpflow.store.schema import ModelStage
from mpflow.tags import MODEL_FILE, NO_GROUP, ModelTag

STAGES = """
[stages.prep]
kind = "protocol"
clusters = "master"
protocol = "quick"
run = "local"

[stages.emmd]
kind = "gromacs"
after = "prep"
mdp = "emmd"
nsteps = 10
"""

QUICK = """
name = "quick"
[[steps]]
name = "setup"
shell = "setup.sh.j2"
inputs = ["protein.pdb"]
outputs = ["prep.gro", "topol.top", "index.ndx"]
"""

SETUP = """printf 'one atom\\n    1\\n    1SOL     OW    1   0.100   0.100   0.100\\n   1.00000   1.00000   1.00000\\n' > prep.gro
printf '[ system ]\\nx\\n[ molecules ]\\n' > topol.top
printf '[ System ]\\n1\\n' > index.ndx
"""


@pytest.fixture
def immutable():
    """``lock(path)`` makes a folder immutable (undone after the test); skips where chattr cannot."""
    locked: list[Path] = []
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is not installed")

    def lock(path: Path) -> None:
        res = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"this file system cannot make a folder immutable: {res.stderr.strip()}")
        locked.append(path)

    yield lock
    for path in locked:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture
def project(tmp_path, monkeypatch):
    use_local_clusters(tmp_path, monkeypatch)
    project = make_project(tmp_path / "p", stages=STAGES)
    (project.root / "templates").mkdir()
    (project.root / "templates" / "quick.toml").write_text(QUICK)
    (project.root / "templates" / "setup.sh.j2").write_text(SETUP)
    Session = open_database(project.database_url)
    master = project.cluster_settings()[0]
    with Session.begin() as s:
        for name in ("m1", "m2"):
            add_model(s, mutant="WT", group=NO_GROUP, name=name)
            folder = Path(ModelTag("WT", NO_GROUP, name).model_dir(master.workdir))
            folder.mkdir(parents=True)
            (folder / MODEL_FILE).write_text("ATOM\n")
        ensure_model_stages(s, project.config.stage_order())
    return project, Session, master


def _stages(Session) -> dict[tuple[str, str], tuple[str, str | None]]:
    from mpflow.store.schema import Model

    with Session() as s:
        return {(name, st): (state, reason) for name, st, state, reason in s.execute(
            select(Model.name, ModelStage.stage, ModelStage.state, ModelStage.reason)
            .join(Model, Model.id == ModelStage.model_id))}


def test_a_folder_unwritable_during_preparation_holds_that_model_and_the_run_goes_on(project, immutable):
    project, Session, master = project
    m1 = Path(ModelTag("WT", NO_GROUP, "m1").model_dir(master.workdir))
    immutable(m1)
    result = CliRunner().invoke(app, ["run", "--until", "prep", "--interval", "0.2", "--timeout", "120",
                                      "--project", str(project.root)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1, result.output  # something is held: the run says so with its exit code
    stages = _stages(Session)
    assert stages[("m1", "prep")] == (StageState.HELD, f"prep on the master alpha: {m1 / 'prep'}: "
                                                        "Operation not permitted")
    assert stages[("m2", "prep")] == (StageState.DONE, None)
    held = [ln for ln in result.output.splitlines() if ln.startswith("  held WT/None/m1 ")]
    assert held == [f"  held WT/None/m1 prep: prep on the master alpha: {m1 / 'prep'}: Operation not permitted "
                    "(`mpflow release` once it is fixed)"]
    assert "Traceback" not in result.output


def test_a_stage_folder_unwritable_when_grompp_would_run_holds_that_model_only(project, immutable):
    project, Session, master = project
    emmd = Path(ModelTag("WT", NO_GROUP, "m1").stage_dir(master.workdir, "emmd"))
    emmd.mkdir()
    immutable(emmd)  # the .mdp of m1's EMMD cannot be written
    result = CliRunner().invoke(app, ["run", "--until", "emmd", "--interval", "0.2", "--timeout", "120",
                                      "--project", str(project.root)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    stages = _stages(Session)
    assert stages[("m1", "prep")] == stages[("m2", "prep")] == (StageState.DONE, None)
    assert stages[("m1", "emmd")] == (StageState.HELD, f"emmd on the master alpha: {emmd / '.emmd.mdp.tmp'}: "
                                                        "Operation not permitted")
    # the other model went on to grompp (whose own error, on this one-atom system, holds it in turn)
    state, reason = stages[("m2", "emmd")]
    assert state == StageState.HELD and reason.startswith("grompp: ")
    held = [ln for ln in result.output.splitlines() if ln.startswith("  held ")]
    assert held[0] == (f"  held WT/None/m1 emmd: emmd on the master alpha: {emmd / '.emmd.mdp.tmp'}: Operation not "
                       "permitted (`mpflow release` once it is fixed)")
