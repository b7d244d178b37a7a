"""The grompp batch (mpflow.stages.tpr) with this machine's GROMACS: made once per set of inputs, made
again when an input changes, one line for what cannot be made; and the same batch through
`python -m mpflow.cluster_side grompp`, as a remote master runs it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mpflow.stages.tpr import batch_item, checksum_name, grompp_batch

MDP = """integrator = steep
nsteps = {nsteps}
emtol = 1000
cutoff-scheme = Verlet
coulombtype = PME
rcoulomb = 0.9
rvdw = 0.9
"""


def _gmx(folder: Path, *args: str, stdin: str | None = None) -> None:
    res = subprocess.run(["gmx", "-quiet", *args], cwd=folder, capture_output=True, text=True, input=stdin)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A model folder with prep/prep.gro, topol.top and index.ndx: a small water box."""
    model = tmp_path_factory.mktemp("tpr") / "m"
    prep = model / "prep"
    prep.mkdir(parents=True)
    _gmx(prep, "solvate", "-cs", "spc216.gro", "-box", "2.2", "2.2", "2.2", "-o", "prep.gro")
    waters = (len((prep / "prep.gro").read_text().splitlines()) - 3) // 3
    (prep / "topol.top").write_text('#include "oplsaa.ff/forcefield.itp"\n#include "oplsaa.ff/spce.itp"\n'
                                    f"[ system ]\nwater\n[ molecules ]\nSOL {waters}\n")
    _gmx(prep, "make_ndx", "-f", "prep.gro", "-o", "index.ndx", stdin="q\n")
    return model


def test_made_once_per_inputs_and_again_when_one_changes(model, tmp_path):
    item = batch_item(key="1", model_dir=str(model), stage="emmd", after="prep", mdp_text=MDP.format(nsteps=10))
    assert grompp_batch([item]) == {"1": {"made": True}}
    tpr = model / "emmd" / "emmd.tpr"
    line = (tpr.with_name(checksum_name("emmd"))).read_text()
    assert line == f"{hashlib.sha256(tpr.read_bytes()).hexdigest()}  emmd.tpr\n"
    assert grompp_batch([item]) == {"1": {"made": False}}  # the same inputs: the same file
    changed = dict(item, mdp=MDP.format(nsteps=20))
    assert grompp_batch([changed]) == {"1": {"made": True}}
    assert "nsteps = 20" in (model / "emmd" / "emmd.mdp").read_text()


def test_a_missing_input_and_a_grompp_error_are_one_line_each_and_the_rest_is_made(model, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    items = [batch_item(key="missing", model_dir=str(empty), stage="emmd", after="prep", mdp_text=MDP.format(nsteps=5)),
             batch_item(key="bad", model_dir=str(model), stage="bad", after="prep",
                        mdp_text=MDP.format(nsteps=5).replace("steep", "nosuchintegrator")),
             batch_item(key="good", model_dir=str(model), stage="prmd", after="prep", mdp_text=MDP.format(nsteps=5))]
    out = grompp_batch(items)
    assert out["missing"] == {"reason": f"missing input {empty}/prep/prep.gro"}
    assert out["bad"]["reason"].startswith("grompp: ") and "nosuchintegrator" in out["bad"]["reason"]
    assert "\n" not in out["bad"]["reason"]
    assert out["good"] == {"made": True}


def test_the_cluster_side_command_answers_the_same_batch(model):
    items = [batch_item(key="7", model_dir=str(model), stage="urmd", after="prep", mdp_text=MDP.format(nsteps=5))]
    res = subprocess.run([sys.executable, "-m", "mpflow.cluster_side", "grompp"], input=json.dumps({"items": items}),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.splitlines()[-1]) == {"results": {"7": {"made": True}}}
    res = subprocess.run([sys.executable, "-m", "mpflow.cluster_side", "grompp"], input="{}", capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.strip() == "mpflow.cluster_side: request lacks items"
