"""mpflow's cluster-side entry point: what a job (or one remote command) runs on a cluster.

``python -m mpflow.cluster_side COMMAND [--request FILE]`` reads one JSON request (from ``FILE`` in the
job's folder, else stdin) and prints one JSON answer. ``answer(command, request)`` is the plain function
behind it, so a cluster that runs on the orchestrator's own interpreter is answered in-process.

Commands:

- ``version``: this mpflow's version and build digest (``mpflow.build``: what the orchestrator compares
  with its own before it submits a job that runs this), the interpreter, and the GROMACS on the PATH;
- ``protocol``: run a preparation protocol's steps in a folder (``mpflow.stages.protocols``). A step that
  refuses the model's input (a bad structure: GROMACS's own line) or a protocol that cannot run writes
  that one line to the reason file and exits with :data:`INPUT_REFUSED_EXIT`, so the manager holds the
  model-stage with the line instead of retrying it; any other failure (killed, a crash) is an ordinary
  failed job, retried within its budget;
- ``grompp``: make the ``.tpr`` of a batch of model-stages (``{"items": [...], "master": name}``,
  :func:`mpflow.stages.tpr.grompp_batch`): the tick's grompps on a remote master, in one command;
- ``analyse``: the per-frame analysis of a manifest whose files are on this cluster (``mpflow analyse``
  for a project whose master is remote: ``mpflow.models.analysis_job`` submits it as a job on the
  master), into an output folder here; progress lines go to stderr, the summary (counts, paths here)
  to ``summary_file`` and stdout. A missing file or a failing analysis is one line and exit 1.

Only the standard library and ``mpflow.stages`` are imported at the top: this runs in the cluster-side
virtual environment, which has only what the cluster-side steps need; ``analyse`` loads the science
(``mpflow.analysis``) when it runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Mapping

from mpflow.build import build_digest
from mpflow.slurm.job_files import INPUT_REFUSED_EXIT
from mpflow.stages.protocols import ProtocolError, run_protocol
from mpflow.stages.tpr import grompp_batch

COMMANDS = ("version", "protocol", "grompp", "analyse")
#: exit code of an analysis that could not run or failed (a missing file: one line on stderr)
ANALYSIS_FAILED_EXIT = 1


class RequestError(ValueError):
    """A request that is not what its command takes (one line)."""


class AnalysisFailed(RuntimeError):
    """The analysis could not run (a missing file, bad settings) or failed (one line)."""


class InputRefused(RuntimeError):
    """A protocol refused its input: ``reason`` is the one line the model-stage is held with."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def mpflow_version() -> str:
    try:
        return version("mpflow")
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "0+unknown"


def _require(request: Mapping, *keys: str) -> None:
    missing = [k for k in keys if k not in request]
    if missing:
        raise RequestError(f"request lacks {', '.join(missing)}")


def run_protocol_request(request: Mapping) -> dict:
    """Run the protocol of ``request`` in its folder; raise :class:`InputRefused` with the step's line."""
    _require(request, "protocol", "workdir", "params")
    workdir = Path(request["workdir"])
    try:
        outcomes = run_protocol(request["protocol"], workdir, request["params"],
                                search_dirs=[Path(d) for d in request.get("search_dirs", [])],
                                log=lambda line: print(line, file=sys.stderr, flush=True))
    except ProtocolError as exc:
        raise InputRefused(exc.reason) from exc
    return {"steps": [{"step": o.name, "status": o.status, "seconds": o.seconds} for o in outcomes]}


def run_analysis_request(request: Mapping) -> dict:
    """Run the analysis of ``request`` (sources, out_dir, settings, executor, n_workers; optional
    summary_file) here; raise :class:`AnalysisFailed` with one line when it cannot run or fails."""
    _require(request, "sources", "out_dir")
    # the science (MDAnalysis, pandas, pydantic, scikit-learn, ...) takes seconds to import and is not
    # needed by `version` or `protocol`: loaded only for this command
    from mpflow.analysis.run import (
        AnalysisSettings,
        FrameSource,
        run_analysis,
        settings_error,
    )

    try:
        sources = [FrameSource.model_validate(s) for s in request["sources"]]
        settings = AnalysisSettings(**(request.get("settings") or {}))
    except ValueError as exc:  # pydantic's ValidationError: the first problem in one line
        raise RequestError(settings_error(exc) if hasattr(exc, "errors") else str(exc)) from None
    executor = request.get("executor", "threads")
    if executor not in ("dask-local", "threads"):
        raise RequestError(f"executor {executor!r}: expected dask-local or threads")
    def say(line: str) -> None:  # the job's log
        print(line, file=sys.stderr, flush=True)

    try:
        with warnings.catch_warnings():  # library warnings (MDAnalysis readers, ...) are not the user's business
            warnings.simplefilter("ignore")
            summary = run_analysis(sources, request["out_dir"], settings, executor=executor,
                                   n_workers=int(request.get("n_workers", 1)), progress=say)
    except (ValueError, OSError, EOFError, RuntimeError) as exc:  # a missing or bad file, a failing engine
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
        raise AnalysisFailed(lines[0] if lines else type(exc).__name__) from None
    if request.get("summary_file"):
        target = Path(request["summary_file"])
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps(summary))
        tmp.replace(target)
    return summary


def answer(command: str, request: Mapping) -> dict:
    """The answer to one cluster-side command (see the module doc)."""
    if command == "version":
        return {"version": mpflow_version(), "build": build_digest(), "python": sys.executable,
                "gromacs": shutil.which("gmx")}
    if command == "protocol":
        return run_protocol_request(request)
    if command == "grompp":
        _require(request, "items")
        return {"results": grompp_batch(request["items"], master=str(request.get("master", "")))}
    if command == "analyse":
        return run_analysis_request(request)
    raise RequestError(f"unknown command {command!r}; valid: {', '.join(COMMANDS)}")


def _write_reason(path: str | None, line: str) -> None:
    if not path:
        return
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(line.replace("\n", " ").strip() + "\n")
    tmp.replace(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mpflow.cluster_side")
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--request", help="JSON request file (default: stdin)")
    args = parser.parse_args(argv)
    try:
        text = Path(args.request).read_text() if args.request else (sys.stdin.read() if args.command != "version"
                                                                      else "{}")
        request = json.loads(text or "{}")
    except (OSError, ValueError) as exc:
        print(f"mpflow.cluster_side: cannot read the request: {exc}", file=sys.stderr)
        return 2
    try:
        result = answer(args.command, request)
    except InputRefused as exc:
        _write_reason(request.get("reason_file"), exc.reason)
        print(f"mpflow.cluster_side: input refused: {exc.reason}", file=sys.stderr)
        return INPUT_REFUSED_EXIT
    except RequestError as exc:
        print(f"mpflow.cluster_side: {exc}", file=sys.stderr)
        return 2
    except AnalysisFailed as exc:
        print(f"mpflow.cluster_side: analysis failed: {exc}", file=sys.stderr)
        return ANALYSIS_FAILED_EXIT
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
