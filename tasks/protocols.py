"""Prefect task running a protocol (e.g. ``prep``) for a batch of models.

Thin: the work is :func:`mpflow.stages.protocols.run_protocol`; here each shell script runs through
prefect-shell's ``ShellOperation`` so GROMACS' output is streamed to the flow run's logs, and a
model whose protocol fails is reported *held* with its one-line reason while the others go on.
One task run per batch (a task run costs ~0.2 s on 2 cores), never one per model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task
from prefect_shell import ShellOperation

from mpflow.stages.gmx import CommandResult
from mpflow.stages.protocols import (
    ProtocolDefinitionError,
    ProtocolError,
    StepOutcome,
    run_protocol,
)


def shell_operation_runner(script: str, cwd: Path, env: Mapping[str, str]) -> CommandResult:
    """A :data:`mpflow.stages.gmx.ShellRunner` on prefect-shell: output streamed to the run's logs.

    The script merges stderr into stdout itself (``exec 2>&1``), since ShellOperation keeps only
    stdout in its result.
    """
    with ShellOperation(commands=[script], working_dir=Path(cwd), env=dict(env),
                        stream_output=True, log_prefix=None) as operation:
        process = operation.trigger()
        try:
            process.wait_for_completion()
        except RuntimeError:  # non-zero exit: the return code and output tell the rest
            pass
        return CommandResult(process.return_code if process.return_code is not None else -1,
                             "\n".join(process.fetch_result()))


@dataclass(frozen=True)
class ProtocolResult:
    """One model's outcome: ``held_reason`` is None when the protocol finished."""

    workdir: str
    steps: tuple[StepOutcome, ...]
    held_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.held_reason is None


@task(name="run-protocol", task_run_name="{protocol}")
def run_protocol_batch(protocol: str, workdirs: Sequence[str], *,
                       params: Mapping[str, object] | None = None,
                       search_dirs: Sequence[str] = ()) -> list[ProtocolResult]:
    """Run ``protocol`` in each of ``workdirs`` (e.g. every model's ``prep/``), one after another.

    A failing model (missing input, GROMACS error, membrane build failure) is returned with its
    reason and logged as a warning; the batch goes on.  Definition errors (unknown parameter,
    template) fail the task at the first model, since they would fail every model the same way.
    """
    logger = get_run_logger()
    results = []
    for workdir in workdirs:
        try:
            steps = run_protocol(protocol, workdir, params, runner=shell_operation_runner,
                                 log=logger.info, search_dirs=search_dirs)
        except ProtocolDefinitionError:
            raise
        except ProtocolError as exc:
            logger.warning("%s held: %s", workdir, exc.reason)
            results.append(ProtocolResult(str(workdir), (), exc.reason))
            continue
        results.append(ProtocolResult(str(workdir), tuple(steps)))
    return results
