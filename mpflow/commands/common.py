"""Helpers shared by the command modules: one-line errors, the project, its Prefect server, the dev clusters."""

from __future__ import annotations

import getpass

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import NoReturn

import typer
from pydantic import ValidationError

from mpflow.clusters.devcluster import DevClusterNotFound
from mpflow.clusters.settings import dev_cluster_settings, validation_message
from mpflow.deployments.processes import quiet_prefect_environment, running_server
from mpflow.project.file import PROJECT_ENV, PROJECT_FILE, Project, ProjectError
from mpflow.redaction import redact
from mpflow.store.database import DatabaseError, open_database


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (1: failed, 2: bad input). A URL's
    password in the message is masked (the last line of defence: messages mask it where they are made)."""
    typer.echo(f"error: {redact(message)}", err=True)
    raise typer.Exit(code)


def dev_clusters_or_exit():
    """The dev clusters' settings, or a one-line error and exit code 2 when they are not up."""
    try:
        return dev_cluster_settings()
    except DevClusterNotFound as exc:
        fail(str(exc), 2)
    except ValidationError as exc:
        fail(f"dev-cluster connection file: {validation_message(exc)}", 2)


PROJECT_OPTION_HELP = "Project folder (default: $MPFLOW_PROJECT, else the current directory)."


def open_project(folder):
    """The project and a session factory on its database, or a one-line error (exit 2)."""
    try:
        project = Project.locate(folder, cluster_source=cluster_block)
        use_project_server(project.root)
        return project, open_database(project.database_url)
    except (ProjectError, DatabaseError) as exc:
        fail(str(exc), 2)


def check_selection(project, *, mutants=(), stage: str | None = None) -> None:
    """A one-line error (exit 2) for a ``--mutant`` or ``--stage`` the project does not have."""
    unknown = [m for m in mutants or () if m not in project.config.mutants]
    if unknown:
        fail(f"--mutant: no mutant {unknown[0]!r} in {project.file} (mutants: "
             f"{', '.join(project.config.mutants) or 'none yet'})", 2)
    if stage is not None and stage not in project.config.stages:
        fail(f"no stage {stage!r} in {project.file} (stages: {', '.join(project.config.stage_order())})", 2)


def cluster_block(name: str):
    """A cluster's settings from its Prefect block (for projects whose ``[clusters] source`` is
    ``"blocks"``)."""
    # heavy: Prefect takes ~2 s to import, and only projects whose clusters are blocks need it
    from mpflow.blocks.cluster import load_cluster_block

    return load_cluster_block(name)


def project_clusters(project):
    """The project's cluster settings (master first), or a one-line error (exit 2)."""
    try:
        return project.cluster_settings()
    except ProjectError as exc:
        fail(str(exc), 2)


_api_url_set_here: str | None = None  # the PREFECT_API_URL this process set (a later --project may change it)
_command_scope: ContextVar[ExitStack | None] = ContextVar("mpflow_command_scope", default=None)


@contextmanager
def command_scope() -> Iterator[None]:
    """One command's run: what :func:`use_project_server` changes (the environment, Prefect's
    settings) is put back when it ends, so several commands can run in one process (tests)."""
    with ExitStack() as stack:
        token = _command_scope.set(stack)
        try:
            yield
        finally:
            _command_scope.reset(token)


def use_project_server(root: Path | str | None = None) -> str | None:
    """Point Prefect at the project's running server (``mpflow server start``); its API URL, or None.

    ``root`` defaults to ``$MPFLOW_PROJECT``, else the current directory; no project there is no error
    (most commands need no server). A ``PREFECT_API_URL`` the user set, in the environment or in the
    active Prefect settings, wins. Also turns Prefect's analytics off unless the user turned them on.
    Inside a :func:`command_scope` the change lasts until the command ends.
    """
    global _api_url_set_here
    quiet_prefect_environment()
    user_url = os.environ.get("PREFECT_API_URL")
    if user_url and user_url != _api_url_set_here:
        return user_url
    if "prefect" in sys.modules and not user_url:
        # heavy: Prefect is only asked when something already imported it (importing it costs ~2 s)
        from prefect.settings import PREFECT_API_URL

        if PREFECT_API_URL.value():
            return PREFECT_API_URL.value()
    root = Path(root or os.environ.get(PROJECT_ENV) or Path.cwd())
    state = running_server(root) if (root / PROJECT_FILE).is_file() else None
    if state is None:
        if user_url:  # set here for another project (the current directory's): not this one's server
            _restore_api_url(None)
        return None
    scope = _command_scope.get()
    if scope is not None:
        scope.callback(_restore_api_url, user_url)
    os.environ["PREFECT_API_URL"] = _api_url_set_here = state.api_url
    if "prefect" in sys.modules:
        # Prefect read its settings when it was imported: override them for this command's run
        # (heavy: imported here only because it is loaded already).
        from prefect.settings import PREFECT_API_URL, temporary_settings

        override = temporary_settings({PREFECT_API_URL: state.api_url})
        if scope is not None:
            scope.enter_context(override)
        else:
            override.__enter__()  # no command around this call: for the rest of the process
    return state.api_url


def user_api_url() -> str | None:
    """The ``PREFECT_API_URL`` the user set in the environment (not one mpflow set for its project's
    own server), if any."""
    url = os.environ.get("PREFECT_API_URL")
    return url if url and url != _api_url_set_here else None


def _restore_api_url(old: str | None) -> None:
    global _api_url_set_here
    _api_url_set_here = None
    if old is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = old


def terminal_prompter(hop: str, instructions: str, prompts) -> list[str]:
    """A site's keyboard-interactive questions asked at this terminal (answers hidden unless the site asks
    for echo); for ``mpflow cluster login`` and ``mpflow manage --login``."""
    typer.echo(f"{hop} asks:" + (f" {instructions}" if instructions else ""))
    return [input(question) if echo else getpass.getpass(question) for question, echo in prompts]
