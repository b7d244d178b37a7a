"""Fixtures for the models tests: built models (made once per session), and a project whose two
clusters are reached from this machine, each with its own workdir under the test's tmp_path.

The clusters are declared the way the dev clusters are (a connection file named by
``$MPFLOW_DEVCLUSTER_FILE``), so the commands find them through the project like real ones and
use the real local transport; no Slurm is needed to create folders. The tree on the real dev
clusters (one local, one over SSH) is tested under tests/integration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from local_clusters import use_local_clusters
from mpflow.analysis.structure.helix_builder import Packing, build_models
from typer.testing import CliRunner

from mpflow.clusters.settings import ClusterSettings, dev_cluster_settings
from mpflow.project.file import Project, init_project
from mpflow.project.mutants import GPA_G83I, GPA_WT
from mpflow.store.database import open_database


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """24 GpA-WT models (4 packings × 6, with noise) and one odd model (crossing +5°, 15 Å)."""
    folder = tmp_path_factory.mktemp("built")
    models = build_models(GPA_WT, k=24, seed=3, out_dir=folder / "set")
    odd = build_models(GPA_WT, k=1, seed=9, out_dir=folder / "odd", name_prefix="odd",
                       packings=[Packing("odd", 5.0, 15.0)])
    return models, odd[0]


@pytest.fixture
def local_clusters(tmp_path, monkeypatch) -> list[ClusterSettings]:
    """Two local clusters, alpha (the master) and beta, with workdirs under ``tmp_path``."""
    use_local_clusters(tmp_path, monkeypatch)
    return dev_cluster_settings()


@dataclass
class Proj:
    project: Project
    Session: object
    clusters: list[ClusterSettings]

    @property
    def root(self) -> Path:
        return self.project.root

    def cli(self, *args: str):
        from mpflow.cli import app

        return CliRunner().invoke(app, [*map(str, args), "--project", str(self.root)])

    def model_dir(self, cluster: int, mutant: str, group: str, name: str) -> Path:
        return Path(self.clusters[cluster].workdir) / mutant / group / name


@pytest.fixture
def proj(tmp_path, local_clusters) -> Proj:
    """A project on the two local clusters with the mutants GpA-WT and G83I."""
    project = init_project(tmp_path / "project", dev=True)
    project.add_mutant(GPA_WT)
    project.add_mutant(GPA_G83I)
    # the project's clusters: each dev cluster's workdir plus the project's own folder
    return Proj(project, open_database(project.database_url), project.cluster_settings())
