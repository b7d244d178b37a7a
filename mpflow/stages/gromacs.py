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

The master may be this machine or a cluster reached over SSH: the tick's grompps are one batch
(:mod:`mpflow.stages.tpr`), run in-process for a master on this machine and as one cluster-side command
(``python -m mpflow.cluster_side grompp``, after the master's preamble) for a remote one, so the
orchestrator needs neither GROMACS nor the master's files.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Mapping, Sequence

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.side import ClusterSideError, require_site, runs_here, side_argv
from mpflow.clusters.transport import Transport, TransportError
from mpflow.slurm.jobscript import INPUTS_MISSING_EXIT
from mpflow.stages.kinds import StageWork, collect_from_winners
from mpflow.stages.mdp import MdpError, render_mdp
from mpflow.stages.spec import StageSpec
from mpflow.stages.tpr import batch_item, checksum_name, grompp_batch
from mpflow.store.records import StageRecord
from mpflow.tags import ModelTag
from mpflow.transfers.engine import TransferError, transfer_files

log = logging.getLogger(__name__)

#: how long one grompp of a batch may take on a remote master, seconds (a membrane system: ~1 s)
GROMPP_TIMEOUT_PER_ITEM_S = 60.0


def grompp_on_master(transport: Transport, master: ClusterSettings, items: Sequence[Mapping]) -> dict[str, dict]:
    """The batch's answers (:func:`mpflow.stages.tpr.grompp_batch`), made where the master's files are.

    A master on this machine without an environment of its own: in this process. Else one
    cluster-side command for the whole batch; a cluster-side mpflow that is missing, of another build
    or that fails raises :class:`ClusterSideError` (one line): the items wait, nothing is held."""
    if not items:
        return {}
    if runs_here(master):
        return grompp_batch(items, master=master.name)
    require_site(transport, master)
    res = transport.run(side_argv(master, "grompp"), stdin=json.dumps({"items": list(items), "master": master.name}),
                        timeout=master.command_timeout_s + GROMPP_TIMEOUT_PER_ITEM_S * len(items))
    lines = [ln for ln in (res.stdout or "").strip().splitlines() if ln.strip()]
    if res.returncode != 0 or not lines:
        said = [ln for ln in (res.stderr or res.stdout or "").strip().splitlines() if ln.strip()]
        raise ClusterSideError(f"grompp on the master {master.name} failed (exit {res.returncode}): "
                               f"{said[-1] if said else 'no output'}")
    try:
        return json.loads(lines[-1])["results"]
    except (ValueError, KeyError, TypeError):
        raise ClusterSideError(f"grompp on the master {master.name}: not an answer: {lines[-1][:200]!r}") from None


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
        try:  # the project's templates are here: the .mdp is rendered here, once for the batch
            mdp_text = render_mdp(spec.mdp, spec.nsteps, overrides=spec.mdp_overrides, search_dirs=[work.templates])
        except MdpError as exc:
            return {st.id: str(exc).splitlines()[0] for st in items}
        tags = {st.id: ModelTag(st.mutant, st.group, st.name) for st in items}
        batch = [batch_item(key=str(st.id), model_dir=tags[st.id].model_dir(master.workdir), stage=st.stage,
                            after=spec.after, mdp_text=mdp_text) for st in items]
        results = grompp_on_master(work.connections.transport(master.name), master, batch)
        out: dict[int, str | None] = {}
        ready: list[StageRecord] = []
        for st in items:
            answer = results.get(str(st.id), {"reason": f"{st.stage}: no answer from the master {master.name}"})
            if "reason" in answer:
                out[st.id] = answer["reason"]
            else:
                ready.append(st)
        for cluster in work.clusters[1:]:
            if not ready:
                break
            pairs = [(posixpath.join(tags[st.id].stage_dir(master.workdir, st.stage), name),
                      posixpath.join(tags[st.id].stage_dir(cluster.workdir, st.stage), name))
                     for st in ready for name in (f"{st.stage}.tpr", checksum_name(st.stage))]
            try:  # one batch per cluster: one hash command on each side for every model's inputs
                transfer_files(work.connections.transport(master.name),
                               work.connections.transport(cluster.name), pairs)
            except (TransferError, TransportError) as exc:  # unreachable included: nothing waits for it
                # The job on that cluster finds its inputs missing and asks for them again.
                log.warning("inputs of %s not sent to %s now: %s", spec.mdp, cluster.name, str(exc).splitlines()[0])
        for st in ready:
            out[st.id] = None
        return out

    def job_options(self, spec: StageSpec, item: StageRecord, cluster: ClusterSettings) -> dict:
        return {"mdrun": True, "commands": [inputs_check_line(item.stage)]}

    def collect(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        return collect_from_winners(work, items)
