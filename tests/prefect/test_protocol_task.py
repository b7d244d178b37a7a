"""The Prefect task: prefect-shell runs the steps, GROMACS' output reaches the run's logs, a failing
model is held with GROMACS' line while the others go on."""

from __future__ import annotations

import asyncio
import time

from md_helpers import gpa_dimer_pdb

SETUP_ONLY = """
name = "setup-only"
[params]
gmx = "gmx"
forcefield = "charmm27"
water = "tip3p"
[[steps]]
name = "setup"
shell = "setup.sh.j2"
inputs = ["protein.pdb"]
outputs = ["protein.gro", "protein.top"]
"""

BAD_PDB = "ATOM      1  N   XYZ A   1       0.000   0.000   0.000  1.00  0.00           N\nEND\n"


async def _logs(flow_run_id) -> list[str]:
    """Every log message of the flow run (paged: the API returns at most 200 per call)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    messages: list[str] = []
    async with get_client() as client:
        while True:
            page = await client.read_logs(
                LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200,
                offset=len(messages))
            messages += [log.message for log in page]
            if len(page) < 200:
                return messages


def _wait_for_logs(flow_run_id, wanted: list[str], timeout_s: float = 30.0) -> list[str]:
    """The run's logs once every ``wanted`` line arrived (logs are shipped in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        messages = asyncio.run(_logs(flow_run_id))
        if all(any(w in m for m in messages) for w in wanted) or time.monotonic() > deadline:
            return messages
        time.sleep(0.2)


def test_batch_holds_the_failing_model_and_streams_gromacs_output(prefect_api, tmp_path):
    from mpflow.tasks.protocols import run_protocol_batch
    from prefect import flow
    from prefect.context import get_run_context

    protocols = tmp_path / "protocols"
    protocols.mkdir()
    (protocols / "setup-only.toml").write_text(SETUP_ONLY)
    good, bad, empty = (tmp_path / n for n in ("good", "bad", "empty"))
    for d in (good, bad, empty):
        d.mkdir()
    gpa_dimer_pdb(good / "protein.pdb")
    (bad / "protein.pdb").write_text(BAD_PDB)

    @flow
    def prepare_batch():
        results = run_protocol_batch("setup-only", [str(good), str(bad), str(empty)],
                                     search_dirs=[str(protocols)])
        return results, get_run_context().flow_run.id

    results, flow_run_id = prepare_batch()
    assert [(r.workdir, r.held_reason) for r in results] == [
        (str(good), None),
        (str(bad), "step setup: Residue 'XYZ' not found in residue topology database"),
        (str(empty), f"step setup: missing input {empty / 'protein.pdb'}"),
    ]
    assert [(s.name, s.status) for s in results[0].steps] == [("setup", "ran")]
    assert (good / "protein.gro").is_file() and (good / "protein.top").is_file()
    wanted = ["You have successfully generated a topology from: protein.pdb.",
              "Residue 'XYZ' not found in residue topology database"]
    messages = _wait_for_logs(flow_run_id, wanted)
    # pdb2gmx's own output went to the flow run's logs through ShellOperation
    assert [w for w in wanted if not any(w in m for m in messages)] == []

def test_engine_runs_without_prefect(tmp_path):
    """The same protocol through the plain subprocess runner (CLI and tests)."""
    from mpflow.stages.protocols import run_protocol

    protocols = tmp_path / "protocols"
    protocols.mkdir()
    (protocols / "setup-only.toml").write_text(SETUP_ONLY)
    gpa_dimer_pdb(tmp_path / "protein.pdb")
    outcomes = run_protocol("setup-only", tmp_path, search_dirs=[protocols])
    assert [(o.name, o.status) for o in outcomes] == [("setup", "ran")]
    top = (tmp_path / "protein.top").read_text()
    assert "Protein_chain_A     1" in top and "Protein_chain_B     1" in top
