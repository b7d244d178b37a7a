"""The GROMACS stage kind (EMMD, PRMD, URMD): grompp on the master, ``mdrun`` on every cluster.

- **prepare** (a batch of model-stages whose previous stage is done): ``grompp`` on the master from
  the previous stage's final coordinates, which are on the master whichever cluster produced them
  (the manager brought them back); the ``.tpr`` and its checksum file go to every other cluster by
  verified, atomic transfer. A grompp failure holds the model with GROMACS's own error line; a
  cluster that cannot be reached now gets its copy when the job there asks for it (below).
- **job**: ``gmx mdrun -deffnm <stage>``, with ``-cpi`` only when it continues a job that hit its
  time limit. Before mdrun the job checks the ``.tpr`` against its checksum file and exits with
  :data:`INPUTS_MISSING_EXIT` when it is missing or differs: the manager then re-sends the inputs
  (not counted as a failure), so a job never runs on stale or half-transferred files.
- **collect**: the winner's stage folder comes back to the master, verified.

The master's workdir must be on this machine (a ``local`` master cluster): grompp and the
preparation run where mpflow runs, as in the original design's master/slave model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from pathlib import Path

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import TransportError
from mpflow.errors import file_problem
from mpflow.slurm.jobscript import INPUTS_MISSING_EXIT
from mpflow.stages.kinds import StageWork, collect_from_winners
from mpflow.stages.mdp import MdpError, StageError, grompp_stage, stage_paths
from mpflow.stages.spec import StageSpec
from mpflow.store.records import StageRecord
from mpflow.tags import ModelTag
from mpflow.transfers.engine import TransferError, transfer_files

log = logging.getLogger(__name__)



def checksum_name(stage: str) -> str:
    return f"{stage}.tpr.sha256"


def write_checksum(tpr: Path) -> Path:
    """``<stage>.tpr.sha256`` beside the .tpr, in ``sha256sum -c`` format."""
    digest = hashlib.sha256(tpr.read_bytes()).hexdigest()
    path = tpr.with_name(checksum_name(tpr.stem))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{digest}  {tpr.name}\n")
    tmp.replace(path)
    return path


def inputs_digest(model_dir: Path, spec: StageSpec, stage: str) -> str:
    """What the stage's .tpr is made from: its settings and the bytes of the previous stage's final
    coordinates, the topology and the index. A .tpr made from other inputs is made again."""
    paths = stage_paths(model_dir, stage, spec.after)
    h = hashlib.sha256(json.dumps([spec.mdp, spec.nsteps, spec.mdp_overrides], sort_keys=True).encode())
    for name in ("start", "top", "ndx"):
        h.update(paths[name].read_bytes() if paths[name].is_file() else b"missing")
    return h.hexdigest()


def inputs_check_line(stage: str) -> str:
    """The job-script line that refuses to run on a missing or stale .tpr."""
    return (f"sha256sum --check --quiet {checksum_name(stage)} || "
            f"{{ echo 'mpflow: {stage}.tpr is missing or differs from the master copy' >&2; "
            f"exit {INPUTS_MISSING_EXIT}; }}")


class GromacsStage:
    """EMMD, PRMD, URMD: ``grompp`` on the master, the ``.tpr`` to every cluster, ``mdrun`` as the job."""

    managed = True

    def prepare(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        master = work.master
        if master.kind != "local":
            return {st.id: f"the master cluster {master.name} must be local: grompp runs on the master"
                    for st in items}
        out: dict[int, str | None] = {}
        ready: list[tuple[StageRecord, ModelTag, Path]] = []
        search = [work.templates]
        for st in items:
            tag = ModelTag(st.mutant, st.group, st.name)
            model_dir = Path(tag.model_dir(master.workdir))
            tpr = model_dir / st.stage / f"{st.stage}.tpr"
            checksum = tpr.with_name(checksum_name(st.stage))
            made_from = tpr.with_name(f"{st.stage}.tpr.inputs")
            try:
                digest = inputs_digest(model_dir, spec, st.stage)
                # grompp again unless this .tpr was made from exactly these inputs (inputs sent again
                # after a job found them missing are the same file, so both clusters run the same run)
                if not (tpr.is_file() and checksum.is_file() and made_from.is_file()
                        and made_from.read_text() == digest):
                    grompp_stage(model_dir, st.stage, spec.nsteps, template=spec.mdp, after=spec.after,
                                 overrides=spec.mdp_overrides, search_dirs=search)
                    write_checksum(tpr)
                    made_from.write_text(digest)
            except (StageError, MdpError) as exc:
                out[st.id] = getattr(exc, "reason", None) or str(exc).splitlines()[0]
                continue
            except OSError as exc:  # the master's folder cannot be written (permissions, a full or read-only disk)
                out[st.id] = file_problem(exc, f"{st.stage} on the master {master.name}")
                continue
            ready.append((st, tag, tpr))
        for cluster in work.clusters[1:]:
            if not ready:
                break
            pairs = [(str(f), posixpath.join(tag.stage_dir(cluster.workdir, st.stage), f.name))
                     for st, tag, tpr in ready for f in (tpr, tpr.with_name(checksum_name(st.stage)))]
            try:  # one batch per cluster: one hash command on each side for every model's inputs
                transfer_files(work.connections.transport(master.name),
                               work.connections.transport(cluster.name), pairs)
            except (TransferError, TransportError) as exc:  # unreachable included: nothing waits for it
                # The job on that cluster finds its inputs missing and asks for them again.
                log.warning("inputs of %s not sent to %s now: %s", spec.mdp, cluster.name, str(exc).splitlines()[0])
        for st, _, _ in ready:
            out[st.id] = None
        return out

    def job_options(self, spec: StageSpec, item: StageRecord, cluster: ClusterSettings) -> dict:
        return {"mdrun": True, "commands": [inputs_check_line(item.stage)]}

    def collect(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        return collect_from_winners(work, items)
